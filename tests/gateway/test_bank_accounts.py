"""Bank (ACH) debits through the TLS sandbox and the in-process sandbox: Stripe's test
accounts, the routing-number checksum, idempotency, and no digits anywhere but the JWE."""

import json
import logging

import pytest
import structlog
from _gateway_helpers import MakeClient

from payivr.calls.charging import gateway_authorizer
from payivr.core.bank import AccountType
from payivr.core.cards import SecretDigits
from payivr.core.events import Authorize, BankAccountDetails, GatewayApproval, GatewayDecline
from payivr.gateway import Approved, Declined, Error, InProcessGateway
from payivr.gateway.interface import (
    NO_BANK_DEBIT_REASON,
    BankDebitGateway,
    send_authorization,
)
from payivr.gateway.jwe import DecryptionKeys, encrypt_bank_account
from payivr.gateway.sandbox import RunningSandbox
from payivr.gateway.testcards import (
    DECLINE_BANK_ACCOUNTS,
    SUCCESS_BANK_ACCOUNT,
    TEST_ROUTING_NUMBER,
)

SAVINGS = AccountType.SAVINGS


def account(
    number: str = SUCCESS_BANK_ACCOUNT,
    routing: str = TEST_ROUTING_NUMBER,
    kind: AccountType = AccountType.CHECKING,
) -> BankAccountDetails:
    return BankAccountDetails(SecretDigits(routing), SecretDigits(number), kind)


@pytest.mark.parametrize("kind", list(AccountType))
async def test_the_success_account_is_debited_once(
    make_client: MakeClient, sandbox: RunningSandbox, kind: AccountType
):
    details = account(kind=kind)
    client = make_client()
    assert isinstance(client, BankDebitGateway)
    result = await client.debit_bank_account(details, 2500, "USD", "ach-1")

    assert isinstance(result, Approved)
    assert (result.brand, result.last_four, result.token) == (None, None, None)
    assert details.routing_number.wiped and details.account_number.wiped
    (sale,) = sandbox.processor.ledger.entries
    assert (sale.kind, sale.brand, sale.last_four, sale.amount_minor) == ("sale", "ach", "89", 2500)
    # The same key again: the stored answer, no second debit.
    again = await client.debit_bank_account(account(kind=kind), 2500, "USD", "ach-1")
    assert again == result
    assert sandbox.processor.ledger.charges("ach-1") == 1


@pytest.mark.parametrize(("number", "code"), list(DECLINE_BANK_ACCOUNTS.items()))
async def test_stripes_failing_test_accounts_decline(
    make_client: MakeClient, sandbox: RunningSandbox, number: str, code
):
    result = await make_client().debit_bank_account(account(number), 100, "USD", f"ach-{number}")
    assert isinstance(result, Declined) and result.code == code.value
    assert sandbox.processor.ledger.charges() == 0


async def test_insufficient_funds_speaks_of_the_account(make_client: MakeClient):
    result = await make_client().debit_bank_account(account("000222222227"), 100, "USD", "ach-nsf")
    assert result == Declined("insufficient_funds", "the bank account has insufficient funds")


async def test_the_gateway_checks_the_numbers_too(make_client: MakeClient, sandbox):
    client = make_client()
    other_bank = await client.debit_bank_account(
        account("12345678", routing="021000021"), 100, "USD", "ach-other"
    )
    assert isinstance(other_bank, Approved)
    # A client that skipped validation: the gateway still refuses bad numbers.
    bad_routing = await client.debit_bank_account(
        account(routing="123456789"), 100, "USD", "ach-bad-routing"
    )
    assert bad_routing == Declined("routing_number_invalid", "the routing number is invalid")
    short = await client.debit_bank_account(account("123"), 100, "USD", "ach-short")
    assert isinstance(short, Declined) and short.code == "account_number_invalid"
    assert sandbox.processor.ledger.charges() == 1


async def test_same_key_for_another_account_is_refused(make_client: MakeClient):
    client = make_client()
    await client.debit_bank_account(account(), 100, "USD", "ach-k")
    other = await client.debit_bank_account(account(kind=SAVINGS), 100, "USD", "ach-k")
    assert isinstance(other, Error) and "different payment" in other.reason


async def test_authorize_command_debits_the_account(make_client: MakeClient):
    details = account(kind=SAVINGS)
    command = Authorize(details, 4200, "USD", "pay-ach-7")
    answer = await gateway_authorizer(make_client())(command)
    assert isinstance(answer, GatewayApproval)
    assert details.account_number.wiped
    declined = await gateway_authorizer(make_client())(
        Authorize(account("000111111113"), 1, "USD", "p8")
    )
    assert declined == GatewayDecline("account_closed", "the bank account is closed")


async def test_a_gateway_without_bank_debits_fails_cleanly_and_wipes():
    class CardsOnly:
        async def sale(self, *args: object, **kwargs: object) -> object:
            raise AssertionError("a bank account is never sent as a card")

    details = account()
    result = await send_authorization(CardsOnly(), Authorize(details, 1, "USD", "p9"))  # type: ignore[arg-type]
    assert result == Error(NO_BANK_DEBIT_REASON, retryable=False)
    assert details.routing_number.wiped and details.account_number.wiped


async def test_store_card_is_refused_with_a_bank_account(keys, sandbox: RunningSandbox):
    token = encrypt_bank_account(account(), keys.encryption_key)
    answer = await sandbox.processor.handle(
        "POST",
        "/v1/sales",
        "ach-store",
        {"amount_minor": 1, "currency": "USD", "bank_account": token, "store_card": True},
    )
    assert answer.status == 400 and answer.body["message"] == "only cards can be stored"


def test_the_bank_account_jwe_holds_the_numbers_and_the_type(keys):
    details = account(kind=SAVINGS)
    token = encrypt_bank_account(details, keys.encryption_key)
    assert details.routing_number.wiped and details.account_number.wiped
    plaintext = DecryptionKeys([(keys.kid, keys.private)]).decrypt(token)
    assert json.loads(plaintext) == {
        "routing_number": TEST_ROUTING_NUMBER,
        "account_number": SUCCESS_BANK_ACCOUNT,
        "account_type": "savings",
    }
    assert SUCCESS_BANK_ACCOUNT.encode() not in token.encode()


async def test_in_process_sandbox_debits_the_same_way():
    gateway = InProcessGateway()
    assert isinstance(gateway, BankDebitGateway)
    result = await gateway.debit_bank_account(account(), 100, "USD", "ach-in-1")
    assert isinstance(result, Approved)
    declined = await gateway.debit_bank_account(account("000333333335"), 100, "USD", "ach-in-2")
    assert isinstance(declined, Declined) and declined.code == "debit_not_authorized"


async def test_no_bank_digits_anywhere_but_inside_the_jwe(
    make_client: MakeClient,
    sandbox: RunningSandbox,
    keys,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
):
    caplog.set_level(logging.DEBUG)
    client = make_client()
    numbers = [SUCCESS_BANK_ACCOUNT, *DECLINE_BANK_ACCOUNTS, "98765432109876543"]
    sandbox.faults.drop_responses = 1  # include the unknown-outcome path
    results = []
    with structlog.testing.capture_logs() as events:
        for index, number in enumerate(numbers):
            results.append(
                await client.debit_bank_account(
                    account(number), 100 + index, "USD", f"scan-{index}"
                )
            )
    arrivals = sandbox.processor.arrivals
    bank_arrivals = [a for a in arrivals if "bank_account" in a]
    assert len(bank_arrivals) == len(numbers)
    for arrival in bank_arrivals:
        assert arrival["bank_account"]["kid"] == keys.kid
    out = capsys.readouterr()
    haystack = "\n".join(
        [
            repr(events),
            repr(arrivals),
            repr(sandbox.processor.ledger.as_list()),
            repr(results),
            out.out,
            out.err,
            caplog.text,
        ]
    )
    assert TEST_ROUTING_NUMBER not in haystack
    for number in numbers:
        assert number not in haystack
    # What the gateway's ledger keeps of an account: its last two digits.
    assert {len(entry.last_four) for entry in sandbox.processor.ledger.entries} == {2}
