"""Amounts as agents type them (``1,000.00``, ``$5``, ``5``; ``1.000,50 €`` in euros) into
minor units, with reasons a person understands.

Each currency is read the way it is usually written: its symbols, its thousands separator
and its decimal mark. The plain machine form (``1234.56``, what API clients send) is always
understood too; where the two readings of one text differ (``1.000`` in euros: one thousand,
or one?) the amount is refused with the ways to write it, never guessed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from payivr.calls.requests import RequestRefused
from payivr.core.prompts import CURRENCIES

_MAX_TEXT = 24
_MACHINE = re.compile(r"([0-9]+)(?:\.([0-9]+))?")


@dataclass(frozen=True)
class AmountStyle:
    """How amounts in one currency are written."""

    symbols: tuple[str, ...]
    groups: tuple[str, ...]
    decimal: str | None  # None: the currency has no minor unit
    example: str

    def pattern(self) -> re.Pattern[str]:
        group = "|".join(re.escape(mark) for mark in self.groups)
        whole = rf"[0-9]{{1,3}}(?:(?:{group})[0-9]{{3}})+|[0-9]+"
        fraction = rf"(?:{re.escape(self.decimal)}([0-9]+))?" if self.decimal else ""
        return re.compile(rf"({whole}){fraction}")


_SPACES = (" ", "\u00a0", "\u202f")  # as typed, no-break, narrow no-break
STYLES: dict[str, AmountStyle] = {
    "USD": AmountStyle(("US$", "$"), (",",), ".", "1,234.56"),
    "CAD": AmountStyle(("CA$", "C$", "$"), (",",), ".", "1,234.56"),
    "AUD": AmountStyle(("AU$", "A$", "$"), (",",), ".", "1,234.56"),
    "EUR": AmountStyle(("€",), (".", *_SPACES), ",", "1.234,56"),
    "GBP": AmountStyle(("£",), (",",), ".", "1,234.56"),
    "JPY": AmountStyle(("¥", "￥", "円"), (",",), None, "1,234"),
}
_ALL_SYMBOLS = sorted({s for style in STYLES.values() for s in style.symbols}, key=len, reverse=True)


def parse_amount(value: object, currency: str) -> int:
    """``"1,000.00"``, ``"$5"``, ``"5"``, ``5`` or ``12.34`` in ``currency`` → minor units;
    raises :class:`RequestRefused` saying what is wrong."""
    if currency not in CURRENCIES:
        raise RequestRefused(f"the currency must be one of {', '.join(sorted(CURRENCIES))}")
    style = STYLES[currency]
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise RequestRefused(_not_a_number(currency))
    if isinstance(value, str):
        amount = _read_text(value, currency)
    else:
        text = repr(value) if isinstance(value, float) else str(value)
        if not re.fullmatch(r"-?[0-9]+(?:\.[0-9]+)?", text):
            raise RequestRefused(_not_a_number(currency))
        amount = Decimal(text)
    if amount < 0:
        raise RequestRefused("the amount cannot be negative")
    if amount == 0:
        raise RequestRefused("the amount must be more than zero")
    digits = CURRENCIES[currency].exponent
    minor = amount.scaleb(digits)
    if minor != minor.to_integral_value():
        unit = "cents" if digits == 2 and style.decimal else currency
        raise RequestRefused(f"the amount must be a whole number of {unit}")
    return int(minor)


def _read_text(value: str, currency: str) -> Decimal:
    style = STYLES[currency]
    text = value.strip()
    if len(text) > _MAX_TEXT:
        raise RequestRefused(_not_a_number(currency))
    negative = text.startswith("-")
    text = text.removeprefix("-").strip()
    text = _without_currency(text, currency)
    if text.startswith("-"):  # "$-5"
        negative = True
        text = text[1:].strip()
    readings: set[Decimal] = set()
    if written := style.pattern().fullmatch(text):
        whole = re.sub(r"[^0-9]", "", written.group(1))
        fraction = written.group(2) if style.decimal else None
        readings.add(Decimal(f"{whole}.{fraction}" if fraction else whole))
    if machine := _MACHINE.fullmatch(text):
        readings.add(Decimal(machine.group(0)))
    if not readings:
        raise RequestRefused(_not_a_number(currency))
    if len(readings) > 1:
        low, high = (f"{reading.normalize():f}" for reading in sorted(readings))
        raise RequestRefused(
            f"the amount {text} could be {low} or {high} {currency}: write it as "
            f"{style.example} or 1234.56"
        )
    amount = readings.pop()
    return -amount if negative else amount


def _without_currency(text: str, currency: str) -> str:
    """The number without this currency's symbol or code, in front or behind; another
    currency's symbol or code is refused (the agent meant another currency)."""
    for mark in (currency, *STYLES[currency].symbols):
        if text.startswith(mark):
            return text[len(mark) :].strip()
        if text.endswith(mark):
            return text[: -len(mark)].strip()
    for other in (*CURRENCIES, *_ALL_SYMBOLS):
        if text.startswith(other) or text.endswith(other):
            raise RequestRefused(
                f"the amount is written in another currency ({other}); this request is in "
                f"{currency}"
            )
    return text


def _not_a_number(currency: str) -> str:
    example = STYLES[currency].example
    return f"the amount must be a number such as {example} (in {currency})"

