"""Card validation and the container that holds card digits.

Pure functions and data: no clock (``today`` is always passed in), no I/O.

Card digits live only in :class:`SecretDigits`, a mutable buffer that never shows its
content through ``str``/``repr``/``format``/logging, refuses pickling and copying, and is
zeroed in place by :meth:`SecretDigits.wipe`.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import NoReturn

from payivr.core.errors import PayivrError

MAX_PAN_LENGTH = 19
MAX_EXPIRY_YEARS_AHEAD = 20


class CardDataExposure(PayivrError, RuntimeError):
    """Raised when code tries to serialise, copy or print card digits."""


class SecretDigits:
    """A wipeable buffer of DTMF digits (``0``-``9`` only).

    The digits can be read only through :meth:`reveal` (for the gateway's encryption step)
    or through the safe views :meth:`last_four`, :meth:`__len__`.
    """

    __slots__ = ("__weakref__", "_buffer", "_wiped")

    def __init__(self, digits: Iterable[str] | None = None) -> None:
        self._buffer = bytearray()
        self._wiped = False
        for digit in digits or ():
            self.append(digit)

    def append(self, digit: str) -> None:
        if self._wiped:
            raise CardDataExposure("this card buffer was wiped and cannot be reused")
        if len(digit) != 1 or digit not in "0123456789":
            raise ValueError("only the digits 0-9 can be stored")
        self._buffer.append(ord(digit))

    def __len__(self) -> int:
        return len(self._buffer)

    def reveal(self) -> bytes:
        """The digits as ASCII bytes. Only the gateway's encryption step may call this."""
        if self._wiped:
            raise CardDataExposure("this card buffer was wiped")
        return bytes(self._buffer)

    def reveal_into(self, buffer: bytearray, start: int = 0, stop: int | None = None) -> None:
        """Append digits ``start:stop`` to ``buffer`` without making an immutable copy.

        The gateway's encryption step builds its plaintext this way, so the only copies of
        the digits are bytearrays that it wipes.
        """
        if self._wiped:
            raise CardDataExposure("this card buffer was wiped")
        buffer += memoryview(self._buffer)[start:stop]

    def last_four(self) -> str:
        return self._buffer[-4:].decode("ascii")

    def prefix(self, length: int) -> str:
        """The first ``length`` digits (the IIN, at most 6), used for brand detection."""
        return self._buffer[: min(length, 6)].decode("ascii")

    def duplicate(self) -> SecretDigits:
        """A second wipeable buffer with the same digits (no immutable copy is made): for a
        hand-off that wipes what it is given, while the owner may still need them."""
        twin = SecretDigits()
        if self._wiped:
            raise CardDataExposure("this card buffer was wiped")
        twin._buffer += self._buffer
        return twin

    def digit_values(self) -> list[int]:
        return [byte - 48 for byte in self._buffer]

    def wipe(self) -> None:
        """Zero the buffer in place, then empty it. Safe to call more than once."""
        for index in range(len(self._buffer)):
            self._buffer[index] = 0
        self._buffer.clear()
        self._wiped = True

    @property
    def wiped(self) -> bool:
        return self._wiped

    def __repr__(self) -> str:
        return f"<SecretDigits {'wiped' if self._wiped else f'len={len(self._buffer)}'}>"

    __str__ = __repr__

    def __format__(self, format_spec: str) -> str:
        return repr(self)

    def __eq__(self, other: object) -> bool:
        return other is self

    __hash__ = object.__hash__

    def __reduce_ex__(self, protocol: object) -> NoReturn:
        raise CardDataExposure("card digits cannot be pickled")

    def __copy__(self) -> NoReturn:
        raise CardDataExposure("card digits cannot be copied")

    def __deepcopy__(self, memo: object) -> NoReturn:
        raise CardDataExposure("card digits cannot be copied")


class Brand(enum.Enum):
    VISA = "visa"
    MASTERCARD = "mastercard"
    AMEX = "amex"
    DISCOVER = "discover"
    DINERS = "diners"
    JCB = "jcb"
    UNIONPAY = "unionpay"

    @property
    def display_name(self) -> str:
        return _DISPLAY_NAMES[self]

    @property
    def security_code_length(self) -> int:
        return 4 if self is Brand.AMEX else 3


_DISPLAY_NAMES = {
    Brand.VISA: "Visa",
    Brand.MASTERCARD: "Mastercard",
    Brand.AMEX: "American Express",
    Brand.DISCOVER: "Discover",
    Brand.DINERS: "Diners Club",
    Brand.JCB: "JCB",
    Brand.UNIONPAY: "UnionPay",
}


@dataclass(frozen=True)
class IinRange:
    """Card numbers whose first ``len(str(low))`` digits lie in ``low..high``."""

    brand: Brand
    low: int
    high: int
    lengths: frozenset[int]

    @functools.cached_property
    def prefix_length(self) -> int:
        return len(str(self.low))


def _lengths(*values: int) -> frozenset[int]:
    return frozenset(values)


# Most specific (longest prefix) first: the first match wins.
IIN_TABLE: tuple[IinRange, ...] = (
    IinRange(Brand.DISCOVER, 6011, 6011, _lengths(16, 17, 18, 19)),
    IinRange(Brand.MASTERCARD, 2221, 2720, _lengths(16)),
    IinRange(Brand.JCB, 3528, 3589, _lengths(16, 17, 18, 19)),
    IinRange(Brand.DISCOVER, 644, 649, _lengths(16, 17, 18, 19)),
    IinRange(Brand.DINERS, 300, 305, _lengths(14, 15, 16, 17, 18, 19)),
    IinRange(Brand.AMEX, 34, 34, _lengths(15)),
    IinRange(Brand.AMEX, 37, 37, _lengths(15)),
    IinRange(Brand.MASTERCARD, 51, 55, _lengths(16)),
    IinRange(Brand.DISCOVER, 65, 65, _lengths(16, 17, 18, 19)),
    IinRange(Brand.DINERS, 36, 36, _lengths(14, 15, 16, 17, 18, 19)),
    IinRange(Brand.DINERS, 38, 39, _lengths(14, 15, 16, 17, 18, 19)),
    IinRange(Brand.UNIONPAY, 62, 62, _lengths(16, 17, 18, 19)),
    IinRange(Brand.VISA, 4, 4, _lengths(13, 16, 19)),
)


class CardProblem(enum.Enum):
    """Why an entry was refused; the value is words a person understands."""

    TOO_SHORT = "the card number is too short"
    TOO_LONG = "the card number is too long"
    LUHN = "the card number is not valid (check digit)"
    UNKNOWN_BRAND = "the card type is not recognised"
    BAD_LENGTH_FOR_BRAND = "the card number has the wrong length for its card type"
    BRAND_NOT_ACCEPTED = "this card type is not accepted"
    BAD_EXPIRY_FORMAT = "the expiry date must be four digits, MMYY"
    BAD_EXPIRY_MONTH = "the expiry month must be 01 to 12"
    EXPIRED = "the card has expired"
    EXPIRY_TOO_FAR = "the expiry date is too far in the future"
    BAD_SECURITY_CODE = "the security code has the wrong number of digits"
    BAD_POSTAL_CODE = "the postal code has the wrong number of digits"
    INCOMPLETE = "the entry was not finished in time"


def luhn_valid(digits: SecretDigits) -> bool:
    values = digits.digit_values()
    if not values:
        return False
    total = 0
    for position, value in enumerate(reversed(values)):
        if position % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    values.clear()
    return total % 10 == 0


def identify_brand(digits: SecretDigits) -> IinRange | None:
    """The IIN range a card number falls in, from its leading digits (asked again at each
    key of the card number: the agent's screen shows the brand as soon as it is known)."""
    keyed = len(digits)
    head = digits.prefix(6)
    for iin in IIN_TABLE:
        length = iin.prefix_length
        if keyed >= length and iin.low <= int(head[:length]) <= iin.high:
            return iin
    return None


def check_card_number(
    digits: SecretDigits, accepted_brands: frozenset[Brand]
) -> Brand | CardProblem:
    """The card's brand, or the first problem found with the number."""
    if len(digits) < 12:
        return CardProblem.TOO_SHORT
    if len(digits) > MAX_PAN_LENGTH:
        return CardProblem.TOO_LONG
    if not luhn_valid(digits):
        return CardProblem.LUHN
    iin = identify_brand(digits)
    if iin is None:
        return CardProblem.UNKNOWN_BRAND
    if len(digits) not in iin.lengths:
        return CardProblem.BAD_LENGTH_FOR_BRAND
    if iin.brand not in accepted_brands:
        return CardProblem.BRAND_NOT_ACCEPTED
    return iin.brand


@dataclass(frozen=True)
class ExpiryDate:
    month: int
    year: int

    def __repr__(self) -> str:
        return "ExpiryDate(<hidden>)"

    __str__ = __repr__


def check_expiry(digits: SecretDigits, today: date) -> CardProblem | None:
    """None when ``MMYY`` is a valid expiry for a card used on ``today``."""
    if len(digits) != 4:
        return CardProblem.BAD_EXPIRY_FORMAT
    values = digits.digit_values()
    month = values[0] * 10 + values[1]
    year = 2000 + values[2] * 10 + values[3]
    values.clear()
    if not 1 <= month <= 12:
        return CardProblem.BAD_EXPIRY_MONTH
    if (year, month) < (today.year, today.month):
        return CardProblem.EXPIRED
    if (year, month) > (today.year + MAX_EXPIRY_YEARS_AHEAD, today.month):
        return CardProblem.EXPIRY_TOO_FAR
    return None


def expiry_month_and_year(digits: SecretDigits) -> tuple[int, int]:
    """Month and four-digit year of a validated ``MMYY`` entry, for the read-back only."""
    values = digits.digit_values()
    month, year = values[0] * 10 + values[1], 2000 + values[2] * 10 + values[3]
    values.clear()
    return month, year


def check_security_code(digits: SecretDigits, brand: Brand) -> CardProblem | None:
    if len(digits) != brand.security_code_length:
        return CardProblem.BAD_SECURITY_CODE
    return None


def check_postal_code(digits: str, allowed_lengths: frozenset[int]) -> CardProblem | None:
    if not digits.isdigit() or len(digits) not in allowed_lengths:
        return CardProblem.BAD_POSTAL_CODE
    return None


@dataclass(frozen=True)
class MaskedCard:
    """What anyone but the gateway may know of a card (PCI DSS 3.4.1)."""

    brand: Brand
    last_four: str

    def __str__(self) -> str:
        return f"{self.brand.display_name} ending {self.last_four}"
