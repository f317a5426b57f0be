"""payivr's own logging, captured: for tests that read what payivr logs."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from contextlib import contextmanager

import structlog

from payivr.log import configure_logging


@contextmanager
def payivr_log_buffer() -> Iterator[io.StringIO]:
    """payivr's logging as ``payivr serve`` sets it up (DEBUG, JSON lines, the standard
    library's too), written to a buffer; the previous set-up is restored after."""
    saved = structlog.get_config()
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    buffer = io.StringIO()
    configure_logging("DEBUG", json=True, stream=buffer)
    try:
        yield buffer
    finally:
        structlog.configure(**saved)
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
