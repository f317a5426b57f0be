"""Fidelity (2): the events the simulator emits validate against events.json. The ``sim``
fixture validates every event of every test; this test makes sure the kinds payivr meets
are all produced (and so all validated) in one run."""

from __future__ import annotations

import asyncio

from payivr.sim.ari import AriSimulator

from .conftest import EventValidator
from .helpers import AriTestClient


async def test_every_kind_of_event_payivr_meets_validates(
    sim: AriSimulator, client: AriTestClient, validator: EventValidator
) -> None:
    sim.sounds.durations["missing"] = None
    sim.dialplan.add("pay", "s", "Answer()", "UserEvent(Progress,Step: card)",
                     "Stasis(payivr,payline,1999)")
    events = await client.events("payivr")
    other = await client.events("other")
    caller = sim.add_phone("caller", "PJSIP/1002")
    agent = sim.add_phone("agent", "PJSIP/1001")
    status, _ = await client.request("POST", "/applications/payivr/subscription",
                                     {"eventSource": "endpoint:PJSIP/1002"})
    assert status == 200
    await caller.call("s", context="pay")
    start = await events.wait_for(lambda e: e["type"] == "StasisStart")
    caller_id = start["channel"]["id"]
    await client.request("POST", "/applications/payivr/subscription",
                         {"eventSource": f"channel:{caller_id}"})
    await client.request("POST", "/channels", {"endpoint": "PJSIP/1001", "app": "payivr",
                                               "channelId": "agent-leg"})
    await events.wait_for(lambda e: e["type"] == "StasisStart"
                          and e["channel"]["id"] == "agent-leg")
    await client.request("POST", "/bridges", {"type": "mixing,dtmf_events", "bridgeId": "b"})
    await client.request("POST", "/bridges/b/addChannel", {"channel": f"{caller_id},agent-leg"})
    await client.request("POST", f"/channels/{caller_id}/play",
                         {"media": "sound:beep,number:12,sound:missing", "playbackId": "p"})
    await caller.press("1")
    await client.request("POST", "/channels/agent-leg/hold")
    await client.request("DELETE", "/channels/agent-leg/hold")
    await client.request("POST", f"/channels/{caller_id}/variable",
                         {"variable": "X", "value": "1"})
    await client.request("POST", "/channels/agent-leg/move", {"app": "other"})
    await client.request("POST", "/channels/agent-leg/move", {"app": "nobody"})
    await events.wait_for(lambda e: e["type"] == "PlaybackFinished")
    await agent.hangup()
    await client.request("DELETE", "/bridges/b")
    await client.request("DELETE", f"/channels/{caller_id}")
    await events.wait_for(lambda e: e["type"] == "BridgeDestroyed")
    await client.events("payivr")  # replaces the first socket
    await events.wait_for(lambda e: e["type"] == "ApplicationReplaced")
    await asyncio.sleep(0.05)
    assert other.events
    assert validator.problems == []
    assert {
        "StasisStart", "StasisEnd", "ChannelDialplan", "ChannelStateChange", "ChannelVarset",
        "ChannelUserevent", "Dial", "ChannelEnteredBridge", "ChannelLeftBridge",
        "BridgeDestroyed", "PlaybackStarted", "PlaybackContinuing", "PlaybackFinished",
        "ChannelDtmfReceived", "ChannelHold", "ChannelUnhold", "ChannelHangupRequest",
        "ChannelDestroyed", "ApplicationMoveFailed",
    } <= validator.types
    assert validator.count > 50
