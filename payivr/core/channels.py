"""Asterisk channel names and the endpoints they belong to. Pure: no I/O.

A channel is named after its endpoint plus a suffix Asterisk adds: ``PJSIP/1001-0000002a``,
``Local/agent@ctx-0000000d;1``. Which agent a channel belongs to is decided by its exact
endpoint part, never by a prefix: ``PJSIP/sales`` must not see ``PJSIP/sales-2``'s calls.
"""

from __future__ import annotations

import re

_CHANNEL_SUFFIX = re.compile(r"-[0-9a-f]{8}(;[12])?$")
_LOCAL_OPTIONS = re.compile(r"^(Local/[^/]+)/[a-zA-Z]+$")


def endpoint_of(channel_name: str) -> str:
    """``PJSIP/1001-00000005`` → ``PJSIP/1001``; an endpoint (``PJSIP/desk-7``) stays whole;
    a Local dial string loses its options (``Local/a@ctx/n`` → ``Local/a@ctx``)."""
    return _LOCAL_OPTIONS.sub(r"\1", _CHANNEL_SUFFIX.sub("", channel_name))


def on_endpoint(channel_name: str, endpoint: str) -> bool:
    """True when the channel (or endpoint) ``channel_name`` is ``endpoint``'s, exactly."""
    return endpoint_of(channel_name) == endpoint
