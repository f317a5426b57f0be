"""The amount a customer may be asked to pay: one check for every way in. Pure: no I/O.

A payment can be asked for from the console, the API, ``*7`` with an amount (AMI or
FastAGI), the pay line, a warm transfer and a text message. Each passes its amount through
:func:`amount_problem` before anything happens; ``flow.max_amount_minor`` caps every
currency, in that currency's minor units.
"""

from __future__ import annotations

from decimal import Decimal

from payivr.core.prompts import CURRENCIES


def format_minor(amount_minor: int, currency: str) -> str:
    """``1234, "USD"`` → ``"12.34 USD"``."""
    digits = CURRENCIES[currency].exponent if currency in CURRENCIES else 2
    return f"{Decimal(amount_minor).scaleb(-digits):.{digits}f} {currency}"


def amount_problem(amount_minor: object, currency: str, max_amount_minor: int) -> str | None:
    """Why ``amount_minor`` (minor units of ``currency``) cannot be asked for, or None."""
    if isinstance(amount_minor, bool) or not isinstance(amount_minor, int):
        return "the amount must be a whole number of minor units (cents)"
    if currency not in CURRENCIES:
        return f"the currency must be one of {', '.join(sorted(CURRENCIES))}"
    if amount_minor <= 0:
        return "the amount must be more than zero"
    if amount_minor > max_amount_minor:
        return f"the amount is over the maximum of {format_minor(max_amount_minor, currency)}"
    return None
