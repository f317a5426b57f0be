"""The client, router and event stream against payivr's ARI simulator (an Asterisk 22
look-alike): a takeover in talk-through keeps the caller's digits from the agent, and the
stream survives a silent and an aborted socket."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator

import pytest

from payivr.ari import errors, events, media
from payivr.ari.client import AriClient
from payivr.ari.models import Snapshot
from payivr.ari.router import Call, EventRouter
from payivr.ari.stream import Backoff, EventStream
from payivr.sim.ari import AriSimulator

USER, PASSWORD = "payivr", "sim-secret"


@pytest.fixture
async def sim() -> AsyncIterator[AriSimulator]:
    async with AriSimulator(USER, PASSWORD, time_scale=0.02,
                            sound_durations={"beep": 0.5}) as simulator:
        yield simulator


@pytest.fixture
async def client(sim: AriSimulator) -> AsyncIterator[AriClient]:
    async with AriClient(sim.base_url, USER, PASSWORD) as ari:
        yield ari


def takeover_key(event: events.StasisStart) -> str | None:
    return event.args[2] if event.args[:1] == ("takeover",) else None


async def test_check_api_passes_on_the_simulator(client: AriClient) -> None:
    await client.check_api()


async def test_takeover_talk_through_keeps_digits_from_the_agent(sim: AriSimulator,
                                                                 client: AriClient) -> None:
    digits: list[str] = []
    finished = asyncio.Event()

    async def run_call(call: Call) -> None:
        legs: dict[str, str] = {}
        while len(legs) < 2:
            event = await call.next_event()
            if isinstance(event, events.StasisStart):
                legs[event.args[1]] = event.channel.id
        bridge = f"payivr-{call.key}"
        call.bind_bridge(bridge)
        await client.bridges.create(bridge)
        await client.bridges.add_channel(bridge, legs["agent"])
        await client.bridges.add_channel(bridge, legs["caller"], absorb_dtmf=True)
        await client.channels.play(legs["caller"], media.sound("beep"), playback_id="pb-k1")
        while len(digits) < 4 or not finished.is_set():
            event = await call.next_event()
            if isinstance(event, events.ChannelDtmfReceived):
                digits.append(event.digit)
            elif isinstance(event, events.PlaybackFinished):
                assert event.playback.id == "pb-k1" and event.playback.state == "done"
                finished.set()
        await client.bridges.destroy(bridge)
        for channel_id in legs.values():
            await client.channels.hangup(channel_id)

    router = EventRouter(assign=takeover_key, handler=run_call)
    stream = EventStream(client, "payivr", on_event=router.dispatch, heartbeat=0.5)
    task = asyncio.create_task(stream.run())
    try:
        await asyncio.wait_for(stream.connected.wait(), 5)
        caller = sim.add_phone("caller", endpoint="PJSIP/1002")
        agent = sim.add_phone("agent", endpoint="PJSIP/1001")
        dialed = await sim.dial(caller, agent)
        # payivr's AMI Redirect with ExtraChannel: both legs into Stasis(payivr,takeover,...,k1)
        sim.set_variable(dialed.caller_channel_id, "PAYIVR_KEY", "k1")
        sim.set_variable(dialed.agent_channel_id, "PAYIVR_KEY", "k1")
        await sim.redirect(dialed.caller_channel_id, "payivr-takeover", "caller",
                           extra_channel=dialed.agent_channel_id, extra_exten="agent")
        await caller.wait_for(lambda p: "sound:beep" in p.heard)
        await caller.press("4242")
        await caller.wait_for(lambda p: not p.in_call)
    finally:
        task.cancel()
        await router.aclose()
    assert digits == ["4", "2", "4", "2"]
    assert agent.received_dtmf == ""
    assert sim.bridges == {} or all(not b.startswith("payivr-") for b in sim.bridges)


async def test_gone_channel_errors_from_the_simulator(client: AriClient) -> None:
    await client.bridges.create("payivr-x")
    with pytest.raises(errors.ChannelNotFound):
        await client.channels.answer("nonexistent")
    with pytest.raises(errors.ChannelNotFoundInBridge):
        await client.bridges.add_channel("payivr-x", "nonexistent")
    await client.bridges.destroy("payivr-x")
    with pytest.raises(errors.NotFound):
        await client.bridges.destroy("payivr-x")


@pytest.mark.parametrize("mode", ["silent", "abort", "close"])
async def test_stream_recovers_from_a_dropped_socket(sim: AriSimulator, client: AriClient,
                                                     mode: str) -> None:
    snapshots: list[Snapshot] = []
    reconciled = asyncio.Event()
    started = asyncio.Event()

    def on_event(event: events.AriEvent) -> None:
        if isinstance(event, events.StasisStart):
            started.set()

    async def reconcile(snapshot: Snapshot) -> None:
        snapshots.append(snapshot)
        reconciled.set()

    stream = EventStream(client, "payivr", on_event=on_event, reconcile=reconcile,
                         heartbeat=0.2, backoff=Backoff(0.02, 0.1, rng=random.Random(5)))
    task = asyncio.create_task(stream.run())
    try:
        await asyncio.wait_for(reconciled.wait(), 5)
        sim.dialplan.add("payline", "7290", "Answer()", "Stasis(payivr,payline)", "Hangup()")
        phone = sim.add_phone("caller", endpoint="PJSIP/1002")
        channel_id = await phone.call("7290", context="payline")
        await asyncio.wait_for(started.wait(), 5)
        reconciled.clear()
        await sim.drop_websockets("payivr", mode)
        await asyncio.wait_for(reconciled.wait(), 5)
    finally:
        task.cancel()
    assert [s.connection for s in snapshots] == [1, 2]
    assert [c.id for c in snapshots[1].channels] == [channel_id]
