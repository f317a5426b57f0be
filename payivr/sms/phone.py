"""Phone numbers in E.164: ``+``, a country code and the subscriber number, 15 digits at most."""

from __future__ import annotations

import re

from payivr.core.errors import PayivrError

_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
_SEPARATORS = re.compile(r"[\s().-]")


class InvalidPhoneNumber(PayivrError, ValueError):
    """Not a phone number in E.164 form (the number itself is not repeated here)."""


def parse_e164(text: str) -> str:
    """``"+1 (555) 123-0001"`` → ``"+15551230001"``; raises :class:`InvalidPhoneNumber`.

    Spaces, dots, dashes and brackets people type are dropped; the ``+`` and the country
    code are required (a national number is ambiguous without the customer's country).
    """
    if not isinstance(text, str) or len(text) > 32:
        raise InvalidPhoneNumber("the phone number must be text in E.164 form, like +15551230001")
    number = _SEPARATORS.sub("", text.strip())
    if not _E164.match(number):
        raise InvalidPhoneNumber(
            "the phone number must be in E.164 form: + then the country code and number,"
            " 8 to 15 digits, like +15551230001"
        )
    return number


def is_e164(text: str) -> bool:
    return _E164.match(text) is not None
