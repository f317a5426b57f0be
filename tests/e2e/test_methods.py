"""Bank account (ACH) payments and keeping a card on file, end to end on the simulators."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from payivr.calls.requests import PaymentRequest
from payivr.core.cards import Brand
from payivr.core.events import Outcome, PaymentMethod
from payivr.store.cards_on_file import CardsOnFile, Customer
from tests.e2e.harness import System, answer_prompt, heard, key_card
from tests.e2e.phones import prompts

ROUTING = "110000000"  # passes the ABA checksum (Stripe's test routing number)
ACCOUNT = "000123456789"  # the sandbox approves it


async def test_a_bank_account_payment_on_a_taken_over_call(system: System) -> None:
    caller, agent = system.phones()
    request = PaymentRequest("Storage", 13742, "USD", "alice", method=PaymentMethod.ACH)
    payment_id = await system.takeover(caller, agent, request)

    await answer_prompt(caller, "confirm-amount", "1")
    await answer_prompt(caller, "enter-routing-number", ROUTING)
    await answer_prompt(caller, "routing-number-ending-in", "1")
    await answer_prompt(caller, "enter-account-number", ACCOUNT + "#")
    await answer_prompt(caller, "account-number-ending-in", "1")
    await answer_prompt(caller, "choose-account-type", "1")
    await answer_prompt(caller, "account-type-checking", "1")

    finished = await system.finished()
    assert finished["outcome"] == "approved"
    assert finished["bank_account"] == "checking account ending 89"
    assert agent.received_dtmf == ""
    activity = await system.crm_activity(payment_id)  # delivered: the outcome is stored
    assert activity["Payment Status"] == "Success"
    stored = await system.running.store.get_payment(uuid.UUID(payment_id))
    assert stored.outcome is Outcome.APPROVED
    assert stored.bank_account_last_two == "89"
    # The agent saw the account only as its type and last two digits.
    steps = [e for e in system.events if e["type"] == "step" and e["payment"] == payment_id]
    assert {e["step"] for e in steps} >= {"routing_number", "account_number", "account_type"}
    assert not any(ACCOUNT in str(e) or ROUTING in str(e) for e in system.events)


@pytest.mark.parametrize("flow_settings", [{"offer_card_on_file": True}])
async def test_the_caller_keeps_the_card_on_file(
    system: System, flow_settings: dict[str, Any]
) -> None:
    caller, agent = system.phones()
    request = PaymentRequest("Storage", 2500, "USD", "alice", crm_record_id="crm-77")
    payment_id = await system.takeover(caller, agent, request)
    await key_card(caller)
    await answer_prompt(caller, "offer-card-on-file", "1")
    finished = await system.finished()
    assert finished["outcome"] == "approved"
    await heard(caller, "card-kept-on-file")
    cards = CardsOnFile(system.running.database)
    (kept,) = await cards.list_for(Customer(crm_record_id="crm-77"))
    assert (kept.brand, kept.last_four) == (Brand.VISA, "4242")
    assert kept.token and "4242424242424242" not in kept.token
    assert payment_id


async def test_the_agent_offers_to_keep_the_card_for_this_payment(system: System) -> None:
    """The operator's default is off; the agent ticks the offer for one payment."""
    caller, agent = system.phones()
    request = PaymentRequest(
        "Storage", 2500, "USD", "alice", crm_record_id="crm-78", offer_card_on_file=True
    )
    await system.takeover(caller, agent, request)
    await key_card(caller)
    await answer_prompt(caller, "offer-card-on-file", "1")
    await heard(caller, "card-kept-on-file")
    (kept,) = await CardsOnFile(system.running.database).list_for(Customer(crm_record_id="crm-78"))
    assert (kept.brand, kept.last_four) == (Brand.VISA, "4242")


@pytest.mark.parametrize("flow_settings", [{"offer_card_on_file": True}])
async def test_the_agent_turns_the_offer_off_for_this_payment(
    system: System, flow_settings: dict[str, Any]
) -> None:
    caller, agent = system.phones()
    request = PaymentRequest(
        "Storage", 2500, "USD", "alice", crm_record_id="crm-79", offer_card_on_file=False
    )
    await system.takeover(caller, agent, request)
    await key_card(caller)
    finished = await system.finished()
    assert finished["outcome"] == "approved"
    assert "offer-card-on-file" not in prompts(caller)
    assert (
        await CardsOnFile(system.running.database).list_for(Customer(crm_record_id="crm-79")) == []
    )
