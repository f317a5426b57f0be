"""The warm transfer and the pay line as the shipped dialplan has them, nothing preset: the
agent blind-transfers with #1 7291 (Dial()'s t option, features.conf's blindxfer) and their
console asks for item and amount while the caller holds, or the caller comes back to them;
a caller of 7290 keys the amount."""

from __future__ import annotations

import uuid

from payivr.core.events import Outcome
from tests.e2e.console_client import signed_in_agent
from tests.e2e.harness import (
    AMOUNT_MINOR,
    ITEM,
    Call,
    System,
    answer_prompt,
    heard,
    heard_again,
    key_card,
)
from tests.e2e.targets import BRIDGE_PREFIX


async def test_blind_transfer_to_7291_then_the_agents_console_asks_for_the_amount(
    system: System,
) -> None:
    caller, agent = system.phones()
    alice = await signed_in_agent(system, "alice", agent.endpoint)
    try:
        await system.target.connect(caller, agent)
        await agent.press("#1")
        await agent.press("7291")
        started = await system.wait_event(
            lambda e: e["type"] == "call_started" and e["entry"] == "transfer"
        )
        assert started["agent"] == "alice"
        form = await alice.event(lambda e: e["type"] == "request_form")
        assert form["call"] == started["call"]
        await heard(caller, "transfer-hold")
        await agent.wait_for(lambda p: p.leg is None)  # the transferring leg hung up
        body = {"call": "current", "item": ITEM, "amount": "137.42"}
        status, answer = await alice.call("POST", "/api/v1/payments", body)
        assert status == 201, answer
        call = Call("transfer", caller, agent, answer["payment"])
        await key_card(caller)
        await heard(caller, "returning-to-agent")
        await system.wait_bridged(caller, agent)  # payivr called her back
        await system.check_after_payment(call, Outcome.APPROVED)
        assert (await system.crm_activity(call.payment_id))["Agent"] == "alice"
        assert caller.received_dtmf == ""  # neither #1 nor 7291 reached the customer
    finally:
        await alice.close()
    await system.hang_up_all(caller, agent)
    await system.check_nothing_left()


async def test_without_a_request_the_transferred_caller_goes_back_to_the_agent(
    system: System,
) -> None:
    system.config.calls.transfer_request_timeout = 1.0
    caller, agent = system.phones()
    await system.target.connect(caller, agent)
    transferring = agent.leg
    await agent.press("#17291")
    await heard(caller, "transfer-hold")
    # Dialled back after the timeout, on a new leg. (Not a wait for the transferring leg to be
    # gone: on a loaded machine the dial-back may come first, and the phone never shows it.)
    await system.wait_bridged(caller, agent, within=10)
    assert agent.leg != transferring
    bridge = await system.bridge_of(caller)
    assert bridge is not None and bridge.startswith(BRIDGE_PREFIX)
    assert not any(e["type"] == "payment_started" for e in system.events)
    await system.hang_up_all(caller, agent)
    await system.check_nothing_left()


async def test_the_shipped_pay_line_asks_the_caller_for_the_amount(system: System) -> None:
    caller, _ = system.phones()
    await system.target.call_entry(caller, "payline-keyed", None)
    await answer_prompt(caller, "enter-amount", "0#")  # no amount: asked again
    await heard(caller, "invalid-amount")
    await answer_prompt(caller, "enter-amount", f"{AMOUNT_MINOR}#")
    started = await system.wait_event(lambda e: e["type"] == "payment_started")
    assert (started["entry"], started["amount_minor"]) == ("payline", AMOUNT_MINOR)
    await key_card(caller)
    finished = await system.finished()
    assert finished["outcome"] == Outcome.APPROVED.value
    stored = await system.running.store.get_payment(uuid.UUID(started["payment"]))
    assert (stored.amount_minor, stored.item_name) == (AMOUNT_MINOR, "Payment")
    await heard(caller, "goodbye")
    await system.check_nothing_left()


async def test_a_pay_line_caller_who_keys_no_valid_amount_hears_why(system: System) -> None:
    caller, _ = system.phones()
    await system.target.call_entry(caller, "payline-keyed", None)
    for attempt in range(1, system.config.flow.max_attempts + 1):
        await heard_again(caller, "enter-amount", attempt)
        await caller.press("#")
        await heard_again(caller, "invalid-amount", attempt)
    await heard(caller, "goodbye")  # the dialplan's fallback after payivr's apology
    assert not any(e["type"] == "payment_started" for e in system.events)
