"""What the agent does from the phone under ``payivr serve``'s wiring: ``*7`` files the payment
under the agent's console account (the endpoint → account mapping of ``payivr agent add``), ``*7``
alone opens the request form in that agent's console, and ``*7`` works again on a call that
already paid (in payivr's own bridge, where Asterisk's feature code does not run)."""

from __future__ import annotations

import uuid

from payivr.core.events import Outcome
from tests.e2e.console_client import signed_in_agent
from tests.e2e.harness import AMOUNT_MINOR, System, heard, key_card


async def test_star7_payments_are_the_agents_own_and_star7_works_again(system: System) -> None:
    caller, agent = system.phones()
    alice = await signed_in_agent(system, "alice", "PJSIP/desk-7", agent.endpoint)
    try:
        await system.target.connect(caller, agent)
        await agent.press(f"*7{AMOUNT_MINOR}#")
        started = await system.wait_event(lambda e: e["type"] == "payment_started")
        assert started["agent"] == "alice"
        first = started["payment"]
        await key_card(caller)
        finished = await system.finished()
        assert finished["outcome"] == "approved"
        await heard(caller, "returning-to-agent")
        await system.wait_bridged(caller, agent)

        # Her own payment: status, history, the CRM activity name her.
        status, shown = await alice.call("GET", f"/api/v1/payments/{first}")
        assert status == 200 and shown["agent"] == "alice"
        status, history = await alice.call("GET", "/api/v1/payments")
        assert status == 200 and first in [p["id"] for p in history["payments"]]
        assert (await system.crm_activity(first))["Agent"] == "alice"
        stored = await system.running.store.get_payment(uuid.UUID(first))
        assert stored.agent == "alice"

        # *7 again on the same call (now in payivr's bridge), and she cancels it.
        await agent.press("*7500#")
        again = await system.wait_event(
            lambda e: e["type"] == "payment_started" and e["payment"] != first
        )
        assert (again["agent"], again["amount_minor"], again["call"]) == (
            "alice",
            500,
            started["call"],
        )
        await heard(caller, "confirm-amount")
        status, answer = await alice.call("POST", f"/api/v1/payments/{again['payment']}/cancel")
        assert status == 202, answer
        cancelled = await system.wait_event(
            lambda e: e["type"] == "payment_finished" and e["payment"] == again["payment"]
        )
        assert cancelled["outcome"] == "agent_cancelled"
        await system.wait_bridged(caller, agent)
        assert agent.received_dtmf == ""
    finally:
        await alice.close()
    await system.hang_up_all(caller, agent)
    await system.check_nothing_left()


async def test_star7_alone_opens_the_request_form_in_the_agents_console(system: System) -> None:
    caller, agent = system.phones()
    alice = await signed_in_agent(system, "alice", agent.endpoint)
    try:
        await system.target.connect(caller, agent)
        await agent.press("*7")  # no amount: the phone waits PAYIVR_AMOUNT_TIMEOUT, then asks
        form = await alice.event(lambda e: e["type"] == "request_form")
        assert (form["agent"], form["amount_minor"], form["reason"]) == ("alice", None, None)
        body = {"call": "current", "item": "Annual plan", "amount": "137.42"}
        status, answer = await alice.call("POST", "/api/v1/payments", body)
        assert status == 201, answer
        assert answer["call"] == form["call"]
        await key_card(caller)
        assert (await system.finished())["outcome"] == Outcome.APPROVED.value
        await system.wait_bridged(caller, agent)

        # Again on the same call, an amount over the maximum: the form, filled in, says why.
        too_much = system.config.flow.max_amount_minor + 1
        await agent.press(f"*7{too_much}#")
        refused = await alice.event(
            lambda e: e["type"] == "request_form" and e["amount_minor"] is not None
        )
        assert refused["amount_minor"] == too_much
        assert "maximum" in refused["reason"]
        # And *7 then # alone: the empty form again.
        alice.events.clear()
        await agent.press("*7#")
        again = await alice.event(lambda e: e["type"] == "request_form")
        assert (again["amount_minor"], again["reason"]) == (None, None)
    finally:
        await alice.close()
    await system.hang_up_all(caller, agent)
    await system.check_nothing_left()


async def test_an_endpoint_with_a_long_number_is_not_refused_as_card_data(
    system: System,
) -> None:
    """A phone numbered like a DID (7+ digits) is filed under its account's name."""
    caller = system.target.caller_phone("caller", "1102")
    agent = system.target.agent_phone("agent", "5550001101")
    bob = await signed_in_agent(system, "bob", agent.endpoint)
    await bob.close()
    await system.target.connect(caller, agent)
    await agent.press("*7999#")
    started = await system.wait_event(lambda e: e["type"] == "payment_started")
    assert started["agent"] == "bob"
    stored = await system.running.store.get_payment(uuid.UUID(started["payment"]))
    assert stored.agent == "bob"
    await system.hang_up_all(caller, agent)
    await system.finished(None)
    await system.check_nothing_left()
