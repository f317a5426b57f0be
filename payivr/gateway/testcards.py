"""The sandbox's decision table: which test card approves and which declines, and why.

Shared by the HTTP sandbox and the in-process sandbox so both answer the same way. The
cards are the public test cards from DESIGN.md; every other Luhn-valid card of a known
brand approves.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date

from payivr.core.cards import Brand, SecretDigits, identify_brand, luhn_valid


class DeclineCode(enum.Enum):
    """Decline reasons; the value is the code on the wire (Stripe's names)."""

    GENERIC = "generic_decline"
    INSUFFICIENT_FUNDS = "insufficient_funds"
    LOST_CARD = "lost_card"
    STOLEN_CARD = "stolen_card"
    EXPIRED_CARD = "expired_card"
    INCORRECT_CVC = "incorrect_cvc"
    PROCESSING_ERROR = "processing_error"
    INCORRECT_NUMBER = "incorrect_number"

    @property
    def message(self) -> str:
        return _MESSAGES[self]


_MESSAGES = {
    DeclineCode.GENERIC: "the card was declined",
    DeclineCode.INSUFFICIENT_FUNDS: "the card has insufficient funds",
    DeclineCode.LOST_CARD: "the card was reported lost",
    DeclineCode.STOLEN_CARD: "the card was reported stolen",
    DeclineCode.EXPIRED_CARD: "the card has expired",
    DeclineCode.INCORRECT_CVC: "the security code is incorrect",
    DeclineCode.PROCESSING_ERROR: "an error occurred while processing the card, please try again",
    DeclineCode.INCORRECT_NUMBER: "the card number is incorrect",
}

DECLINE_CARDS: dict[str, DeclineCode] = {
    "4000000000000002": DeclineCode.GENERIC,
    "4000000000009995": DeclineCode.INSUFFICIENT_FUNDS,
    "4000000000009987": DeclineCode.LOST_CARD,
    "4000000000009979": DeclineCode.STOLEN_CARD,
    "4000000000000069": DeclineCode.EXPIRED_CARD,
    "4000000000000127": DeclineCode.INCORRECT_CVC,
    "4000000000000119": DeclineCode.PROCESSING_ERROR,
}

SUCCESS_CARDS: dict[str, Brand] = {
    "4242424242424242": Brand.VISA,
    "5555555555554444": Brand.MASTERCARD,
    "2223003122003222": Brand.MASTERCARD,
    "378282246310005": Brand.AMEX,
    "6011111111111117": Brand.DISCOVER,
    "36227206271667": Brand.DINERS,
    "3566002020360505": Brand.JCB,
    "6200000000000005": Brand.UNIONPAY,
}

# A card on file is checked without money moving: funds are not looked at then.
_NOT_CHECKED_WHEN_STORING = frozenset({DeclineCode.INSUFFICIENT_FUNDS})


@dataclass(frozen=True)
class Approval:
    brand: Brand
    last_four: str


@dataclass(frozen=True)
class Decline:
    code: DeclineCode


Decision = Approval | Decline


def decide(
    number: str,
    exp_month: int,
    exp_year: int,
    today: date,
    *,
    storing_only: bool = False,
) -> Decision:
    """What the sandbox answers for a card; ``storing_only`` for tokenization (no charge)."""
    digits = SecretDigits(number) if number.isdigit() else SecretDigits()
    try:
        iin = identify_brand(digits)
        if not luhn_valid(digits) or iin is None or len(digits) not in iin.lengths:
            return Decline(DeclineCode.INCORRECT_NUMBER)
        brand, last_four = iin.brand, digits.last_four()
    finally:
        digits.wipe()
    if not 1 <= exp_month <= 12 or (exp_year, exp_month) < (today.year, today.month):
        return Decline(DeclineCode.EXPIRED_CARD)
    code = DECLINE_CARDS.get(number)
    if code is not None and not (storing_only and code in _NOT_CHECKED_WHEN_STORING):
        return Decline(code)
    return Approval(brand, last_four)
