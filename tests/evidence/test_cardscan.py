"""The leak scanner finds what it must (a scan that finds nothing proves nothing otherwise)."""

from __future__ import annotations

import pytest

from tests.evidence.cardscan import KeyedBankAccount, KeyedCard, find_bank_data, find_card_data

VISA = KeyedCard("4242424242424242", "0931", "481")
DECLINE = KeyedCard("4000000000000119", "0931", "481")


@pytest.mark.parametrize(
    "text",
    [
        "pan=4242424242424242",
        "card 4242 4242 4242 4242 here",
        "4242-4242-4242-4242",
        "first digits 4242424 only",  # a 7-digit run of the PAN
        "x00042424242424242420000x",  # inside a longer number
        "expiry=0931",
        "exp 09/31",
        "09-31",
        "2031-09",
        "09/2031",
        "203109",
        "cvc: 481",
        "security_code=481",
        '"code": "481"',
        "run 0000119 of a decline card",
    ],
)
def test_leaks_are_found(text: str) -> None:
    assert find_card_data("t", text, [VISA, DECLINE])


@pytest.mark.parametrize(
    "text",
    [
        "media=digits:4242",  # the last four
        "media=sound:payivr/en/month-09&media=number:2031",  # the read-back: a year alone
        "status=481 port=4810",  # a security code with no name next to it
        "PJSIP/1101-00000010 1795290000.10",  # channel names, mostly zeros
        "2026-11-21T22:12:30.000000Z",
        "postal code 90210",
    ],
)
def test_what_is_allowed_is_not_reported(text: str) -> None:
    assert find_card_data("t", text, [VISA, DECLINE]) == []


ACCOUNT = KeyedBankAccount("110000000", "000123456789")


def test_bank_account_numbers_whole_grouped_or_in_part_are_found() -> None:
    for text in (
        "routing=110000000",
        "acct 000123456789",
        "acct 0001 2345 6789",
        "ref 99123456799",  # 7+ digits of the account number inside another number
    ):
        assert find_bank_data("t", text, [ACCOUNT]), text


def test_the_last_two_digits_and_mostly_zero_runs_are_not_a_bank_leak() -> None:
    for text in ("checking account ending 89", "PJSIP/1101-00000010", "amount 1100"):
        assert find_bank_data("t", text, [ACCOUNT]) == [], text
