"""JSON from outside (console request bodies, provider webhooks), refused when too deep.

``json.loads`` raises ``RecursionError`` (not ``ValueError``) on a document nested a
thousand levels deep, which escaped the handlers as a 500 with a traceback. payivr's
documents are a few levels deep; anything deeper than :data:`MAX_DEPTH` is refused as bad
input with the other malformed bodies.
"""

from __future__ import annotations

import json
from typing import Any

from payivr.core.errors import PayivrError

MAX_DEPTH = 32


class BadJson(PayivrError, ValueError):
    """Not JSON, or nested deeper than payivr reads; the message says which."""


def _depth(document: Any) -> int:
    deepest = 0
    pending = [(document, 1)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, dict | list):
            deepest = max(deepest, depth)
            children = value.values() if isinstance(value, dict) else value
            pending.extend((child, depth + 1) for child in children)
    return deepest


def loads(raw: str | bytes) -> Any:
    """The document in ``raw``; raises :class:`BadJson`."""
    try:
        document = json.loads(raw)
    except RecursionError:
        raise BadJson(f"the JSON is nested more than {MAX_DEPTH} levels deep") from None
    except ValueError:  # UnicodeDecodeError included
        raise BadJson("the body is not valid JSON") from None
    if _depth(document) > MAX_DEPTH:
        raise BadJson(f"the JSON is nested more than {MAX_DEPTH} levels deep")
    return document
