"""Hang-ups during a payment, by the caller and by the agent (issue 3 §3 and §5), one case
per thing Asterisk sees differently: which legs there are (an agent on hold or in the
caller's bridge, dialled by payivr or redirected by *7; the pay line's and the transfer's
caller alone) and when the hang-up comes (a prompt playing before the card, keys held
mid-entry, the charge in flight, the result being read out).

- The caller hangs up: the payment ends (an authorization already sent still gets its outcome
  recorded), the agent is told and released; nothing stays in Asterisk.
- The agent hangs up: the payment goes on; the caller hears the outcome and "goodbye" (when the
  agent left before the result) and is hung up (``calls.after_agent_hangup = "hangup"``).

What is stored for a hang-up at every step (outcome, steps, CRM activity, charges, the last
prompts) is in tests/calls/test_hangup_outcomes.py, below Asterisk; the flow's decision in
every state in tests/core/test_flow_branches.py. The takeover from the console only differs
before the payment (covered in test_matrix.py).
"""

from __future__ import annotations

import pytest

from payivr.core.events import Outcome
from tests.e2e.harness import System, heard, key_rest, key_until
from tests.e2e.phones import prompts

STEPS_AFTER_AUTHORIZING = ("authorizing", "result")


@pytest.fixture
def point(request: pytest.FixtureRequest, system: System) -> str:
    """Where in the payment the hang-up happens; the gateway answers slowly at
    "authorizing" so the hang-up lands while the charge is in flight."""
    if request.param == "authorizing":
        system.sandbox.processor.faults.latency = 0.5
    return str(request.param)


# (point, mode), each with what Asterisk sees when the caller hangs up.
CALLER_CASES = [
    # A prompt is playing to the caller, out of the bridge; the agent has music on hold.
    ("amount", "star7-hold"),
    # Keys held mid-entry; the caller is in the agent's bridge, their keys absorbed.
    ("card-number", "star7-talk-through"),
    # The charge is in flight with no caller; the agent payivr dialled waits on hold.
    ("authorizing", "inbound-hold"),
    # The result is being read out; the agent is in the caller's bridge.
    ("result", "inbound-talk-through"),
    # The pay line: the charge in flight, no leg left at all.
    ("authorizing", "payline"),
    # The transfer: "returning to your agent" is playing; nobody is dialled back.
    ("result", "transfer"),
]

# (point, mode), each with what Asterisk sees when the agent hangs up.
AGENT_CASES = [
    # The agent, muted with music, leaves while a prompt plays to the caller out of the bridge.
    ("amount", "star7-hold"),
    # The agent leaves the bridge the caller keys in (their keys absorbed) mid-entry.
    ("postal-code", "star7-talk-through"),
    # The agent payivr dialled leaves on hold while the charge is in flight.
    ("authorizing", "inbound-hold"),
    # The agent leaves as the caller hears they return to them: the caller is hung up.
    ("result", "inbound-talk-through"),
]


@pytest.mark.parametrize(
    ("point", "mode"), CALLER_CASES, ids=[f"{p}-{m}" for p, m in CALLER_CASES], indirect=["point"]
)
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


@pytest.mark.parametrize(
    ("point", "mode"), AGENT_CASES, ids=[f"{p}-{m}" for p, m in AGENT_CASES], indirect=["point"]
)
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
