"""The HTTP client against the TLS sandbox: test cards, card on file, void and refund."""

import json

import pytest
from _gateway_helpers import MakeClient, buffers, card
from logbuffer import payivr_log_buffer

from payivr.core.cards import Brand
from payivr.core.events import GatewayApproval, GatewayDecline
from payivr.gateway import Approved, Declined, Error, RequestNotFound, to_flow_event
from payivr.gateway.sandbox import RunningSandbox
from payivr.gateway.testcards import DECLINE_CARDS, SUCCESS_CARDS


@pytest.mark.parametrize(("number", "brand"), list(SUCCESS_CARDS.items()))
async def test_success_cards_are_approved(
    make_client: MakeClient, sandbox: RunningSandbox, number: str, brand: Brand
):
    details = card(number)
    result = await make_client().sale(details, 1999, "GBP", f"pay-{number}")

    assert isinstance(result, Approved)
    assert result.brand is brand
    assert result.last_four == number[-4:]
    assert to_flow_event(result) == GatewayApproval(result.reference, brand, number[-4:])
    assert sandbox.processor.ledger.charges(f"pay-{number}") == 1
    assert all(buffer.wiped for buffer in buffers(details))


@pytest.mark.parametrize(("number", "code"), list(DECLINE_CARDS.items()))
async def test_decline_cards_give_their_reason(
    make_client: MakeClient, sandbox: RunningSandbox, number: str, code
):
    result = await make_client().sale(card(number), 1999, "GBP", f"pay-{number}")

    assert result == Declined(code.value, code.message)
    assert to_flow_event(result) == GatewayDecline(code.value, code.message)
    assert sandbox.processor.ledger.charges() == 0


async def test_other_luhn_valid_cards_approve_and_bad_ones_decline(
    make_client: MakeClient, sandbox: RunningSandbox
):
    client = make_client()
    approved = await client.sale(card("4111111111111111"), 500, "USD", "pay-other")
    assert isinstance(approved, Approved) and approved.last_four == "1111"
    # A client that skipped validation: the gateway still refuses a bad number.
    not_luhn = await client.sale(card("4242424242424241"), 500, "USD", "pay-luhn")
    assert isinstance(not_luhn, Declined) and not_luhn.code == "incorrect_number"
    expired = await client.sale(card("4242424242424242", expiry="0120"), 500, "USD", "pay-old")
    assert isinstance(expired, Declined) and expired.code == "expired_card"
    assert sandbox.processor.ledger.charges() == 1


async def test_tokenize_charges_nothing_and_the_token_can_be_charged(
    make_client: MakeClient, sandbox: RunningSandbox
):
    client = make_client()
    details = card("378282246310005", expiry="0929")
    stored = await client.tokenize(details, "card-on-file-1")

    assert isinstance(stored, Approved) and stored.token
    assert (stored.brand, stored.last_four) == (Brand.AMEX, "0005")
    assert (stored.token_expiry_month, stored.token_expiry_year) == (9, 2029)
    assert all(buffer.wiped for buffer in buffers(details))
    assert sandbox.processor.ledger.charges() == 0

    charged = await client.sale_with_token(stored.token, 4200, "GBP", "pay-by-text-1")
    assert isinstance(charged, Approved) and charged.last_four == "0005"
    assert sandbox.processor.ledger.charges("pay-by-text-1") == 1


async def test_stored_card_with_no_funds_tokenizes_but_declines_a_charge(
    make_client: MakeClient,
):
    client = make_client()
    stored = await client.tokenize(card("4000000000009995"), "cof-2")
    assert isinstance(stored, Approved) and stored.token
    charged = await client.sale_with_token(stored.token, 100, "GBP", "pay-cof-2")
    assert charged == Declined("insufficient_funds", "the card has insufficient funds")
    lost = await client.tokenize(card("4000000000009987"), "cof-3")
    assert isinstance(lost, Declined) and lost.code == "lost_card"


async def test_sale_can_store_the_card_too(make_client: MakeClient):
    result = await make_client().sale(
        card("5555555555554444", expiry="1128"), 100, "EUR", "pay-store", store_card=True
    )
    assert isinstance(result, Approved) and result.token
    assert (result.token_expiry_month, result.token_expiry_year) == (11, 2028)


async def test_void_and_refunds(make_client: MakeClient, sandbox: RunningSandbox):
    client = make_client()
    sale = await client.sale(card("4242424242424242"), 1000, "GBP", "pay-r")
    assert isinstance(sale, Approved)

    part = await client.refund(sale.reference, 400, "refund-1")
    assert isinstance(part, Approved) and part.reference != sale.reference
    too_much = await client.refund(sale.reference, 700, "refund-2")
    assert isinstance(too_much, Declined) and too_much.code == "amount_too_large"
    rest = await client.refund(sale.reference, 600, "refund-3")
    assert isinstance(rest, Approved)
    again = await client.void(sale.reference, "void-1")
    assert isinstance(again, Declined)

    other = await client.sale(card("4242424242424242"), 300, "GBP", "pay-v")
    assert isinstance(other, Approved)
    voided = await client.void(other.reference, "void-2")
    assert isinstance(voided, Approved)
    unknown = await client.void("ch_nope", "void-3")
    assert isinstance(unknown, Error) and not unknown.retryable

    kinds = [entry.kind for entry in sandbox.processor.ledger.entries]
    assert kinds == ["sale", "refund", "refund", "sale", "void"]


async def test_status_by_key(make_client: MakeClient):
    client = make_client()
    assert await client.status("never-sent") == RequestNotFound()
    approved = await client.sale(card("4242424242424242"), 100, "GBP", "pay-s")
    assert await client.status("pay-s") == approved
    declined = await client.sale(card("4000000000000002"), 100, "GBP", "pay-d")
    assert await client.status("pay-d") == declined


async def test_payivr_warns_loudly_once_when_its_gateway_is_the_sandbox(
    make_client: MakeClient,
) -> None:
    client = make_client()
    with payivr_log_buffer() as log:
        assert await client.check() is None  # the start-up probe
        await client.check()
    warnings = [
        json.loads(line)
        for line in log.getvalue().splitlines()
        if json.loads(line)["event"] == "gateway_is_the_sandbox"
    ]
    assert len(warnings) == 1 and warnings[0]["level"] == "warning"
    assert "charges nothing" in warnings[0]["warning"]
