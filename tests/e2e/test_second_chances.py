"""The caller gets a second chance, end to end through payivr's own wiring: another card
after a decline, the field the processor refused keyed again (until the tries run out), a
pause between digits asked again, and the agent sending the caller back to a step through
the API."""

from __future__ import annotations

import uuid
from typing import Any

import aiohttp
import pytest

from payivr.calls.requests import PaymentRequest
from payivr.console.accounts import add_api_token
from tests.e2e.harness import (
    System,
    answer_again,
    answer_prompt,
    heard,
    heard_again,
    key_card,
    key_card_again,
)
from tests.e2e.phones import prompts

DECLINED = "4000000000000002"  # the sandbox declines it (generic_decline)
WRONG_CVC = "4000000000000127"  # the sandbox declines it (incorrect_cvc)
VISA = "4242424242424242"
REQUEST = PaymentRequest("Annual plan", 13742, "USD", "alice")


async def test_a_declined_card_then_another_card_is_approved(system: System) -> None:
    caller, agent = system.phones()
    payment_id = await system.takeover(caller, agent, REQUEST)
    await key_card(caller, DECLINED)
    await heard(caller, "declined-try-another-card")
    await heard_again(caller, "enter-card-number", 2)
    await key_card_again(caller, VISA, 2)
    finished = await system.finished()
    assert finished["outcome"] == "approved"
    assert finished["card"] == "Visa ending 4242"
    stored = await system.running.store.get_payment(uuid.UUID(payment_id))
    assert stored.idempotency_key == f"{payment_id}-try-2", "the charge a recovery asks about"
    assert DECLINED not in str(system.events) and VISA not in str(system.events)
    assert agent.received_dtmf == ""


async def test_a_refused_security_code_is_keyed_again_until_the_tries_run_out(
    system: System,
) -> None:
    caller, agent = system.phones()
    await system.takeover(caller, agent, REQUEST)
    await key_card(caller, WRONG_CVC)
    for times in (2, 3):
        await heard_again(caller, "declined-check-security-code", times - 1)
        await answer_again(caller, "enter-security-code", "123", times)
        await answer_again(caller, "security-code-entered", "1", times)
    finished = await system.finished()
    assert finished["outcome"] == "declined"
    assert prompts(caller).count("payment-declined") == 3  # the first try and two more
    assert prompts(caller).count("enter-card-number") == 1, "the card number was kept"


@pytest.mark.parametrize("flow_settings", [{"inter_digit_timeout": 1.0}])
async def test_a_pause_between_digits_asks_for_them_again(
    system: System, flow_settings: dict[str, Any]
) -> None:
    caller, agent = system.phones()
    payment_id = await system.takeover(caller, agent, REQUEST)
    await answer_prompt(caller, "confirm-amount", "1")
    await answer_prompt(caller, "enter-card-number", "4242")
    await heard(caller, "incomplete-entry")
    await heard_again(caller, "enter-card-number", 2)
    await key_card_again(caller, VISA, 1)
    assert (await system.finished())["outcome"] == "approved"
    steps = [e for e in system.events if e["type"] == "step" and e["payment"] == payment_id]
    assert any("paused between digits" in (e.get("detail") or "") for e in steps)


async def test_the_agent_sends_the_caller_back_to_the_card_number(system: System) -> None:
    caller, agent = system.phones()
    name = await system.agent_account(agent)  # the operator's account on the agent's phone
    request = PaymentRequest("Annual plan", 13742, "USD", name)
    payment_id = await system.takeover(caller, agent, request)
    token = await add_api_token(system.running.database, name, "crm")
    await answer_prompt(caller, "confirm-amount", "1")
    await answer_prompt(caller, "enter-card-number", DECLINED + "#")
    await answer_prompt(caller, "card-ending-in", "1")
    await heard(caller, "enter-expiry")
    async with aiohttp.ClientSession(
        system.running.console_url, headers={"Authorization": f"Bearer {token}"}
    ) as http:
        path = f"/api/v1/payments/{payment_id}/reask"
        async with http.post(path, json={"step": "routing_number"}) as refused:
            assert refused.status == 409  # not a step of a card payment
        async with http.post(path, json={"step": "card_number"}) as asked:
            assert asked.status == 202
            assert await asked.json() == {"payment": payment_id, "step": "card_number"}
    await heard(caller, "agent-asks-again")
    await heard_again(caller, "enter-card-number", 2)
    await caller.press(VISA + "#", duration_ms=80, gap_ms=120)
    await answer_again(caller, "card-ending-in", "1", 2)
    await answer_again(caller, "enter-expiry", "1230", 2)
    await answer_prompt(caller, "expiry-is", "1")
    await answer_prompt(caller, "enter-security-code", "123")
    await answer_prompt(caller, "security-code-entered", "1")
    await answer_prompt(caller, "enter-postal-code", "90210#")
    await answer_prompt(caller, "postal-code-is", "1")
    finished = await system.finished()
    assert finished["outcome"] == "approved"
    assert finished["card"] == "Visa ending 4242"
