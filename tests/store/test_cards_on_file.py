"""Cards on file: only the gateway's token with brand, last four and expiry month/year,
keyed by customer; saving and deleting are audited; no PAN ever reaches the table."""

import re
import uuid
from datetime import date

import psycopg
import pytest
from _store_helpers import new_payment

from payivr.calls.charging import gateway_authorizer, keep_cards_in
from payivr.core.bank import AccountType
from payivr.core.cards import Brand, MaskedCard, SecretDigits
from payivr.core.events import (
    Authorize,
    BankAccountDetails,
    CardDetails,
    GatewayApproval,
    PaymentMethod,
    Step,
    StepStatus,
)
from payivr.gateway import Approved, InProcessGateway
from payivr.store import (
    CardDataRefused,
    CardOnFileNotFound,
    CardsOnFile,
    Customer,
    GatewayToken,
    NoCustomerReference,
    PaymentStore,
)

TOKEN = GatewayToken("tok_0a1b2c3d4e5f", Brand.VISA, "4242", 12, 2030)
ALICE = Customer(caller_number="+15551230000", crm_record_id="0035g00000XyZ12AAB")


@pytest.fixture
def cards(database, clock) -> CardsOnFile:  # type: ignore[no-untyped-def]
    return CardsOnFile(database, clock=clock)


async def test_save_list_get_delete(cards: CardsOnFile, store: PaymentStore):
    saved = await cards.save(ALICE, TOKEN, actor="Alice Agent")
    assert (saved.token, saved.brand, saved.last_four) == ("tok_0a1b2c3d4e5f", Brand.VISA, "4242")
    assert (saved.expiry_month, saved.expiry_year) == (12, 2030)
    assert saved.masked_card == MaskedCard(Brand.VISA, "4242")
    assert await cards.get(saved.id) == saved
    assert await cards.list_for(ALICE) == [saved]

    deleted = await cards.delete(saved.id, actor="Alice Agent")
    assert deleted == saved
    assert await cards.list_for(ALICE) == []
    with pytest.raises(CardOnFileNotFound):
        await cards.get(saved.id)
    with pytest.raises(CardOnFileNotFound):
        await cards.delete(saved.id)
    actions = [(e.action, e.detail, e.actor) for e in await store.list_audit()]
    assert actions == [
        ("card_on_file.saved", "Visa ending 4242", "Alice Agent"),
        ("card_on_file.deleted", "Visa ending 4242", "Alice Agent"),
    ]


async def test_cards_are_found_by_caller_number_or_crm_record_id(cards: CardsOnFile, clock):
    by_number = await cards.save(Customer(caller_number="+15550001111"), TOKEN)
    clock.advance(seconds=1)
    other = GatewayToken("tok_second", Brand.AMEX, "0005", 9, 2029)
    by_both = await cards.save(Customer("+15550001111", "crm-42"), other)
    clock.advance(seconds=1)
    third = GatewayToken("tok_third", Brand.MASTERCARD, "4444")
    by_crm = await cards.save(Customer(crm_record_id="crm-42"), third)

    assert await cards.list_for(Customer(caller_number="+15550001111")) == [by_both, by_number]
    assert [c.token for c in await cards.list_for(Customer(crm_record_id="crm-42"))] == [
        "tok_third",
        "tok_second",
    ]
    assert len(await cards.list_for(Customer("+15550001111", "crm-42"))) == 3
    assert await cards.list_for(Customer(caller_number="+15559999999")) == []
    assert by_crm.expiry_month is None and not by_crm.expired(date(2099, 1, 1))
    assert by_both.expired(date(2029, 10, 1)) and not by_both.expired(date(2029, 9, 30))


async def test_saving_the_same_token_twice_keeps_one_card(cards: CardsOnFile, store):
    first = await cards.save(ALICE, TOKEN)
    again = await cards.save(ALICE, TOKEN)
    assert again == first
    assert len(await cards.list_for(ALICE)) == 1
    assert [e.action for e in await store.list_audit()] == ["card_on_file.saved"]


async def test_a_customer_needs_a_reference():
    with pytest.raises(ValueError, match="caller number or a CRM record id"):
        Customer()


@pytest.mark.parametrize(
    ("customer", "token", "field"),
    [
        (ALICE, GatewayToken("4242424242424242", Brand.VISA, "4242"), "gateway_token"),
        (ALICE, GatewayToken("tok_4242424242424242", Brand.VISA, "4242"), "gateway_token"),
        (Customer(crm_record_id="4000000000000002"), TOKEN, "crm_record_id"),
        (Customer(caller_number="378282246310005"), TOKEN, "caller_number"),
    ],
)
async def test_a_pan_is_refused_wherever_it_is_put(cards: CardsOnFile, customer, token, field):
    with pytest.raises(CardDataRefused) as refused:
        await cards.save(customer, token)
    assert refused.value.field == field
    assert "4242424242424242" not in str(refused.value)


async def test_the_table_refuses_a_pan_even_without_the_store(database_url, cards: CardsOnFile):
    await cards.save(ALICE, TOKEN)
    with psycopg.connect(database_url) as conn, pytest.raises(psycopg.errors.CheckViolation):
        conn.execute("UPDATE cards_on_file SET gateway_token = 'tok_5555555555554444'")


def test_gateway_token_is_checked_and_hidden():
    with pytest.raises(ValueError, match="last_four"):
        GatewayToken("tok", Brand.VISA, "42")
    with pytest.raises(ValueError, match="month and a year"):
        GatewayToken("tok", Brand.VISA, "4242", 12, None)
    assert "tok_0a1b2c3d4e5f" not in repr(TOKEN)


def _dump(url: str) -> str:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT t::text FROM cards_on_file t").fetchall()
        audit = conn.execute("SELECT t::text FROM audit_events t").fetchall()
    return "\n".join(row[0] for row in rows + audit)


async def test_a_payment_that_keeps_its_card_stores_only_the_token(
    database, database_url, store: PaymentStore, cards: CardsOnFile
):
    """The caller pressed 1: the sale asks for a token, the token is filed under the
    payment's customer, the caller hears it was kept. No PAN, CVC or keyed expiry form."""
    payment_id = await store.create_payment(new_payment())
    gateway = InProcessGateway()
    charge = gateway_authorizer(gateway, keep_card=keep_cards_in(cards))
    card = CardDetails(
        SecretDigits("5555555555554444"),
        SecretDigits("0939"),
        SecretDigits("737"),
        "94105",
        Brand.MASTERCARD,
    )
    answer = await charge(Authorize(card, 1999, "USD", str(payment_id), store_card=True))

    assert isinstance(answer, GatewayApproval) and answer.card_stored
    assert card.number.wiped
    (kept,) = await cards.list_for(Customer(caller_number="+15551230000"))
    assert (kept.brand, kept.last_four, kept.expiry_month, kept.expiry_year) == (
        Brand.MASTERCARD,
        "4444",
        9,
        2039,
    )
    assert kept.payment_id == payment_id
    assert kept.customer == Customer("+15551230000", "0035g00000XyZ12AAB")
    # The token charges the card later (pay by text).
    again = await gateway.sale_with_token(kept.token, 500, "USD", "pay-by-text-1")
    assert isinstance(again, Approved) and again.last_four == "4444"

    dump = _dump(database_url)
    assert "5555555555554444" not in re.sub(r"\D", "", dump)
    # Random ids, tokens and timestamps may hold any short digit run: leave them out.
    cleaned = re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "<id>", dump)
    cleaned = re.sub(r"tok_[0-9a-f]+", "<token>", cleaned)
    cleaned = re.sub(
        r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(\.\d+)?([+-]\d\d(:\d\d)?)?", "<t>", cleaned
    )
    for secret in ("0939", "09/39", "737", "94105"):
        assert not re.search(rf"(?<!\d){re.escape(secret)}(?!\d)", cleaned), secret
    # What is kept of the expiry is the gateway's month and year, in their own columns.
    assert ",9,2039," in dump


async def test_no_token_is_kept_unless_the_caller_asked(store: PaymentStore, cards: CardsOnFile):
    payment_id = await store.create_payment(new_payment())
    charge = gateway_authorizer(InProcessGateway(), keep_card=keep_cards_in(cards))
    card = CardDetails(
        SecretDigits("4242424242424242"), SecretDigits("1230"), None, None, Brand.VISA
    )
    answer = await charge(Authorize(card, 100, "USD", str(payment_id)))
    assert isinstance(answer, GatewayApproval) and not answer.card_stored
    assert await cards.list_for(Customer(caller_number="+15551230000")) == []


async def test_a_card_that_cannot_be_kept_is_still_a_paid_payment(
    store: PaymentStore, cards: CardsOnFile
):
    payment_id = await store.create_payment(new_payment(caller_number=None, crm_record_id=None))
    with pytest.raises(NoCustomerReference):
        await cards.save_for_payment(payment_id, TOKEN)
    charge = gateway_authorizer(InProcessGateway(), keep_card=keep_cards_in(cards))
    card = CardDetails(
        SecretDigits("4242424242424242"), SecretDigits("1230"), None, None, Brand.VISA
    )
    answer = await charge(Authorize(card, 100, "USD", str(payment_id), store_card=True))
    assert isinstance(answer, GatewayApproval) and not answer.card_stored


# --------------------------------------------------------------------------- bank payments


async def test_a_bank_payment_keeps_its_own_steps_and_the_account_type_and_last_two(
    database_url, store: PaymentStore
):
    payment_id = await store.create_payment(new_payment(payment_method=PaymentMethod.ACH))
    payment = await store.get_payment(payment_id)
    assert payment.payment_method is PaymentMethod.ACH
    assert set(payment.steps) == {
        Step.AMOUNT,
        Step.ROUTING_NUMBER,
        Step.ACCOUNT_NUMBER,
        Step.ACCOUNT_TYPE,
    }
    for step in payment.steps:
        await store.update_step(payment_id, step, StepStatus.DONE)
    await store.record_bank_account(payment_id, account_type=AccountType.SAVINGS, last_two="89")
    with pytest.raises(ValueError, match="two digits"):
        await store.record_bank_account(
            payment_id, account_type=AccountType.SAVINGS, last_two="6789"
        )
    payment = await store.get_payment(payment_id)
    assert (payment.bank_account_type, payment.bank_account_last_two) == (AccountType.SAVINGS, "89")
    assert set(payment.steps.values()) == {StepStatus.DONE}
    assert (payment.brand, payment.last_four) == (None, None)

    card_payment = await store.get_payment(await store.create_payment(new_payment()))
    assert card_payment.payment_method is PaymentMethod.CARD
    assert Step.ROUTING_NUMBER not in card_payment.steps and len(card_payment.steps) == 5


async def test_a_bank_debit_leaves_no_routing_or_account_number(
    database_url, store: PaymentStore, cards: CardsOnFile
):
    payment_id = await store.create_payment(new_payment(payment_method=PaymentMethod.ACH))
    charge = gateway_authorizer(InProcessGateway(), keep_card=keep_cards_in(cards))
    account = BankAccountDetails(
        SecretDigits("110000000"), SecretDigits("000123456789"), AccountType.CHECKING
    )
    answer = await charge(Authorize(account, 100, "USD", str(payment_id)))
    assert isinstance(answer, GatewayApproval)
    assert account.account_number.wiped
    await store.record_bank_account(payment_id, account_type=account.account_type, last_two="89")
    with psycopg.connect(database_url) as conn:
        dump = "\n".join(
            row[0] for row in conn.execute("SELECT t::text FROM payments t").fetchall()
        )
    assert "110000000" not in dump and "123456789" not in dump
    assert "checking" in dump


async def test_unknown_payment_ids_do_not_keep_cards(cards: CardsOnFile):
    with pytest.raises(NoCustomerReference):
        await cards.save_for_payment(uuid.uuid4(), TOKEN)
