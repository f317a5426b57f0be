"""The simulator runs the project's own dialplan/ files: the *7 feature with an amount, the
takeover contexts, and their fallback when payivr is not connected."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from payivr.ari.simulator import AriSimulator, SimPhone, UserEventRaised

from .helpers import AriTestClient

DIALPLAN = Path(__file__).resolve().parents[2] / "dialplan"

pytestmark = pytest.mark.skipif(not (DIALPLAN / "payivr.conf").is_file(),
                                reason="the project's dialplan/ is not there")


async def _call_with_feature(sim: AriSimulator) -> tuple[SimPhone, SimPhone, str, str,
                                                         list[UserEventRaised]]:
    sim.dialplan.load((DIALPLAN / "payivr.conf").read_text())
    sim.dialplan.load_features((DIALPLAN / "features.conf").read_text())
    raised: list[UserEventRaised] = []
    request = asyncio.Event()

    def listen(event: object) -> None:
        if isinstance(event, UserEventRaised):
            raised.append(event)
            request.set()

    sim.add_listener(listen)
    caller = sim.add_phone("caller", "PJSIP/1002")
    agent = sim.add_phone("agent", "PJSIP/1001")
    call = await sim.dial(caller, agent, dynamic_features="payivr")
    await agent.press("*71999#")
    await asyncio.wait_for(request.wait(), 3)
    return caller, agent, call.caller_channel_id, call.agent_channel_id, raised


async def test_the_feature_code_sends_the_amount_and_takeover_passes_the_key(
    sim: AriSimulator, client: AriTestClient
) -> None:
    events = await client.events("payivr")
    caller, _, caller_id, agent_id, raised = await _call_with_feature(sim)
    assert raised[0].fields == {"Agent": sim.channels[agent_id].name,
                                "Peer": sim.channels[caller_id].name, "Amount": "1999",
                                "App": ""}  # PAYIVR_APP: unset, payivr's default application
    assert caller.received_dtmf == ""  # the code and the amount never reach the customer
    for channel in (caller_id, agent_id):
        sim.set_variable(channel, "PAYIVR_KEY", "req-1")
    await sim.redirect(caller_id, "payivr-takeover", "caller", 1,
                       extra_channel=agent_id, extra_exten="agent")
    await events.wait_for(lambda e: e["type"] == "StasisStart" and e["args"][1] == "agent")
    starts = sorted(e["args"] for e in events.events if e["type"] == "StasisStart")
    assert starts == [["takeover", "agent", "req-1"], ["takeover", "caller", "req-1"]]


async def test_without_payivr_the_caller_hears_the_apology_and_is_back_with_the_agent(
    sim: AriSimulator,
) -> None:
    caller, agent, caller_id, agent_id, _ = await _call_with_feature(sim)
    sim.set_variable(caller_id, "PAYIVR_PEER", sim.channels[agent_id].name)
    await sim.redirect(caller_id, "payivr-takeover", "caller", 1,
                       extra_channel=agent_id, extra_exten="agent")
    await caller.wait_for(lambda p: p.can_hear(agent) and agent.can_hear(p))
    assert "sound:payivr/en/payments-unavailable" in caller.heard
    assert sim.channels[caller_id].variables["STASISSTATUS"] == "FAILED"
    assert sim.channels[caller_id].variables["BRIDGERESULT"] == "SUCCESS"
