"""Builders for ARI media URIs, as passed to `channels.play(..., media=[...])`.

A media list is sent as one comma-separated query value, so an item may not contain a comma.
Values such as `digits(...)` can be card related (an expiry read back): they travel only in the
play request's query string, which the client never logs.
"""

from __future__ import annotations


def _item(scheme: str, value: str) -> str:
    if not value or "," in value:
        raise ValueError(f"invalid {scheme}: media value (empty or contains a comma)")
    return f"{scheme}:{value}"


def sound(name: str) -> str:
    """A sound file, without extension, relative to Asterisk's sounds directory."""
    return _item("sound", name)


def number(value: int) -> str:
    """A number said as a whole ("one hundred thirty seven")."""
    return _item("number", str(int(value)))


def digits(value: str) -> str:
    """Digits said one by one."""
    if not value or not all(c.isdigit() or c in "*#" for c in value):
        raise ValueError("invalid digits: media value (only 0-9, * and # allowed)")
    return _item("digits", value)


def characters(value: str) -> str:
    """Letters and digits spelled one by one."""
    return _item("characters", value)


def tone(value: str) -> str:
    """A tone, by indication name (e.g. ``ring``) or tone string."""
    return _item("tone", value)


def recording(name: str) -> str:
    """A stored recording."""
    return _item("recording", name)
