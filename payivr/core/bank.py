"""Bank account (ACH) validation: routing number, account number, account type.

Pure functions and data, like :mod:`payivr.core.cards`. The digits live in
:class:`~payivr.core.cards.SecretDigits` buffers and are treated as card data: never shown,
logged or stored; the caller hears, and everyone else sees, the last two digits only.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from payivr.core.cards import SecretDigits

ROUTING_NUMBER_LENGTH = 9
MIN_ACCOUNT_NUMBER_LENGTH = 4
MAX_ACCOUNT_NUMBER_LENGTH = 17
SHOWN_DIGITS = 2
"""How many trailing digits of a routing or account number anyone but the gateway learns.

Two, not four: an account number may be as short as four digits, and its last four would
then be all of it."""

_ABA_WEIGHTS = (3, 7, 1, 3, 7, 1, 3, 7, 1)


class AccountType(enum.Enum):
    """Chosen by key: 1 checking, 2 savings."""

    CHECKING = "checking"
    SAVINGS = "savings"

    @property
    def key(self) -> str:
        return "1" if self is AccountType.CHECKING else "2"

    @classmethod
    def from_key(cls, key: str) -> AccountType | None:
        return {"1": cls.CHECKING, "2": cls.SAVINGS}.get(key)


class BankProblem(enum.Enum):
    """Why a bank entry was refused; the value is words a person understands."""

    ROUTING_LENGTH = "the routing number must be nine digits"
    ROUTING_CHECKSUM = "the routing number is not valid (check digit)"
    ACCOUNT_LENGTH = "the account number must be four to seventeen digits"
    ACCOUNT_TYPE = "the account type must be 1 (checking) or 2 (savings)"
    INCOMPLETE = "the entry was not finished in time"


def aba_checksum_valid(digits: SecretDigits) -> bool:
    """3·(d1+d4+d7) + 7·(d2+d5+d8) + (d3+d6+d9) ≡ 0 (mod 10), for nine digits."""
    values = digits.digit_values()
    try:
        if len(values) != ROUTING_NUMBER_LENGTH:
            return False
        return sum(w * v for w, v in zip(_ABA_WEIGHTS, values, strict=True)) % 10 == 0
    finally:
        values.clear()


def check_routing_number(digits: SecretDigits) -> BankProblem | None:
    if len(digits) != ROUTING_NUMBER_LENGTH:
        return BankProblem.ROUTING_LENGTH
    if not aba_checksum_valid(digits):
        return BankProblem.ROUTING_CHECKSUM
    return None


def check_account_number(digits: SecretDigits) -> BankProblem | None:
    if not MIN_ACCOUNT_NUMBER_LENGTH <= len(digits) <= MAX_ACCOUNT_NUMBER_LENGTH:
        return BankProblem.ACCOUNT_LENGTH
    return None


def last_two(digits: SecretDigits) -> str:
    """The only part of a routing or account number that is ever read back or shown."""
    return digits.last_four()[-SHOWN_DIGITS:]


@dataclass(frozen=True)
class MaskedBankAccount:
    """What anyone but the gateway may know of a bank account: its type and last two."""

    account_type: AccountType
    last_two: str

    def __str__(self) -> str:
        return f"{self.account_type.value} account ending {self.last_two}"
