"""Why every bridge payivr makes has ``dtmf_events`` (DESIGN.md, privacy modes).

Two SIP channels alone in a plain ``mixing`` bridge are bridged natively: the caller's digits
reach the agent's handset whatever ``absorbDTMF`` says, and the application never sees them
(as the ``sip-takeover-*`` recordings show). The simulator behaves so; payivr never makes such
a bridge (every scenario checks the type of each bridge it asked for, see
``System.check_nothing_left``). Simulator only: a real Asterisk run uses Local channels, which
never bridge natively.
"""

from __future__ import annotations

import asyncio

import pytest

from payivr.ari.client import AriClient
from payivr.ari.events import AriEvent, ChannelDtmfReceived
from payivr.ari.stream import EventStream
from payivr.calls.session import BRIDGE_TYPE
from payivr.sim.ari import AriSimulator
from tests.e2e.targets import SimulatorTarget, Target

APP = "bridge-check"


@pytest.mark.parametrize(
    ("bridge_type", "agent_gets", "app_gets"),
    [("mixing", "4242", ""), (",".join(BRIDGE_TYPE), "", "4242")],
)
async def test_absorb_dtmf_only_works_in_a_dtmf_events_bridge(
    target: Target, sim: AriSimulator, bridge_type: str, agent_gets: str, app_gets: str
) -> None:
    assert isinstance(target, SimulatorTarget)
    caller = target.caller_phone("caller", "1102")
    agent = target.agent_phone("agent", "1101")
    events: list[AriEvent] = []
    async with AriClient(target.access.ari_url, "payivr", "sim-secret") as ari:
        stream = EventStream(ari, APP, on_event=events.append)
        task = asyncio.create_task(stream.run())
        try:
            await asyncio.wait_for(stream.connected.wait(), 5)
            for phone in (caller, agent):
                await ari.channels.originate(
                    phone.endpoint, channel_id=f"leg-{phone.name}", app=APP
                )
                await phone.wait_for(lambda p: p.leg is not None and sim.find_channel(
                    str(p.leg)).stasis_app == APP)
            await ari.bridges.create("check", type=bridge_type.split(","))
            await ari.bridges.add_channel("check", "leg-agent")
            await ari.bridges.add_channel("check", "leg-caller", absorb_dtmf=True)
            await caller.press("4242")
            await asyncio.sleep(0.1)
            digits = "".join(
                e.digit for e in events
                if isinstance(e, ChannelDtmfReceived) and e.channel.id == "leg-caller"
            )
            assert agent.received_dtmf == agent_gets
            assert digits == app_gets
            assert sim.bridges["check"].native is (bridge_type == "mixing")
            await ari.bridges.destroy("check")
            await caller.hangup()
            await agent.hangup()
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
