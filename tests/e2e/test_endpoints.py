"""Agents are found by endpoint whatever its name (``PJSIP/desk-1101``, not only digits)."""

from __future__ import annotations

from payivr.ari.simulator import AriSimulator
from payivr.calls.requests import PaymentRequest
from payivr.core.events import Outcome
from tests.e2e.harness import Call, System, heard, key_card
from tests.e2e.phones import SimulatedPhone


async def test_console_request_reaches_an_agent_with_a_hyphenated_endpoint(
    system: System, sim: AriSimulator
) -> None:
    caller = SimulatedPhone(sim.add_phone("caller", endpoint="PJSIP/1102"))
    agent = SimulatedPhone(sim.add_phone("agent", endpoint="PJSIP/desk-1101"))
    await caller.sim_phone.call("1101", context="sim-inbound-desk")
    await system.wait_bridged(caller, agent)
    request = PaymentRequest("Annual plan", 13742, "USD", "alice")
    call = Call("inbound-hold", caller, agent)
    call.payment_id = await system.running.takeovers.request_for_agent(agent.endpoint, request)
    await key_card(caller)
    await heard(caller, "returning-to-agent")
    await system.check_reconnected(call)
    await system.check_after_payment(call, Outcome.APPROVED)
    await system.hang_up_all(caller, agent)
    await system.check_nothing_left()
