"""The sandbox's decision table: which test card or bank account approves, which declines,
and why.

Shared by the HTTP sandbox and the in-process sandbox so both answer the same way. The
cards are Stripe's public test cards (4242 4242 4242 4242 and the other
:data:`SUCCESS_CARDS` approve, the :data:`DECLINE_CARDS` decline with their reason); every
other Luhn-valid card of a known brand approves. The bank accounts are Stripe's ACH test accounts (routing 110000000); every
other account behind a routing number with a valid checksum approves.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date

from payivr.core.bank import (
    MAX_ACCOUNT_NUMBER_LENGTH,
    MIN_ACCOUNT_NUMBER_LENGTH,
    AccountType,
    check_routing_number,
)
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
    ACCOUNT_CLOSED = "account_closed"
    NO_ACCOUNT = "no_account"
    DEBIT_NOT_AUTHORIZED = "debit_not_authorized"
    INVALID_ROUTING_NUMBER = "routing_number_invalid"
    INVALID_ACCOUNT_NUMBER = "account_number_invalid"

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
    DeclineCode.ACCOUNT_CLOSED: "the bank account is closed",
    DeclineCode.NO_ACCOUNT: "the bank account could not be found",
    DeclineCode.DEBIT_NOT_AUTHORIZED: "the account holder has not authorized this debit",
    DeclineCode.INVALID_ROUTING_NUMBER: "the routing number is invalid",
    DeclineCode.INVALID_ACCOUNT_NUMBER: "the account number is invalid",
}
_BANK_MESSAGES = {DeclineCode.INSUFFICIENT_FUNDS: "the bank account has insufficient funds"}

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

TEST_ROUTING_NUMBER = "110000000"
SUCCESS_BANK_ACCOUNT = "000123456789"
DECLINE_BANK_ACCOUNTS: dict[str, DeclineCode] = {
    "000111111113": DeclineCode.ACCOUNT_CLOSED,
    "000111111116": DeclineCode.NO_ACCOUNT,
    "000222222227": DeclineCode.INSUFFICIENT_FUNDS,
    "000333333335": DeclineCode.DEBIT_NOT_AUTHORIZED,
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
    bank: bool = False

    @property
    def message(self) -> str:
        return (_BANK_MESSAGES if self.bank else {}).get(self.code, self.code.message)


@dataclass(frozen=True)
class BankApproval:
    account_type: AccountType
    last_two: str


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


def decide_bank_debit(
    routing_number: str, account_number: str, account_type: AccountType
) -> BankApproval | Decline:
    """What the sandbox answers for a bank debit (the numbers are checked as a bank would)."""
    routing = SecretDigits(routing_number) if routing_number.isdigit() else SecretDigits()
    try:
        if check_routing_number(routing) is not None:
            return Decline(DeclineCode.INVALID_ROUTING_NUMBER, bank=True)
    finally:
        routing.wipe()
    length = len(account_number)
    if not account_number.isdigit() or not (
        MIN_ACCOUNT_NUMBER_LENGTH <= length <= MAX_ACCOUNT_NUMBER_LENGTH
    ):
        return Decline(DeclineCode.INVALID_ACCOUNT_NUMBER, bank=True)
    code = DECLINE_BANK_ACCOUNTS.get(account_number)
    if code is not None:
        return Decline(code, bank=True)
    return BankApproval(account_type, account_number[-2:])
