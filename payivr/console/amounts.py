"""Amounts as people type them ("12.34") into minor units, with reasons a person understands."""

from __future__ import annotations

import re
from decimal import Decimal

from payivr.calls.requests import RequestRefused
from payivr.core.prompts import CURRENCIES

_MAX_TEXT = 24
_PLAIN_NUMBER = re.compile(r"^[+-]?[0-9]+(?:\.[0-9]+)?$")


def parse_amount(value: object, currency: str) -> int:
    """``"12.34"`` or ``12.34`` in ``currency`` → ``1234``; raises :class:`RequestRefused`."""
    if currency not in CURRENCIES:
        raise RequestRefused(f"the currency must be one of {', '.join(sorted(CURRENCIES))}")
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise RequestRefused("the amount must be a number such as 12.34")
    text = repr(value) if isinstance(value, float) else str(value).strip()
    if len(text) > _MAX_TEXT or not _PLAIN_NUMBER.match(text):
        raise RequestRefused("the amount must be a number such as 12.34")
    amount = Decimal(text)
    if amount < 0:
        raise RequestRefused("the amount cannot be negative")
    if amount == 0:
        raise RequestRefused("the amount must be more than zero")
    digits = CURRENCIES[currency].exponent
    minor = amount.scaleb(digits)
    if minor != minor.to_integral_value():
        unit = "cents" if digits == 2 else currency
        raise RequestRefused(f"the amount must be a whole number of {unit}")
    return int(minor)


def format_minor(amount_minor: int, currency: str) -> str:
    """``1234, "USD"`` → ``"12.34 USD"``."""
    digits = CURRENCIES[currency].exponent if currency in CURRENCIES else 2
    return f"{Decimal(amount_minor).scaleb(-digits):.{digits}f} {currency}"
