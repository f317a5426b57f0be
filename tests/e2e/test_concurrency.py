"""Many calls at once in one payivr; a failure in one call ends that call safely (caller back
with the agent) and touches no other (issue 3 §3). Simulator only: faults are injected into
the ARI simulator, and the real-Asterisk test dialplan has a single agent phone."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from structlog.testing import capture_logs

from payivr.calls.payment import PaymentRefused
from payivr.calls.requests import PaymentRequest
from payivr.core.events import Outcome
from payivr.sim.ari import AriSimulator
from tests.e2e.harness import Call, System, heard, key_card
from tests.e2e.phones import prompts

OTHERS = ["star7-talk-through", "inbound-hold", "inbound-talk-through", "payline", "transfer"]


async def start_calls(system: System, failing_mode: str) -> tuple[Call, list[Call]]:
    failing = await system.start_payment(failing_mode, index=0)
    others = [await system.start_payment(mode, index) for index, mode in enumerate(OTHERS, start=1)]
    return failing, others


async def pay_and_check(system: System, call: Call) -> None:
    await key_card(call.caller)
    await heard(call.caller, "goodbye" if call.agent is None else "returning-to-agent")
    if call.agent is not None:
        await system.check_reconnected(call)
    await system.check_after_payment(call, Outcome.APPROVED)


async def bridge_of_call(system: System, call: Call) -> str:
    assert call.agent is not None
    bridge = await system.bridge_of(call.agent)
    assert bridge is not None
    return bridge


async def test_failed_reconnect_in_one_call(system: System, sim: AriSimulator) -> None:
    """Putting the caller back fails once: the outcome is still stored and the caller is put
    back with the agent; five other calls pay meanwhile."""
    failing, others = await start_calls(system, "star7-hold")
    bridge = await bridge_of_call(system, failing)
    sim.fail_next("POST", f"/bridges/{bridge}/addChannel", status=500)
    with capture_logs() as logs:
        await asyncio.gather(
            pay_and_check(system, failing), *(pay_and_check(system, call) for call in others)
        )
    assert any(entry["event"] == "reconnect_failed" for entry in logs)
    await system.hang_up_all(*(phone for c in (failing, *others) for phone in (c.caller, c.agent)))
    await system.check_nothing_left()


async def test_a_failed_barge_in_stop_does_not_break_the_payment(
    system: System, sim: AriSimulator
) -> None:
    """Stopping the prompt for a barge-in fails (500, as Asterisk answers for number:/digits:
    parts) in one call: stopping is best effort, the keys still count, every call pays."""
    sim.sounds.durations["payivr/en/enter-card-number"] = 100.0  # keys always barge in
    failing, others = await start_calls(system, "star7-hold")
    sim.fail_next("DELETE", f"/playbacks/payivr-{failing.payment_id}-2-1", status=500)
    await asyncio.gather(*(pay_and_check(system, call) for call in (failing, *others)))
    assert failing.agent is not None and failing.agent.received_dtmf == ""
    await system.hang_up_all(*(phone for c in (failing, *others) for phone in (c.caller, c.agent)))
    await system.check_nothing_left()


async def test_no_card_is_asked_for_when_privacy_cannot_be_set_up(
    system: System, sim: AriSimulator
) -> None:
    """Asterisk refuses to mute the agent (500) in one call: that payment is refused before
    any prompt (stored as not started, nothing charged), caller and agent stay together; the
    other calls pay."""
    others = [await system.start_payment(mode, index) for index, mode in enumerate(OTHERS, start=1)]
    caller, agent = system.phones(0)
    await system.feature_code(caller, agent)
    agent_channel = agent.leg
    assert agent_channel is not None
    sim.fail_next("POST", f"/channels/{agent_channel}/mute", status=500)
    request = PaymentRequest("Annual plan", 13742, "USD", "alice")
    with capture_logs() as logs:
        with pytest.raises(PaymentRefused, match="refused to keep the agent"):
            await system.running.takeovers.request_for_agent(agent.endpoint, request)
        await asyncio.gather(*(pay_and_check(system, call) for call in others))
    assert any(entry["event"] == "privacy_not_established" for entry in logs)
    assert "enter-card-number" not in prompts(caller)
    await system.wait_bridged(caller, agent)
    refused = await system.wait_event(
        lambda e: (
            e["type"] == "payment_finished"
            and e["agent"] == "alice"
            and e["outcome"] == Outcome.CANCELLED.value
        )
    )
    payment = await system.running.store.get_payment(uuid.UUID(refused["payment"]))
    assert system.sandbox.processor.ledger.charges(refused["payment"]) == 0
    assert payment.outcome in (None, Outcome.CANCELLED)
    await system.hang_up_all(caller, agent, *(p for c in others for p in (c.caller, c.agent)))
    await system.check_nothing_left()
