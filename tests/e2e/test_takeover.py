"""A payment on a call bridged by Dial(): takeover, the caller keys the card, reconnect."""

from __future__ import annotations

from payivr.calls.requests import PaymentRequest
from payivr.core.events import Outcome
from payivr.core.request import PrivacyMode
from tests.e2e.harness import Call, System, heard, key_card


async def test_hold_mode_payment_approved_and_reconnected(system: System) -> None:
    caller, agent = system.phones()
    request = PaymentRequest("Annual plan", 13742, "USD", "alice", privacy_mode=PrivacyMode.HOLD)
    payment_id = await system.takeover(caller, agent, request)
    await key_card(caller)
    finished = await system.finished()
    assert finished["outcome"] == "approved"
    assert finished["card"] == "Visa ending 4242"
    await heard(caller, "returning-to-agent")
    call = Call("star7-hold", caller, agent, payment_id)
    await system.check_reconnected(call)
    await system.check_after_payment(call, Outcome.APPROVED)
    assert agent.received_dtmf == ""
    if system.target.simulated:
        assert any(uri.startswith("moh:") for uri in agent.heard)
    await system.hang_up_all(caller, agent)
    await system.check_nothing_left()
