"""*7 -> AMI UserEvent -> dual Redirect -> both legs in Stasis, on the ARI simulator.

One simulated Asterisk (payivr.sim.ari) behind both the ARI server and the AMI
simulator, running payivr's real dialplan (dialplan/payivr.conf).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from payivr.ami import AmiClient, TakeoverRequest
from payivr.sim.ami.ari_pbx import AriSimulatorPbx
from payivr.sim.ami.server import AmiSimulator
from payivr.sim.ari import AriSimulator, DialedCall, SimPhone

PAYIVR_CONF = Path(__file__).resolve().parents[2] / "dialplan" / "payivr.conf"


@dataclass
class World:
    sim: AriSimulator
    pbx: AriSimulatorPbx
    client: AmiClient
    caller: SimPhone
    agent: SimPhone
    call: DialedCall
    requests: asyncio.Queue[TakeoverRequest]


@pytest.fixture
async def world() -> AsyncIterator[World]:
    sim = AriSimulator("payivr", "ari-secret", time_scale=0.05)
    sim.dialplan.load(PAYIVR_CONF.read_text())
    await sim.start()
    pbx = AriSimulatorPbx(sim)
    pbx.setvar(None, "PAYIVR_AMOUNT_TIMEOUT", "0")  # a global, as in extensions.conf
    ami = AmiSimulator(pbx, users={"payivr": "ami-secret"})
    await ami.start()
    client = AmiClient(
        host="127.0.0.1", port=ami.port, username="payivr", secret="ami-secret",
        reconnect_delay=0.05, action_timeout=3.0,
    )  # fmt: skip
    await client.connect()
    requests: asyncio.Queue[TakeoverRequest] = asyncio.Queue()
    client.on_takeover_request(requests.put_nowait)
    caller = sim.add_phone("caller", "PJSIP/1002")
    agent = sim.add_phone("agent", "PJSIP/1001")
    call = await sim.dial(caller, agent)
    try:
        yield World(sim, pbx, client, caller, agent, call, requests)
    finally:
        await client.close()
        await ami.close()
        await sim.stop()


async def test_star_seven_reaches_ami_and_the_redirect_reaches_stasis(world: World) -> None:
    sim = world.sim
    agent_name = sim.find_channel(world.call.agent_channel_id).name
    caller_name = sim.find_channel(world.call.caller_channel_id).name

    found = await world.client.find_call("PJSIP/1001")
    assert found is not None
    assert (found.agent.name, found.peer.name) == (agent_name, caller_name)
    assert found.bridge_id == world.call.bridge_id and not found.in_stasis

    await world.agent.press("*7")
    request = await asyncio.wait_for(world.requests.get(), 5)
    assert (request.agent_channel, request.caller_channel) == (agent_name, caller_name)
    assert world.caller.channel is not None and "7" not in world.caller.received_dtmf

    async with aiohttp.ClientSession() as http:
        url = f"{sim.base_url}/ari/events?app=payivr&api_key=payivr:ari-secret"
        async with http.ws_connect(url) as socket:
            await world.client.take_over(request)
            starts = {}
            while len(starts) < 2:
                event = await asyncio.wait_for(socket.receive_json(), 5)
                if event["type"] == "StasisStart":
                    starts[event["channel"]["name"]] = event["args"]
    assert starts == {
        caller_name: ["takeover", "caller", request.key],
        agent_name: ["takeover", "agent", request.key],
    }
    assert {c.name for c in sim.stasis_channels("payivr")} == {caller_name, agent_name}


async def test_redirect_without_payivr_on_ari_falls_back(world: World) -> None:
    """STASISSTATUS=FAILED: the caller's leg runs the fallback instead of being dropped."""
    sim = world.sim
    caller_name = sim.find_channel(world.call.caller_channel_id).name
    agent_name = sim.find_channel(world.call.agent_channel_id).name
    await world.client.take_over(TakeoverRequest.new(agent_name, caller_name))
    await world.caller.wait_for(
        lambda phone: any("payments-unavailable" in item for item in phone.heard), 5
    )


async def test_mixmonitor_mute_answers_as_app_mixmonitor_does(world: World) -> None:
    """``MixMonitorMute`` over the AMI wire: Asterisk's checks and messages, in its order."""
    from payivr.ami.errors import AmiActionError

    caller = world.sim.engine.lifecycle.find_channel(world.call.caller_channel_id)
    base = {"Action": "MixMonitorMute", "Channel": caller.name}
    for fields, message in (
        ({}, "No direction specified. Must be read, write or both"),
        ({"Direction": "sideways"}, "Invalid direction specified. Must be read, write or both"),
        ({"Direction": "both", "Channel": ""}, "No channel specified"),
        ({"Direction": "both"}, "No state specified"),
        ({"Direction": "both", "State": "1", "Channel": "PJSIP/9999-00000001"}, "No such channel"),
        ({"Direction": "both", "State": "1"}, "Cannot set mute flag"),  # nothing records it
    ):
        with pytest.raises(AmiActionError) as refused:
            await world.client.send_action({**base, **fields})
        assert refused.value.message == message
    # A call the dialplan records: MixMonitor() sets MIXMONITOR_FILENAME and records both ways.
    world.sim.dialplan.load(
        "[recorded]\nexten => _X.,1,MixMonitor(call.wav)\n same => n,Dial(${DIAL_ENDPOINT},30)\n"
    )
    customer = world.sim.add_phone("customer", "PJSIP/1004")
    recorded_call = await world.sim.dial(customer, world.sim.add_phone("desk", "PJSIP/1003"),
                                         context="recorded")  # fmt: skip
    recorded = world.sim.engine.lifecycle.find_channel(recorded_call.caller_channel_id)
    assert recorded.variables["MIXMONITOR_FILENAME"] == "call.wav"
    assert recorded.recording is not None
    await world.client.mute_recording(recorded.name, muted=True)
    assert recorded.recording.read_muted and recorded.recording.write_muted
    await world.client.send_action(
        {**base, "Channel": recorded.name, "Direction": "read", "State": "off"}
    )
    assert not recorded.recording.read_muted and recorded.recording.write_muted
