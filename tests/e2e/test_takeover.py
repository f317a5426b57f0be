"""A payment on a call bridged by Dial(): takeover, the caller keys the card, reconnect."""

from __future__ import annotations

from payivr.calls.requests import PaymentRequest
from tests.e2e.harness import System, answer_prompt, heard

VISA = "4242424242424242"


def request(privacy_mode: str = "hold") -> PaymentRequest:
    return PaymentRequest("Annual plan", 13742, "USD", "alice", privacy_mode=privacy_mode)


async def key_whole_card(system: System, caller, pan: str = VISA) -> None:  # type: ignore[no-untyped-def]
    await answer_prompt(caller, "confirm-amount", "1")
    await answer_prompt(caller, "enter-card-number", pan + "#")
    await answer_prompt(caller, "card-ending-in", "1")
    await answer_prompt(caller, "enter-expiry", "1230")
    await answer_prompt(caller, "expiry-is", "1")
    await answer_prompt(caller, "enter-security-code", "123")
    await answer_prompt(caller, "security-code-entered", "1")
    await answer_prompt(caller, "enter-postal-code", "90210#")
    await answer_prompt(caller, "postal-code-is", "1")


async def test_hold_mode_payment_approved_and_reconnected(system: System) -> None:
    caller, agent = system.phones()
    await system.takeover(caller, agent, request("hold"))
    await key_whole_card(system, caller)
    finished = await system.finished()
    assert finished["outcome"] == "approved"
    assert finished["card"] == "Visa ending 4242"
    await heard(caller, "returning-to-agent")
    await caller.wait_for(lambda p: p.can_hear(agent), within=5)
    assert agent.received_dtmf == ""
    assert any(uri.startswith("moh:") for uri in agent.heard)
