"""DTMF across bridges (native bridging included), what phones hear, playbacks."""

from __future__ import annotations

import asyncio

import pytest

from payivr.sim.ari import AriSimulator, SimPhone

from .helpers import AriTestClient, EventStream, load_trace


async def _takeover(sim: AriSimulator, client: AriTestClient, technology: str = "sip"
                    ) -> tuple[SimPhone, SimPhone, str, str, EventStream]:
    """Caller and agent bridged by Dial(), then both moved into Stasis(payivr)."""
    caller = sim.add_phone("caller", "PJSIP/1002" if technology == "sip" else "Local/1002@sim",
                           technology=technology)
    agent = sim.add_phone("agent", "PJSIP/1001" if technology == "sip" else "Local/1001@sim",
                          technology=technology)
    events = await client.events("payivr")
    call = await sim.dial(caller, agent)
    await sim.redirect(call.caller_channel_id, "payivr-takeover", "caller", 1,
                       extra_channel=call.agent_channel_id, extra_exten="agent")
    await events.wait_for(lambda e: e["type"] == "StasisStart" and e["args"][1] == "caller")
    await events.wait_for(lambda e: e["type"] == "StasisStart" and e["args"][1] == "agent")
    return caller, agent, call.caller_channel_id, call.agent_channel_id, events


def _digits(events: EventStream, channel_id: str) -> str:
    return "".join(e["digit"] for e in events.events
                   if e["type"] == "ChannelDtmfReceived" and e["channel"]["id"] == channel_id)


async def _bridge(client: AriTestClient, bridge_type: str, agent_id: str, caller_id: str) -> None:
    assert (await client.request("POST", "/bridges", {"type": bridge_type,
                                                      "bridgeId": "call"}))[0] == 200
    assert (await client.request("POST", "/bridges/call/addChannel",
                                 {"channel": agent_id}))[0] == 204
    assert (await client.request("POST", "/bridges/call/addChannel",
                                 {"channel": caller_id, "absorbDTMF": "true"}))[0] == 204


async def test_a_plain_mixing_bridge_leaks_the_callers_digits_to_the_agent(
    sim: AriSimulator, client: AriTestClient
) -> None:
    """As on Asterisk 22 with two SIP phones: native RTP bridging ignores absorbDTMF and the
    application sees no digit at all."""
    caller, agent, caller_id, agent_id, events = await _takeover(sim, client)
    await _bridge(client, "mixing", agent_id, caller_id)
    assert sim.bridges["call"].technology == "native_rtp"
    await caller.press("4242", duration_ms=180, gap_ms=140)
    await agent.wait_for(lambda p: p.received_dtmf == "4242")
    await asyncio.sleep(0.05)
    assert _digits(events, caller_id) == ""


async def test_a_dtmf_events_bridge_with_absorb_keeps_the_digits_from_the_agent(
    sim: AriSimulator, client: AriTestClient
) -> None:
    caller, agent, caller_id, agent_id, events = await _takeover(sim, client)
    await _bridge(client, "mixing,dtmf_events", agent_id, caller_id)
    assert sim.bridges["call"].technology == "simple_bridge"
    await caller.press("4242", duration_ms=180, gap_ms=140)
    await events.wait_for(lambda e: e["type"] == "ChannelDtmfReceived" and e["digit"] == "2"
                          and _digits(events, caller_id) == "4242")
    assert agent.received_dtmf == ""
    # re-added without absorbDTMF, the digits cross the bridge again (and the app sees them)
    await client.request("POST", "/bridges/call/addChannel", {"channel": caller_id})
    await caller.press("5")
    await agent.wait_for(lambda p: p.received_dtmf == "5")
    await events.wait_for(lambda e: e["type"] == "ChannelDtmfReceived" and e["digit"] == "5")


async def test_local_phones_never_bridge_natively(sim: AriSimulator,
                                                   client: AriTestClient) -> None:
    caller, agent, caller_id, agent_id, events = await _takeover(sim, client, "local")
    await _bridge(client, "mixing", agent_id, caller_id)
    assert sim.bridges["call"].technology == "simple_bridge"
    await caller.press("42")
    await events.wait_for(lambda e: e["type"] == "ChannelDtmfReceived" and e["digit"] == "2")
    assert agent.received_dtmf == ""


async def test_the_feature_code_raises_a_user_event_and_the_caller_hears_no_digit(
    sim: AriSimulator,
) -> None:
    caller = sim.add_phone("caller", "PJSIP/1002")
    agent = sim.add_phone("agent", "PJSIP/1001")
    raised = []
    sim.add_listener(lambda event: raised.append(event))
    call = await sim.dial(caller, agent)
    assert sim.bridges[call.bridge_id].technology == "simple_bridge"  # feature hooks
    await agent.press("1*7")
    await asyncio.sleep(0.1)
    request = [e for e in raised if getattr(e, "name", "") == "PayIVRRequest"]
    assert len(request) == 1
    assert request[0].fields == {"Agent": sim.channels[call.agent_channel_id].name,
                                 "Peer": sim.channels[call.caller_channel_id].name}
    assert caller.received_dtmf == "1"


async def test_what_each_phone_hears(sim: AriSimulator, client: AriTestClient) -> None:
    caller, agent, caller_id, agent_id, events = await _takeover(sim, client)
    await _bridge(client, "mixing,dtmf_events", agent_id, caller_id)
    assert agent.can_hear(caller) and caller.can_hear(agent)
    await caller.say("my card is ready")
    assert agent.heard_voices == [("caller", "my card is ready")]

    # hold mode: caller out of the bridge, agent muted both ways and on music
    await client.request("POST", "/bridges/call/removeChannel", {"channel": caller_id})
    await client.request("POST", f"/channels/{agent_id}/mute", {"direction": "both"})
    await client.request("POST", f"/channels/{agent_id}/moh", {"mohClass": "default"})
    assert not agent.can_hear(caller) and not caller.can_hear(agent)
    status, _ = await client.request("POST", f"/channels/{caller_id}/play",
                                     {"media": "sound:beep,digits:42", "playbackId": "p1"})
    assert status == 201
    await events.wait_for(lambda e: e["type"] == "PlaybackFinished")
    assert caller.heard == ["sound:beep", "digits:42"]
    # the suppress framehook of mute "out" drops the music's frames too, as on Asterisk
    assert agent.heard == []

    # reconnected: both hear each other again
    await client.request("DELETE", f"/channels/{agent_id}/moh")
    await client.request("DELETE", f"/channels/{agent_id}/mute", {"direction": "both"})
    await client.request("POST", "/bridges/call/addChannel", {"channel": caller_id})
    assert agent.can_hear(caller) and caller.can_hear(agent)

    # muted "in": the others no longer hear this phone, it still hears them
    await client.request("POST", f"/channels/{caller_id}/mute", {"direction": "in"})
    assert not agent.can_hear(caller) and caller.can_hear(agent)


def talk_detected_around_the_prompt(trace: str) -> tuple[list[str], list[str]]:
    """From a bench/talk_through.py recording: the agent phone's TALK_DETECT events while the
    prompt played on the caller's bridged leg, and after it."""
    during: list[str] = []
    after: list[str] = []
    state = "before"
    for line in load_trace(trace):
        event = line.get("event", {})
        playback = event.get("playback", {}).get("id")
        if playback == "tt-prompt":
            state = "during" if event["type"] == "PlaybackStarted" else "after"
        elif event.get("type", "").startswith("ChannelTalking") and state != "before":
            assert event["channel"]["id"] == "tt-agent"
            (during if state == "during" else after).append(event["type"])
    return during, after


async def test_a_prompt_on_a_bridged_channel_suspends_it_from_the_bridge(
    sim: AriSimulator, client: AriTestClient
) -> None:
    """Talk-through on Asterisk 22: a channel playback on a bridged channel is a bridge
    action that suspends the channel until the prompt ends, so caller and agent do not hear
    each other while any prompt plays, then talk again. Recorded on 22.10.1: the caller's
    tone stopped reaching the agent's phone as the prompt started and came back after."""
    during, after = talk_detected_around_the_prompt(
        "talk-through-prompt-suspends-caller.jsonl"
    )
    assert (during, after) == (["ChannelTalkingFinished"], ["ChannelTalkingStarted"])

    caller, agent, caller_id, agent_id, events = await _takeover(sim, client)
    await _bridge(client, "mixing,dtmf_events", agent_id, caller_id)
    sim.sounds.durations["payivr/en/enter-card-number"] = 50.0
    await client.request("POST", f"/channels/{caller_id}/play",
                         {"media": "sound:payivr/en/enter-card-number", "playbackId": "p1"})
    await events.wait_for(lambda e: e["type"] == "PlaybackStarted")
    assert not agent.can_hear(caller) and not caller.can_hear(agent)
    await caller.say("is this thing on")
    assert agent.heard_voices == []
    await client.request("DELETE", "/playbacks/p1")
    await events.wait_for(lambda e: e["type"] == "PlaybackFinished")
    assert agent.can_hear(caller) and caller.can_hear(agent)


async def test_a_missing_sound_is_accepted_then_fails(sim: AriSimulator,
                                                      client: AriTestClient) -> None:
    sim.sounds.durations["no-such-sound"] = None
    caller, _, caller_id, _, events = await _takeover(sim, client)
    status, body = await client.request("POST", f"/channels/{caller_id}/play",
                                        {"media": "sound:no-such-sound", "playbackId": "p"})
    assert (status, body["state"]) == (201, "queued")
    finished = await events.wait_for(lambda e: e["type"] == "PlaybackFinished")
    assert finished["playback"]["state"] == "failed"
    assert caller.heard == []


async def test_stopping_a_number_in_a_list_fails_and_the_list_plays_on(
    sim: AriSimulator, client: AriTestClient
) -> None:
    caller, _, caller_id, _, events = await _takeover(sim, client)
    await client.request("POST", f"/channels/{caller_id}/play",
                         {"media": "number:137,sound:dollars", "playbackId": "amount"})
    await events.wait_for(lambda e: e["type"] == "PlaybackStarted")
    assert await client.request("DELETE", "/playbacks/amount") == (
        500, {"message": "Could not stop playback"})
    continuing = await events.wait_for(lambda e: e["type"] == "PlaybackContinuing")
    assert continuing["playback"]["next_media_uri"] == "sound:dollars"
    await events.wait_for(lambda e: e["type"] == "PlaybackStarted"
                          and e["playback"]["media_uri"] == "sound:dollars")
    assert await client.request("DELETE", "/playbacks/amount") == (204, "")
    finished = await events.wait_for(lambda e: e["type"] == "PlaybackFinished")
    assert finished["playback"]["state"] == "done"
    assert await client.request("GET", "/playbacks/amount") == (
        404, {"message": "Playback not found"})
    assert caller.heard == ["number:137", "sound:dollars"]


async def test_playbacks_on_one_channel_queue_and_barge_in_stops_them(
    sim: AriSimulator, client: AriTestClient
) -> None:
    caller, _, caller_id, _, events = await _takeover(sim, client)
    for playback_id in ("first", "second"):
        await client.request("POST", f"/channels/{caller_id}/play/{playback_id}",
                             {"media": "sound:prompt"})
    status, second = await client.request("GET", "/playbacks/second")
    assert (status, second["state"]) == (200, "queued")
    await client.request("DELETE", "/playbacks/first")
    started = await events.wait_for(lambda e: e["type"] == "PlaybackStarted"
                                    and e["playback"]["id"] == "second")
    assert started["playback"]["target_uri"] == f"channel:{caller_id}"
    await events.wait_for(lambda e: e["type"] == "PlaybackFinished"
                          and e["playback"]["id"] == "second")
    assert caller.heard == ["sound:prompt", "sound:prompt"]


async def test_a_bridge_playback_is_heard_by_every_member(sim: AriSimulator,
                                                          client: AriTestClient) -> None:
    caller, agent, caller_id, agent_id, events = await _takeover(sim, client)
    await _bridge(client, "mixing,dtmf_events", agent_id, caller_id)
    status, body = await client.request("POST", "/bridges/call/play",
                                        {"media": "sound:beep", "playbackId": "bp"})
    assert (status, body["target_uri"]) == (201, "bridge:call")
    await events.wait_for(lambda e: e["type"] == "PlaybackFinished")
    assert caller.heard == agent.heard == ["sound:beep"]


@pytest.mark.parametrize("direction", ["out", "both"])
async def test_a_channel_muted_out_hears_no_playback(sim: AriSimulator, client: AriTestClient,
                                                      direction: str) -> None:
    caller, _, caller_id, _, events = await _takeover(sim, client)
    await client.request("POST", f"/channels/{caller_id}/mute", {"direction": direction})
    await client.request("POST", f"/channels/{caller_id}/play", {"media": "sound:beep"})
    await events.wait_for(lambda e: e["type"] == "PlaybackFinished")
    assert caller.heard == []


async def test_dtmf_sent_by_the_application_reaches_the_handset(
    sim: AriSimulator, client: AriTestClient
) -> None:
    caller, _, caller_id, _, _ = await _takeover(sim, client)
    assert await client.request("POST", f"/channels/{caller_id}/dtmf",
                                {"dtmf": "12#", "between": 50, "duration": 80}) == (204, "")
    await caller.wait_for(lambda p: p.received_dtmf == "12#")
    assert await client.request("POST", f"/channels/{caller_id}/dtmf", {}) == (
        400, {"message": "DTMF is required"})


async def test_hold_plays_music_to_the_other_party(sim: AriSimulator,
                                                   client: AriTestClient) -> None:
    caller, agent, caller_id, agent_id, events = await _takeover(sim, client)
    await _bridge(client, "mixing,dtmf_events", agent_id, caller_id)
    await client.request("POST", f"/channels/{agent_id}/hold")
    await events.wait_for(lambda e: e["type"] == "ChannelHold")
    assert caller.heard == ["moh:default"] and not caller.can_hear(agent)
    await client.request("DELETE", f"/channels/{agent_id}/hold")
    await events.wait_for(lambda e: e["type"] == "ChannelUnhold")
    assert caller.can_hear(agent)


async def test_music_on_hold_is_heard_when_only_the_microphone_is_muted(
    sim: AriSimulator, client: AriTestClient
) -> None:
    _, agent, _, agent_id, _ = await _takeover(sim, client)
    await client.request("POST", f"/channels/{agent_id}/mute", {"direction": "in"})
    await client.request("POST", f"/channels/{agent_id}/moh", {"mohClass": "jazz"})
    assert agent.heard == ["moh:jazz"]


async def test_a_holding_bridge_keeps_its_participants_apart(sim: AriSimulator,
                                                             client: AriTestClient) -> None:
    caller, agent, caller_id, agent_id, events = await _takeover(sim, client)
    await client.request("POST", "/bridges", {"type": "holding", "bridgeId": "wait"})
    await client.request("POST", "/bridges/wait/addChannel",
                         {"channel": f"{caller_id},{agent_id}"})
    await client.request("POST", "/bridges/wait/moh", {"mohClass": "default"})
    assert not caller.can_hear(agent) and caller.heard == agent.heard == ["moh:default"]
    await caller.press("7")
    await events.wait_for(lambda e: e["type"] == "ChannelDtmfReceived")
    assert agent.received_dtmf == ""
