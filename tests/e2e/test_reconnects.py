"""payivr's event WebSocket drops in the middle of a payment (issue 3 §1 and §5).

Asterisk keeps no events while payivr is away, so whatever happened in the gap is lost (here:
the end of the prompt the caller was hearing). payivr reconnects, reconciles (the call's
channels are still there: the call goes on) and re-issues what it was waiting for: the
payment still ends as it should.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from payivr.calls.requests import PaymentRequest
from payivr.core.events import Outcome
from payivr.sim.ari import AriSimulator
from tests.ari_simulator.helpers import basic_auth
from tests.e2e.harness import (
    AMOUNT_MINOR,
    CARD_STEPS,
    HANGUP_POINTS,
    ITEM,
    System,
    answer_prompt,
    heard,
    key_rest,
    key_until,
)
from tests.e2e.phones import SimulatedPhone, prompts

MODES = [
    "star7-hold",
    "star7-talk-through",
    "inbound-hold",
    "inbound-talk-through",
    "payline",
    "transfer",
]


async def drop_and_reconnect(system: System) -> None:
    connections = system.running.events.connections
    await system.target.drop_event_sockets()
    await system.wait_until(
        lambda: (
            system.running.events.connections > connections
            and system.running.events.connected.is_set()
        )
    )


@pytest.mark.parametrize("mode", MODES)
async def test_dropped_while_a_prompt_plays(system: System, mode: str) -> None:
    """The prompt ends during the gap; the caller keys the card once payivr is back."""
    call = await system.start_payment(mode)
    await answer_prompt(call.caller, "confirm-amount", "1")
    await heard(call.caller, "enter-card-number")
    await drop_and_reconnect(system)
    for prompt, keys in CARD_STEPS[1:]:
        await answer_prompt(call.caller, prompt, keys)
    closing = "goodbye" if call.agent is None else "returning-to-agent"
    await heard(call.caller, closing)
    if call.agent is not None:
        await system.check_reconnected(call)
    await system.check_after_payment(call, Outcome.APPROVED)
    await system.hang_up_all(call.caller, call.agent)
    await system.check_nothing_left()


@pytest.mark.parametrize("flow_settings", [{"no_input_timeout": 0.5}])
@pytest.mark.parametrize("mode", ["star7-hold", "payline"])
async def test_dropped_then_silence_still_times_out(
    system: System, mode: str, flow_settings: dict[str, Any]
) -> None:
    """The no-input timer waits for the prompt's end, which was lost: payivr must notice."""
    call = await system.start_payment(mode)
    await answer_prompt(call.caller, "confirm-amount", "1")
    await heard(call.caller, "enter-card-number")
    await drop_and_reconnect(system)
    await system.check_after_payment(call, Outcome.TIMED_OUT)
    assert "no-input" in prompts(call.caller)
    await system.hang_up_all(call.caller, call.agent)
    await system.check_nothing_left()


@pytest.mark.parametrize("mode", ["star7-talk-through", "inbound-hold", "payline", "transfer"])
async def test_dropped_while_the_result_is_announced(system: System, mode: str) -> None:
    """The announcement ends during the gap: the caller must still go back to the agent."""
    call = await system.start_payment(mode)
    for prompt, keys in CARD_STEPS:
        await answer_prompt(call.caller, prompt, keys)
    await heard(call.caller, "payment-approved")
    await drop_and_reconnect(system)
    await system.check_after_payment(call, Outcome.APPROVED)
    if call.agent is not None:
        await system.check_reconnected(call)
    else:
        await call.caller.wait_for(lambda p: p.leg is None)  # pay line: hung up after goodbye
    await system.hang_up_all(call.caller, call.agent)
    await system.check_nothing_left()


@pytest.mark.parametrize("point", list(HANGUP_POINTS))
async def test_dropped_at_every_step(system: System, point: str) -> None:
    """The WebSocket drops at each step of the flow (mid-entry: some keys already in, the
    rest keyed once payivr is back; while the gateway charges; while the result plays):
    approved, stored once, charged once, the caller back with the agent."""
    if point == "authorizing":
        system.sandbox.faults.latency = 0.5  # the drop lands while the charge is in flight
    call = await system.start_payment("star7-hold")
    await key_until(call.caller, point)
    where = HANGUP_POINTS[point]
    if where is not None and where[1]:
        # Keys pressed as the socket drops are lost with it (Asterisk keeps no events):
        # drop once payivr has the ones already keyed.
        await system.wait_event(
            lambda e: e["type"] == "step"
            and e["step"] == point.replace("-", "_")
            and e["digits_entered"] == where[1]
        )
    await drop_and_reconnect(system)
    await key_rest(call.caller, point)
    await system.check_after_payment(call, Outcome.APPROVED)
    await system.check_reconnected(call)
    await system.hang_up_all(call.caller, call.agent)
    await system.check_nothing_left()


AGENT_BEHIND_LOCAL = """
[sim-inbound-local]
exten => _X.,1,Stasis(payivr,inbound,Local/${EXTEN}@sim-agent-app/n)
 same => n,Hangup()

[sim-agent-app]
exten => _X.,1,Answer()
 same => n,Stasis(agent-phones)
 same => n,Hangup()
"""


async def test_an_agent_dialled_through_a_local_channel_stays_after_a_drop(
    system: System, sim: AriSimulator
) -> None:
    """payivr dials the agent through a Local channel whose far half is another application's
    (as the agent phones of the real-Asterisk target are, or a WebRTC gateway's): Asterisk
    lists that half among payivr's channels too (it originated the pair), yet after the
    reconnect it is not payivr's to send back to the dialplan, and the agent stays."""
    sim.dialplan.load(AGENT_BEHIND_LOCAL)
    access = system.target.access
    async with aiohttp.ClientSession() as http, http.ws_connect(
        f"{sim.base_url}/ari/events",
        params={"app": "agent-phones"},
        headers={"Authorization": basic_auth(access.ari_user, access.ari_password)},
    ):
        caller, _ = system.phones()
        assert isinstance(caller, SimulatedPhone)
        await caller.sim_phone.call("1101", context="sim-inbound-local")

        def agent_halves() -> list[str]:
            return sorted(
                c.id for c in sim.channels.values() if c.name.startswith("Local/1101@")
            )

        await system.wait_until(lambda: any(
            len(bridge.channels) == 2 and caller.leg in {c.id for c in bridge.channels}
            for bridge in sim.bridges.values()
        ))
        halves = agent_halves()
        request = PaymentRequest(ITEM, AMOUNT_MINOR, "USD", "alice")
        payment = await system.running.takeovers.request_for_agent(
            "Local/1101@sim-agent-app", request
        )
        await answer_prompt(caller, "confirm-amount", "1")
        await heard(caller, "enter-card-number")
        await drop_and_reconnect(system)
        for prompt, keys in CARD_STEPS[1:]:
            await answer_prompt(caller, prompt, keys)
        await heard(caller, "returning-to-agent")
        finished = await system.finished()
        assert (finished["payment"], finished["outcome"]) == (payment, Outcome.APPROVED.value)
        assert agent_halves() == halves  # both halves of the agent's Local channel are up
        await system.hang_up_all(caller)
        await system.check_nothing_left()
