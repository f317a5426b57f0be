"""Many calls at once in one payivr; a failure in one call ends that call safely (caller back
with the agent) and touches no other (issue 3 §3). Simulator only: faults are injected into
the ARI simulator, and the real-Asterisk test dialplan has a single agent phone."""

from __future__ import annotations

import asyncio
import uuid

from structlog.testing import capture_logs

from payivr.ari.simulator import AriSimulator
from payivr.core.events import Outcome
from tests.e2e.harness import Call, System, answer_prompt, heard, key_card
from tests.e2e.phones import prompts

OTHERS = ["star7-talk-through", "inbound-hold", "inbound-talk-through", "payline", "transfer"]


async def start_calls(system: System, failing_mode: str) -> tuple[Call, list[Call]]:
    failing = await system.start_payment(failing_mode, index=0)
    others = [
        await system.start_payment(mode, index) for index, mode in enumerate(OTHERS, start=1)
    ]
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


async def test_crash_during_entry_in_one_call(system: System, sim: AriSimulator) -> None:
    """Stopping the prompt for a barge-in fails (500) in one call: its payment ends (nothing
    charged, stored as such), the caller hears that it failed and talks to the agent again
    (none of the digits they were keying reach the agent); the others pay."""
    sim.sounds.durations["payivr/en/enter-card-number"] = 100.0  # keys always barge in
    failing, others = await start_calls(system, "star7-hold")
    sim.fail_next("DELETE", f"/playbacks/payivr-{failing.payment_id}-2-1", status=500)

    async def failing_caller() -> None:
        await answer_prompt(failing.caller, "confirm-amount", "1")
        await answer_prompt(failing.caller, "enter-card-number", "4242")

    with capture_logs() as logs:
        await asyncio.gather(failing_caller(), *(pay_and_check(system, call) for call in others))
        finished = await system.finished(failing)
    assert any(entry["event"] == "payment_crashed" for entry in logs)
    assert finished["outcome"] == Outcome.CANCELLED.value
    assert "nothing was charged" in finished["reason"]
    await system.check_reconnected(failing)
    payment = await system.running.store.get_payment(uuid.UUID(failing.payment_id))
    assert payment.outcome is Outcome.CANCELLED
    assert system.sandbox.processor.ledger.charges(failing.payment_id) == 0
    assert failing.agent is not None and failing.agent.received_dtmf == ""
    assert prompts(failing.caller)[-3:] == ["enter-card-number", "payment-error",
                                            "returning-to-agent"]
    await system.hang_up_all(*(phone for c in (failing, *others) for phone in (c.caller, c.agent)))
    await system.check_nothing_left()
