"""The prompts' language per call: the request's choice, else the caller's channel language."""

from __future__ import annotations

import pytest

from payivr.calls.requests import PaymentRequest
from tests.e2e.harness import System


@pytest.mark.parametrize(
    ("context", "chosen", "heard_in"),
    [
        ("sim-spanish", None, "es"),  # CHANNEL(language)=es: Spanish prompts
        ("sim-spanish", "en", "en"),  # the agent chose English for this caller
        ("sim-french", None, "en"),  # fr_CA: no French prompts, calls.language
        ("sim-dial", "es", "es"),  # chosen on the request
    ],
)
async def test_the_caller_hears_the_prompts_in_their_language(
    system: System, context: str, chosen: str | None, heard_in: str
) -> None:
    caller, agent = system.phones()
    await system.agent_account(agent)
    await system.target.connect(caller, agent, context)
    await agent.press("*7")
    await system.wait_event(lambda e: e["type"] == "call_started")
    request = PaymentRequest("Annual plan", 13742, "USD", "alice", language=chosen)
    payment_id = await system.running.takeovers.request_for_agent(agent.endpoint, request)
    started = await system.wait_event(
        lambda e: e["type"] == "payment_started" and e["payment"] == payment_id
    )
    assert started["language"] == heard_in  # the console says which
    await caller.wait_for(lambda p: f"sound:payivr/{heard_in}/confirm-amount" in p.heard)
    spoken = {uri.split("/")[1] for uri in caller.heard if uri.startswith("sound:payivr/")}
    assert spoken == {heard_in}
    await system.hang_up_all(caller, agent)
