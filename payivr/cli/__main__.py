"""``python -m payivr.cli``: the ``payivr`` command."""

import sys

from payivr.cli import main

sys.exit(main())
