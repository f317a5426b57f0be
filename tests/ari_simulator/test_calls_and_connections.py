"""Channel life cycles, the application's sockets, sessionlimit and injected faults."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

from payivr.sim.ari import (
    AriSimulator,
    ChannelContinued,
    SimChannelNotFound,
    StasisFailed,
)

from .conftest import EventValidator
from .helpers import PASSWORD, USER, AriTestClient, EventStream, basic_auth


async def _in_stasis(sim: AriSimulator, client: AriTestClient) -> tuple[Any, Any, str, str,
                                                                         EventStream]:
    caller = sim.add_phone("caller", "PJSIP/1002")
    agent = sim.add_phone("agent", "PJSIP/1001")
    events = await client.events("payivr")
    call = await sim.dial(caller, agent)
    await sim.redirect(call.caller_channel_id, "payivr-takeover", "caller", 1,
                       extra_channel=call.agent_channel_id, extra_exten="agent")
    await events.wait_for(lambda e: e["type"] == "StasisStart" and e["args"][1] == "agent")
    return caller, agent, call.caller_channel_id, call.agent_channel_id, events


async def test_originating_to_a_phone_rings_it_and_enters_stasis_on_answer(
    sim: AriSimulator, client: AriTestClient
) -> None:
    agent = sim.add_phone("agent", "PJSIP/1001", auto_answer=False)
    events = await client.events("payivr")
    status, channel = await client.request("POST", "/channels/agent-leg", {
        "endpoint": "PJSIP/1001", "app": "payivr", "appArgs": "outbound,42",
        "callerId": "Shop <5551000>"})
    assert (status, channel["id"], channel["state"]) == (200, "agent-leg", "Down")
    await agent.wait_for(lambda p: p.ringing)
    assert await client.request("POST", "/channels/agent-leg/answer") == (
        409, {"message": "Channel not in Stasis application"})
    await agent.answer()
    start = await events.wait_for(lambda e: e["type"] == "StasisStart")
    assert start["args"] == ["outbound", "42"]
    assert start["channel"]["caller"] == {"name": "Shop", "number": "5551000"}
    assert agent.in_call
    dials = [e["dialstatus"] for e in events.events if e["type"] == "Dial"]
    assert dials == ["", "RINGING", "ANSWER"]
    states = [e["channel"]["state"] for e in events.events if e["type"] == "ChannelStateChange"]
    assert states == ["Ringing", "Up"]


async def test_an_unanswered_originate_gives_up_after_its_timeout(
    sim: AriSimulator, client: AriTestClient
) -> None:
    agent = sim.add_phone("agent", "PJSIP/1001", auto_answer=False)
    events = await client.events("payivr")
    await client.request("POST", "/channels", {"endpoint": "PJSIP/1001", "app": "payivr",
                                               "timeout": 2})
    destroyed = await events.wait_for(lambda e: e["type"] == "ChannelDestroyed")
    assert destroyed["cause"] == 19
    # No last Dial status at the timeout (recorded: test_outbound_outcomes.py).
    assert [e["dialstatus"] for e in events.events if e["type"] == "Dial"] == ["", "RINGING"]
    assert agent.channel is None and not agent.ringing


async def test_originate_refuses_a_taken_channel_id(sim: AriSimulator,
                                                    client: AriTestClient) -> None:
    sim.add_phone("agent", "PJSIP/1001")
    await client.request("POST", "/channels", {"endpoint": "PJSIP/1001", "app": "a",
                                               "channelId": "dup"})
    assert await client.request("POST", "/channels", {"endpoint": "PJSIP/1001", "app": "a",
                                                      "channelId": "dup"}) == (
        409, {"message": "Channel with given unique ID already exists"})


async def test_create_then_dial(sim: AriSimulator, client: AriTestClient) -> None:
    agent = sim.add_phone("agent", "PJSIP/1001")
    events = await client.events("payivr")
    status, created = await client.request("POST", "/channels/create", {
        "endpoint": "PJSIP/1001", "app": "payivr", "channelId": "c1"})
    assert status == 200
    await events.wait_for(lambda e: e["type"] == "StasisStart")
    assert await client.request("POST", "/channels/c1/dial") == (204, "")
    await events.wait_for(lambda e: e["type"] == "Dial" and e["dialstatus"] == "ANSWER")
    assert agent.in_call and created["state"] == "Down"


async def test_continue_leaves_stasis_and_runs_the_dialplan(
    sim: AriSimulator, client: AriTestClient
) -> None:
    sim.dialplan.add("after-payment", "s", "Wait(60)")
    continued: list[ChannelContinued] = []
    sim.add_listener(lambda e: continued.append(e) if isinstance(e, ChannelContinued) else None)
    caller, _, caller_id, _, events = await _in_stasis(sim, client)
    assert await client.request("POST", f"/channels/{caller_id}/continue",
                                {"context": "after-payment"}) == (204, "")
    await events.wait_for(lambda e: e["type"] == "StasisEnd")
    assert caller.continued_to == ("after-payment", "s", 1)
    assert [(c.context, c.exten, c.priority) for c in continued] == [("after-payment", "s", 1)]
    await asyncio.sleep(0.05)
    assert sim.channels[caller_id].app_name == "Wait" and caller.in_call
    status, _ = await client.request("POST", f"/channels/{caller_id}/answer")
    assert status == 409


async def test_a_far_end_hangup_gives_stasis_end_but_no_channel_destroyed(
    sim: AriSimulator, client: AriTestClient
) -> None:
    caller, _, caller_id, agent_id, events = await _in_stasis(sim, client)
    await client.request("POST", "/bridges", {"type": "mixing,dtmf_events", "bridgeId": "b"})
    await client.request("POST", "/bridges/b/addChannel", {"channel": f"{caller_id},{agent_id}"})
    await caller.hangup()
    await events.wait_for(lambda e: e["type"] == "StasisEnd")
    await asyncio.sleep(0.05)
    mine = [e["type"] for e in events.events
            if e.get("channel", {}).get("id") == caller_id][-5:]
    assert mine == ["ChannelHangupRequest", "ChannelVarset", "ChannelVarset",
                    "ChannelLeftBridge", "StasisEnd"]  # BRIDGEPEER, BRIDGEPVTCALLID cleared
    request = next(e for e in events.events if e["type"] == "ChannelHangupRequest")
    assert request["cause"] == 16 and "soft" not in request
    assert not any(e["type"] == "ChannelDestroyed" for e in events.events)
    assert caller.channel is None and caller_id not in sim.channels
    assert await client.request("GET", "/applications/payivr") == (200, {
        "name": "payivr", "channel_ids": [agent_id], "bridge_ids": ["b"], "endpoint_ids": [],
        "device_names": [], "events_allowed": [], "events_disallowed": []})


async def test_delete_channel_is_a_soft_hangup_with_the_given_reason(
    sim: AriSimulator, client: AriTestClient
) -> None:
    _, agent, _, agent_id, events = await _in_stasis(sim, client)
    assert await client.request("DELETE", f"/channels/{agent_id}", {"reason": "busy"}) == (204, "")
    request = await events.wait_for(lambda e: e["type"] == "ChannelHangupRequest")
    assert (request["cause"], request["soft"]) == (32, True)
    assert agent.channel is None
    assert await client.request("DELETE", f"/channels/{agent_id}") == (
        404, {"message": "Channel not found"})


async def test_stasis_fails_without_a_connected_application(sim: AriSimulator) -> None:
    caller = sim.add_phone("caller", "PJSIP/1002")
    agent = sim.add_phone("agent", "PJSIP/1001")
    failures: list[StasisFailed] = []
    sim.add_listener(lambda e: failures.append(e) if isinstance(e, StasisFailed) else None)
    call = await sim.dial(caller, agent)
    await sim.enter_stasis(call.caller_channel_id, "payivr", ["payline"])
    await asyncio.sleep(0.05)
    assert [(f.app, f.args) for f in failures] == [("payivr", ("payline",))]
    channel = sim.channels[call.caller_channel_id]
    assert channel.variables["STASISSTATUS"] == "FAILED" and channel.stasis_app is None
    assert caller.in_call


async def test_enter_stasis_and_redirect_name_channels_by_id_or_name(
    sim: AriSimulator, client: AriTestClient
) -> None:
    caller = sim.add_phone("caller", "PJSIP/1002")
    events = await client.events("payivr")
    sim.dialplan.add("pay", "s", "Answer()", "Wait(60)")
    await caller.call("s", context="pay")
    channel = next(iter(sim.channels.values()))
    await sim.enter_stasis(channel.name, "payivr", ["payline", "1999", "INV-1"])
    start = await events.wait_for(lambda e: e["type"] == "StasisStart")
    assert start["args"] == ["payline", "1999", "INV-1"]
    with pytest.raises(SimChannelNotFound):
        await sim.redirect("PJSIP/9999-00000000", "pay", "s")


async def test_a_dropped_websocket_loses_events_and_reconnecting_replays_nothing(
    sim: AriSimulator, client: AriTestClient
) -> None:
    caller, _, caller_id, agent_id, events = await _in_stasis(sim, client)
    assert await sim.drop_websockets("payivr") == 1
    await events.closed.wait()
    assert not sim.app_connected("payivr")
    await caller.press("1")  # nobody listens: the event is lost
    await asyncio.sleep(0.05)
    status, app = await client.request("GET", "/applications/payivr")
    assert status == 200 and app["channel_ids"] == sorted([caller_id, agent_id])
    again = await client.events("payivr")
    await caller.press("2")
    dtmf = await again.wait_for(lambda e: e["type"] == "ChannelDtmfReceived")
    assert dtmf["digit"] == "2"
    assert [e["type"] for e in again.events] == ["ChannelDtmfReceived"]


async def test_a_silent_drop_stops_events_and_pongs(sim: AriSimulator) -> None:
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(sim.base_url + "/ari/events", params={"app": "payivr"},
                                      headers={"Authorization": basic_auth()})
        await ws.ping()
        await sim.drop_websockets(mode="silent")
        await ws.ping()
        with pytest.raises(TimeoutError):
            await ws.receive(timeout=0.2)
        assert sim.app_connected("payivr")  # Asterisk does not know either
        await ws.close()


async def test_a_second_socket_for_an_app_replaces_the_first(client: AriTestClient) -> None:
    first = await client.events("payivr")
    second = await client.events("payivr")
    replaced = await first.wait_for(lambda e: e["type"] == "ApplicationReplaced")
    assert replaced["application"] == "payivr"
    assert second.events == []


async def test_an_asterisk_given_its_own_entity_id_reports_it_everywhere(
        validator: EventValidator) -> None:
    """Several simulated Asterisks tell themselves apart as real ones do: by the entityid of
    asterisk.conf, in /asterisk/info, /asterisk/ping and every event."""
    with pytest.raises(ValueError, match="six hex bytes"):
        AriSimulator(USER, PASSWORD, asterisk_id="pbx-2")
    async with AriSimulator(USER, PASSWORD, asterisk_id="02:fc:00:00:00:2a") as sim, \
            aiohttp.ClientSession() as session:
        client = AriTestClient(sim.base_url, session)
        status, info = await client.request("GET", "/asterisk/info")
        assert status == 200 and info["system"]["entity_id"] == "02:fc:00:00:00:2a"
        assert sim.spec.validate_model("AsteriskInfo", info) == []
        status, ping = await client.request("GET", "/asterisk/ping")
        assert ping["asterisk_id"] == "02:fc:00:00:00:2a"
        first = await client.events("payivr")
        await client.events("payivr")
        replaced = await first.wait_for(lambda e: e["type"] == "ApplicationReplaced")
        assert replaced["asterisk_id"] == "02:fc:00:00:00:2a"
        validator("payivr", replaced)
        assert validator.problems == []


async def test_connections_beyond_the_session_limit_are_dropped(validator: EventValidator
                                                                 ) -> None:
    sim = AriSimulator(USER, PASSWORD, session_limit=3)
    await sim.start()
    try:
        connector = aiohttp.TCPConnector(limit=10)
        async with aiohttp.ClientSession(connector=connector) as session:
            sockets = [await session.ws_connect(sim.base_url + f"/ari/events?app=a{i}",
                                                headers={"Authorization": basic_auth()})
                       for i in range(3)]
            assert sim.open_sessions == 3
            with pytest.raises(aiohttp.ClientError):
                async with session.get(sim.base_url + "/ari/asterisk/ping",
                                       headers={"Authorization": basic_auth()}) as response:
                    await response.read()
            assert sim.refused_sessions >= 1
            await sockets[0].close()
            await asyncio.sleep(0.05)
            async with session.get(sim.base_url + "/ari/asterisk/ping",
                                   headers={"Authorization": basic_auth()}) as response:
                assert response.status == 200
            for ws in sockets[1:]:
                await ws.close()
    finally:
        await sim.stop()


async def test_injected_faults_answer_the_next_matching_requests(
    sim: AriSimulator, client: AriTestClient
) -> None:
    _, _, caller_id, _, _ = await _in_stasis(sim, client)
    sim.fail_next("POST", "/channels/{channelId}/play", count=2, status=503,
                  message="Service Unavailable")
    for _ in range(2):
        assert await client.request("POST", f"/channels/{caller_id}/play",
                                    {"media": "sound:beep"}) == (
            503, {"message": "Service Unavailable"})
    status, _ = await client.request("POST", f"/channels/{caller_id}/play",
                                     {"media": "sound:beep"})
    assert status == 201
    sim.fail_next("GET", "/asterisk/ping")
    assert (await client.request("GET", "/asterisk/ping"))[0] == 500
    assert (await client.request("GET", "/asterisk/ping"))[0] == 200


async def test_unknown_channels_404_on_channels_but_400_on_add_channel(
    client: AriTestClient,
) -> None:
    await client.request("POST", "/bridges", {"bridgeId": "b"})
    assert await client.request("POST", "/channels/nonexistent/answer") == (
        404, {"message": "Channel not found"})
    assert await client.request("POST", "/bridges/b/addChannel", {"channel": "nonexistent"}) == (
        400, {"message": "Channel not found"})


async def test_not_yet_answered_channels_refuse_media_with_412(
    sim: AriSimulator, client: AriTestClient
) -> None:
    caller = sim.add_phone("caller", "PJSIP/1002")
    events = await client.events("payivr")
    sim.dialplan.add("payline", "s", "Stasis(payivr,payline)")
    await caller.call("s", context="payline")
    start = await events.wait_for(lambda e: e["type"] == "StasisStart")
    channel_id = start["channel"]["id"]
    assert start["channel"]["state"] == "Ring"
    status, _ = await client.request("POST", f"/channels/{channel_id}/play",
                                     {"media": "sound:beep"})
    assert status == 201  # Ring is an inbound, unanswered state: allowed
    assert await client.request("POST", f"/channels/{channel_id}/answer") == (204, "")
    change = await events.wait_for(lambda e: e["type"] == "ChannelStateChange")
    assert change["channel"]["state"] == "Up"


async def test_snoop_whisper_reaches_the_snooped_phone(sim: AriSimulator,
                                                       client: AriTestClient) -> None:
    caller, _, caller_id, _, events = await _in_stasis(sim, client)
    status, snoop = await client.request("POST", f"/channels/{caller_id}/snoop", {
        "app": "payivr", "whisper": "out", "snoopId": "whisper-1"})
    assert (status, snoop["id"]) == (200, "whisper-1")
    await events.wait_for(lambda e: e["type"] == "StasisStart"
                          and e["channel"]["id"] == "whisper-1")
    await client.request("POST", "/channels/whisper-1/play", {"media": "sound:beep"})
    await caller.wait_for(lambda p: p.heard == ["sound:beep"])


async def test_variables_and_asterisk_info(sim: AriSimulator, client: AriTestClient) -> None:
    _, _, caller_id, _, _ = await _in_stasis(sim, client)
    assert await client.request("POST", f"/channels/{caller_id}/variable",
                                {"variable": "PAYIVR_STATE", "value": "capturing"}) == (204, "")
    assert await client.request("GET", f"/channels/{caller_id}/variable",
                                {"variable": "PAYIVR_STATE"}) == (200, {"value": "capturing"})
    assert await client.request("GET", f"/channels/{caller_id}/variable",
                                {"variable": "CALLERID(num)"}) == (200, {"value": "1002"})
    assert await client.request("GET", f"/channels/{caller_id}/variable",
                                {"variable": "NOPE"}) == (
        404, {"message": "Provided variable was not found"})
    status, info = await client.request("GET", "/asterisk/info", {"only": "system"})
    assert status == 200 and info == {"system": {"version": "22.10.1",
                                                 "entity_id": "02:fc:00:00:00:01"}}
    validator = sim.spec
    assert validator.validate_model("AsteriskInfo", info) == []
    status, ping = await client.request("GET", "/asterisk/ping")
    assert validator.validate_model("AsteriskPing", ping) == []
