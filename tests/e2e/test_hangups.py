"""Hang-ups at every step of a payment, by the caller and by the agent (issue 3 §3 and §5).

- The caller hangs up: the payment ends (an authorization already sent still gets its outcome
  recorded), the agent is told and released; nothing stays in Asterisk.
- The agent hangs up: the payment goes on; the caller hears the outcome and "goodbye" (when the
  agent left before the result) and is hung up (``calls.after_agent_hangup = "hangup"``).

The takeover starts here with ``*7``; the console takeover only differs before the payment
(covered in test_matrix.py).
"""

from __future__ import annotations

import pytest

from payivr.core.events import Outcome
from tests.e2e.harness import VISA, System, heard
from tests.e2e.phones import Phone, prompts

MODES = ["star7-hold", "star7-talk-through", "inbound-hold", "inbound-talk-through"]

CARD_STEPS = (
    ("confirm-amount", "1"),
    ("enter-card-number", VISA + "#"),
    ("card-ending-in", "1"),
    ("enter-expiry", "1230"),
    ("expiry-is", "1"),
    ("enter-security-code", "123"),
    ("security-code-entered", "1"),
    ("enter-postal-code", "90210#"),
    ("postal-code-is", "1"),
)

# step: (index in CARD_STEPS, keys pressed of that entry before the hang-up); None: after them
POINTS: dict[str, tuple[int, int] | None] = {
    "amount": (0, 0),
    "card-number": (1, 4),
    "expiry": (3, 2),
    "security-code": (5, 1),
    "postal-code": (7, 3),
    "authorizing": None,
    "result": None,
}
STEPS_AFTER_AUTHORIZING = ("authorizing", "result")


async def key(caller: Phone, prompt: str, keys: str) -> None:
    await heard(caller, prompt)
    await caller.press(keys, duration_ms=80, gap_ms=120)


async def key_until(caller: Phone, point: str) -> None:
    """Key the card up to ``point`` (part of that entry included)."""
    where = POINTS[point]
    stop, partial = where if where is not None else (len(CARD_STEPS), 0)
    for prompt, keys in CARD_STEPS[:stop]:
        await key(caller, prompt, keys)
    if where is not None:
        await heard(caller, CARD_STEPS[stop][0])
        if partial:
            await caller.press(CARD_STEPS[stop][1][:partial], duration_ms=80, gap_ms=120)
    elif point == "authorizing":
        await heard(caller, "processing")
    else:
        await heard(caller, "payment-approved")


async def key_rest(caller: Phone, point: str) -> None:
    """Key the rest of the card after ``point``."""
    where = POINTS[point]
    if where is None:
        return
    start, partial = where
    await caller.press(CARD_STEPS[start][1][partial:], duration_ms=80, gap_ms=120)
    for prompt, keys in CARD_STEPS[start + 1 :]:
        await key(caller, prompt, keys)


@pytest.fixture(params=list(POINTS))
def point(request: pytest.FixtureRequest, system: System) -> str:
    """Where in the payment the hang-up happens; the gateway answers slowly at
    "authorizing" so the hang-up lands while the charge is in flight."""
    if request.param == "authorizing":
        system.sandbox.processor.faults.latency = 0.5
    return str(request.param)


@pytest.mark.parametrize("mode", [*MODES, "payline", "transfer"])
async def test_caller_hangs_up(system: System, mode: str, point: str) -> None:
    call = await system.start_payment(mode)
    await key_until(call.caller, point)
    await call.caller.hangup()
    outcome = Outcome.APPROVED if point in STEPS_AFTER_AUTHORIZING else Outcome.CALLER_HUNG_UP
    await system.check_after_payment(call, outcome)
    if call.agent is not None:
        # The agent's screen shows the end; their leg is released (as Dial() would).
        await call.agent.wait_for(lambda p: p.leg is None)
        assert prompts(call.agent) == []
    await system.check_nothing_left()


@pytest.mark.parametrize("mode", MODES)
async def test_agent_hangs_up(system: System, mode: str, point: str) -> None:
    call = await system.start_payment(mode)
    assert call.agent is not None
    await key_until(call.caller, point)
    await call.agent.hangup()
    await key_rest(call.caller, point)
    await system.check_after_payment(call, Outcome.APPROVED)
    closing = "returning-to-agent" if point == "result" else "goodbye"
    await heard(call.caller, closing)
    assert prompts(call.caller)[-3:] == ["processing", "payment-approved", closing]
    await call.caller.wait_for(lambda p: p.leg is None)  # released after the outcome
    await system.check_nothing_left()
