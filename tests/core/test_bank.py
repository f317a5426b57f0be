"""Bank account (ACH) validation and the container that carries the digits to the gateway."""

from __future__ import annotations

import copy
import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

from payivr.core.bank import (
    AccountType,
    BankProblem,
    MaskedBankAccount,
    aba_checksum_valid,
    check_account_number,
    check_routing_number,
    last_two,
)
from payivr.core.cards import CardDataExposure, SecretDigits
from payivr.core.events import Authorize, BankAccountDetails, PaymentMethod

from ._harness import BAD_CHECKSUM_ROUTING_NUMBER, VALID_ROUTING_NUMBERS


def _aba(digits: str) -> bool:
    """The checksum as the spec writes it: 3(d1+d4+d7) + 7(d2+d5+d8) + (d3+d6+d9) mod 10."""
    d = [int(c) for c in digits]
    return (3 * (d[0] + d[3] + d[6]) + 7 * (d[1] + d[4] + d[7]) + (d[2] + d[5] + d[8])) % 10 == 0


@pytest.mark.parametrize("routing", VALID_ROUTING_NUMBERS)
def test_real_routing_numbers_pass(routing: str) -> None:
    assert check_routing_number(SecretDigits(routing)) is None


@pytest.mark.parametrize(
    ("routing", "problem"),
    [
        (BAD_CHECKSUM_ROUTING_NUMBER, BankProblem.ROUTING_CHECKSUM),
        ("110000001", BankProblem.ROUTING_CHECKSUM),
        ("11000000", BankProblem.ROUTING_LENGTH),
        ("1100000000", BankProblem.ROUTING_LENGTH),
        ("", BankProblem.ROUTING_LENGTH),
    ],
)
def test_bad_routing_numbers_are_refused(routing: str, problem: BankProblem) -> None:
    assert check_routing_number(SecretDigits(routing)) is problem


@given(st.text(alphabet="0123456789", min_size=9, max_size=9))
def test_checksum_matches_the_formula(routing: str) -> None:
    assert aba_checksum_valid(SecretDigits(routing)) is _aba(routing)


@given(st.text(alphabet="0123456789", min_size=8, max_size=8))
def test_exactly_one_last_digit_completes_a_routing_number(prefix: str) -> None:
    # The weight of the ninth digit is 1, so each eight-digit prefix has one check digit.
    assert sum(_aba(prefix + d) for d in "0123456789") == 1


@pytest.mark.parametrize(
    ("account", "valid"),
    [("1234", True), ("0" * 17, True), ("123", False), ("1" * 18, False), ("", False)],
)
def test_account_number_length(account: str, valid: bool) -> None:
    problem = check_account_number(SecretDigits(account))
    assert (problem is None) is valid
    if not valid:
        assert problem is BankProblem.ACCOUNT_LENGTH


def test_account_type_keys() -> None:
    assert AccountType.from_key("1") is AccountType.CHECKING
    assert AccountType.from_key("2") is AccountType.SAVINGS
    assert AccountType.from_key("3") is None
    assert [kind.key for kind in AccountType] == ["1", "2"]


def test_only_the_last_two_digits_are_ever_shown() -> None:
    account = SecretDigits("4321")
    assert last_two(account) == "21"
    masked = MaskedBankAccount(AccountType.SAVINGS, "21")
    assert str(masked) == "savings account ending 21"


def test_bank_account_details_hide_their_digits_and_wipe() -> None:
    details = BankAccountDetails(
        SecretDigits("110000000"), SecretDigits("000123456789"), AccountType.CHECKING
    )
    authorize = Authorize(details, 100, "USD", "pay_1")
    assert authorize.method is PaymentMethod.ACH
    for text in (repr(details), str(details), repr(authorize), str(authorize)):
        assert "110000000" not in text and "123456789" not in text and "6789" not in text
    for attempt in (copy.deepcopy, pickle.dumps):
        with pytest.raises(CardDataExposure):
            attempt(details)
    assert details.masked == MaskedBankAccount(AccountType.CHECKING, "89")
    details.wipe()
    assert details.routing_number.wiped and details.account_number.wiped
