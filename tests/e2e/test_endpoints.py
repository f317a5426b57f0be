"""Agents are found by endpoint whatever its name (``PJSIP/desk-1101``, not only digits)."""

from __future__ import annotations

import aiohttp

from payivr.calls.requests import PaymentRequest
from payivr.console.accounts import add_agent, add_api_token
from payivr.core.events import Outcome
from payivr.sim.ari import AriSimulator
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


async def test_attack_an_agent_cannot_take_a_payment_on_a_longer_named_endpoints_call(
    system: System, sim: AriSimulator
) -> None:
    """Issue 13.7: the agent on ``PJSIP/7001`` asks the console for a payment while only
    ``PJSIP/7001-2`` is on a call (``PJSIP/sales`` and ``PJSIP/sales-2`` alike). Endpoints
    are matched whole: no call is found, and the other agent's call stays where it was."""
    caller = SimulatedPhone(sim.add_phone("caller", endpoint="PJSIP/1302"))
    SimulatedPhone(sim.add_phone("agent", endpoint="PJSIP/7001"))
    other_agent = SimulatedPhone(sim.add_phone("other agent", endpoint="PJSIP/7001-2"))
    await system.target.connect(caller, other_agent)
    await system.wait_bridged(caller, other_agent)
    database = system.running.database
    await add_agent(database, "sally", "PJSIP/7001", "agent", "correct horse 13")
    token = await add_api_token(database, "sally", "attack")
    async with (
        aiohttp.ClientSession(
            system.running.console_url, headers={"Authorization": f"Bearer {token}"}
        ) as http,
        http.post("/api/v1/payments", json={"item": "Plan", "amount": "10.00"}) as answer,
    ):
        assert answer.status == 409
        assert (await answer.json())["error"]["code"] == "no_call"
    assert await system.target.stasis_channels() == []
    assert await system.bridged(caller, other_agent)
    await system.hang_up_all(caller, other_agent)
