"""Every entry x privacy mode x outcome, end to end (issue 3 §5).

Each test starts a payment one way (:data:`~tests.e2e.harness.ENTRY_MODES`), plays the caller's
part of one outcome, then checks what the phones heard, the bridges, the stored outcome, the
CRM activity, the gateway ledger, that the agent's phone got none of the caller's digits, and
that nothing is left in Asterisk once both have hung up.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from payivr.core.events import Outcome
from tests.e2e.harness import (
    DECLINED_CARD,
    ENTRY_MODES,
    LUHN_FAILURE,
    VISA,
    Call,
    System,
    answer_prompt,
    decline_every_try,
    heard,
    heard_again,
    key_card,
)
from tests.e2e.phones import Phone, prompts

AGENT_MODES = [mode for mode, (entry, _) in ENTRY_MODES.items() if entry in ("takeover", "inbound")]


async def approve(caller: Phone) -> None:
    await key_card(caller, VISA)


async def decline(caller: Phone) -> None:
    await decline_every_try(caller, DECLINED_CARD)


async def cancel_with_star(caller: Phone) -> None:
    await answer_prompt(caller, "confirm-amount", "1")
    await answer_prompt(caller, "enter-card-number", "42*")


async def exhaust_attempts(caller: Phone) -> None:
    await answer_prompt(caller, "confirm-amount", "1")
    for attempt in range(1, 4):
        await heard_again(caller, "enter-card-number", attempt)
        await caller.press(LUHN_FAILURE + "#", duration_ms=80, gap_ms=120)


async def reject_amount(caller: Phone) -> None:
    await answer_prompt(caller, "confirm-amount", "2")


@dataclass(frozen=True)
class CallerPart:
    play: Callable[[Phone], Awaitable[None]]
    outcome: Outcome
    ending: tuple[str, ...]  # the caller's last prompts, before the closing one


OUTCOMES = {
    "approved": CallerPart(approve, Outcome.APPROVED, ("processing", "payment-approved")),
    "declined": CallerPart(decline, Outcome.DECLINED, ("processing", "payment-declined")),
    "star-cancel": CallerPart(cancel_with_star, Outcome.CANCELLED, ("payment-cancelled",)),
    "attempts-exhausted": CallerPart(
        exhaust_attempts,
        Outcome.ATTEMPTS_EXHAUSTED,
        ("invalid-card-number", "enter-card-number", "too-many-attempts"),
    ),
    "amount-rejected": CallerPart(
        reject_amount, Outcome.DECLINED_BY_CALLER, ("confirm-amount", "amount-rejected")
    ),
}


async def check_shielded(system: System, call: Call) -> None:
    """While the caller keys, the agent cannot get their digits (and, on hold, hears music)."""
    if not call.agent_on_line:
        return
    assert call.agent is not None
    await heard(call.caller, "intro")
    bridges = await system.target.bridges()
    shared = [b for b in bridges if {call.caller.leg, call.agent.leg} <= b.channels]
    if call.privacy == "hold":
        assert shared == []
        if system.target.simulated:
            await call.agent.wait_for(lambda p: "moh:default" in p.heard)
    else:
        assert len(shared) == 1
        if shared[0].absorbing is not None:
            assert shared[0].absorbing == {call.caller.leg}


async def finish_call(system: System, call: Call, part: CallerPart) -> None:
    """The caller heard the ending, is back with the agent; checks; both hang up; tidy."""
    closing = "returning-to-agent" if call.agent is not None else "goodbye"
    await heard(call.caller, closing)
    heard_prompts = prompts(call.caller)
    expected_tail = [*part.ending, closing]
    assert heard_prompts[-len(expected_tail) :] == expected_tail, heard_prompts
    if call.agent is not None:
        await system.check_reconnected(call)
        assert prompts(call.agent) == []  # prompts are played on the caller's channel only
    await system.check_after_payment(call, part.outcome)
    await system.hang_up_all(call.caller, call.agent)
    await system.check_nothing_left()


@pytest.mark.parametrize("outcome", list(OUTCOMES))
@pytest.mark.parametrize("mode", list(ENTRY_MODES))
async def test_outcome(system: System, mode: str, outcome: str) -> None:
    part = OUTCOMES[outcome]
    call = await system.start_payment(mode)
    await check_shielded(system, call)
    await part.play(call.caller)
    await finish_call(system, call, part)


@pytest.mark.parametrize("flow_settings", [{"no_input_timeout": 0.4}])
@pytest.mark.parametrize("mode", list(ENTRY_MODES))
async def test_no_input_timeout(system: System, mode: str, flow_settings: dict[str, Any]) -> None:
    call = await system.start_payment(mode)
    await answer_prompt(call.caller, "confirm-amount", "1")
    await heard(call.caller, "enter-card-number")  # then silence
    await finish_call(
        system, call, CallerPart(approve, Outcome.TIMED_OUT, ("enter-card-number", "no-input"))
    )
