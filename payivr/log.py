"""Logging: structlog everywhere, JSON or console lines, and card numbers masked.

Masking is the second line of defence: no code path logs card data on purpose, but should a
PAN-like number slip into an event (a URL, an exception text), :func:`mask_card_numbers`
replaces it before anything is written, keeping only the last four digits.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog

# 12 to 19 digits written together, or in groups of up to six split by single spaces or dashes
# (as cards are printed: 4-4-4-4, 4-6-5). Longer groups are not a card's: an Asterisk channel
# name such as PJSIP/1001-00000005 is left alone.
_PAN_LIKE = re.compile(r"(?<!\d)(?:\d{12,19}|\d{1,6}(?:[ -]\d{1,6}){1,18})(?!\d)")


# A UUID (payment ids are UUIDs) can hold a run of digits that looks like a card number split
# by dashes; it is never one, and masking it would corrupt the ids operators search logs for.
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def _mask_run(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group(0))
    if not 12 <= len(digits) <= 19:
        return match.group(0)
    return f"[card …{digits[-4:]}]"


def mask_text(text: str) -> str:
    """Mask every run of 12-19 digits (Luhn-valid or not: a mistyped card is still a card's
    digits), except inside UUIDs."""
    masked: list[str] = []
    position = 0
    for uuid in _UUID.finditer(text):
        masked.append(_PAN_LIKE.sub(_mask_run, text[position : uuid.start()]))
        masked.append(uuid.group(0))
        position = uuid.end()
    masked.append(_PAN_LIKE.sub(_mask_run, text[position:]))
    return "".join(masked)


def _mask_value(value: object) -> object:
    if value is None or isinstance(value, bool | float):
        return value
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, int):
        return mask_text(str(value)) if len(str(abs(value))) >= 12 else value
    if isinstance(value, dict):
        return {_mask_value(key): _mask_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_mask_value(item) for item in value]
    # Anything else (an exception, bytes, an object) is rendered through its repr: mask that.
    shown = repr(value)
    masked = mask_text(shown)
    return masked if masked != shown else value


def mask_card_numbers(
    _logger: object, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: mask PAN-like numbers in every key and value of the event."""
    for key, value in list(event_dict.items()):
        masked_key = mask_text(key)
        if masked_key != key:
            del event_dict[key]
        event_dict[masked_key] = _mask_value(value)
    return event_dict


def _mask_rendered(_logger: object, _method: str, rendered: Any) -> str:
    """Last processor: mask the line as it will be written (whatever the renderer made of
    reprs and keys), so nothing reaches the output unmasked."""
    return mask_text(str(rendered))


class _MaskingFilter(logging.Filter):
    """Masks PAN-like numbers in records of plain ``logging`` users (aiohttp, psycopg)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = mask_text(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            # The formatter would add the traceback (with the exception's text) unmasked.
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_text(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_text(record.stack_info)
        return True


def configure_logging(
    level: str = "INFO",
    json: bool = True,
    stream: TextIO | None = None,
    *,
    once: bool = False,
) -> None:
    """Set up structlog and the standard library's logging to write one line per event.

    ``once``: this configuration stays for the life of the process (``payivr serve``): each
    module's logger is assembled at its first use and kept, so a call filtered out by the
    level costs next to nothing (otherwise every call assembles a logger, as a later
    ``configure_logging`` or ``structlog.testing.capture_logs`` must be obeyed)."""
    output = stream or sys.stderr
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        raise ValueError(f"log level {level!r} is not one of DEBUG, INFO, WARNING, ERROR")
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    )
    processors: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        mask_card_numbers,
        renderer,
        _mask_rendered,
    ]
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(output),
        cache_logger_on_first_use=once,
    )
    handler = logging.StreamHandler(output)
    handler.addFilter(_MaskingFilter())
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric)
