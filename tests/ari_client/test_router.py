"""Events reach the right call, in order; a slow call never delays another."""

from __future__ import annotations

import asyncio

from payivr.ari import events
from payivr.ari.events import parse_event
from payivr.ari.models import Application, Bridge, Channel, Snapshot
from payivr.ari.router import Call, CallEvent, EventRouter, Resynced

from .fakeari import bridge_json, channel_json, event_json


def stasis_start(channel_id: str, *args: str) -> events.AriEvent:
    event = parse_event(event_json("StasisStart", args=list(args),
                                   channel=channel_json(channel_id)))
    assert event is not None
    return event


def dtmf(channel_id: str, digit: str) -> events.AriEvent:
    event = parse_event(event_json("ChannelDtmfReceived", digit=digit, duration_ms=100,
                                   channel=channel_json(channel_id)))
    assert event is not None
    return event


def stasis_end(channel_id: str) -> events.AriEvent:
    event = parse_event(event_json("StasisEnd", channel=channel_json(channel_id)))
    assert event is not None
    return event


def by_takeover_key(event: events.StasisStart) -> str | None:
    """takeover,caller|agent,<key> -> <key>; anything else -> its own channel."""
    if event.args[:1] == ("takeover",) and len(event.args) == 3:
        return event.args[2]
    if event.args[:1] == ("ignore",):
        return None
    return event.channel.id


class Recorder:
    """A call handler that records what each call saw until StasisEnd of all its channels."""

    def __init__(self) -> None:
        self.seen: dict[str, list[str]] = {}
        self.done: dict[str, asyncio.Event] = {}
        self.gates: dict[str, asyncio.Event] = {}

    def done_for(self, key: str) -> asyncio.Event:
        return self.done.setdefault(key, asyncio.Event())

    async def __call__(self, call: Call) -> None:
        seen = self.seen.setdefault(call.key, [])
        try:
            while True:
                event = await call.next_event()
                gate = self.gates.get(call.key)
                if gate is not None:
                    await gate.wait()
                seen.append(describe(event))
                if isinstance(event, events.StasisEnd):
                    call.unbind_channel(event.channel.id)
                    if not call.channel_ids:
                        return
        finally:
            self.done_for(call.key).set()


def describe(event: CallEvent) -> str:
    if isinstance(event, events.ChannelDtmfReceived):
        return f"{event.channel.id}:{event.digit}"
    if isinstance(event, events.ChannelEvent):
        return f"{event.channel.id}:{type(event).__name__}"
    return type(event).__name__


async def test_takeover_legs_share_one_call_in_order() -> None:
    recorder = Recorder()
    router = EventRouter(assign=by_takeover_key, handler=recorder)
    for event in [stasis_start("agent", "takeover", "agent", "k1"),
                  stasis_start("caller", "takeover", "caller", "k1"),
                  dtmf("caller", "4"), dtmf("agent", "9"), dtmf("caller", "2"),
                  stasis_end("agent"), stasis_end("caller")]:
        router.dispatch(event)

    await asyncio.wait_for(recorder.done_for("k1").wait(), 2)

    assert recorder.seen["k1"] == [
        "agent:StasisStart", "caller:StasisStart", "caller:4", "agent:9", "caller:2",
        "agent:StasisEnd", "caller:StasisEnd"]
    assert router.calls == {}
    assert router.call_for_channel("caller") is None


async def test_blocked_call_does_not_delay_another() -> None:
    recorder = Recorder()
    recorder.gates["slow"] = asyncio.Event()  # the "slow" call blocks on its first event
    router = EventRouter(assign=by_takeover_key, handler=recorder)

    router.dispatch(stasis_start("slow"))
    router.dispatch(dtmf("slow", "1"))
    router.dispatch(stasis_start("fast"))
    router.dispatch(dtmf("fast", "5"))
    router.dispatch(stasis_end("fast"))

    await asyncio.wait_for(recorder.done_for("fast").wait(), 2)
    assert recorder.seen["fast"] == ["fast:StasisStart", "fast:5", "fast:StasisEnd"]
    assert recorder.seen["slow"] == []
    assert router.calls["slow"].pending == 1  # still queued, in order, nothing lost

    recorder.gates["slow"].set()
    router.dispatch(stasis_end("slow"))
    await asyncio.wait_for(recorder.done_for("slow").wait(), 2)
    assert recorder.seen["slow"] == ["slow:StasisStart", "slow:1", "slow:StasisEnd"]


async def test_unassigned_and_unknown_channels_are_dropped() -> None:
    recorder = Recorder()
    router = EventRouter(assign=by_takeover_key, handler=recorder)
    router.dispatch(stasis_start("snooper", "ignore"))
    router.dispatch(dtmf("nobody", "1"))
    await asyncio.sleep(0)
    assert router.calls == {} and recorder.seen == {}


async def test_assign_failure_does_not_break_dispatch() -> None:
    def broken(event: events.StasisStart) -> str | None:
        raise RuntimeError("bug in assign")

    router = EventRouter(assign=broken, handler=Recorder())
    router.dispatch(stasis_start("c1"))
    assert router.calls == {}


async def test_prebound_originated_channel_and_playbacks_reach_the_call() -> None:
    """Outbound: open the call, bind the id, originate; every event of it reaches the call."""
    recorder = Recorder()
    router = EventRouter(assign=by_takeover_key, handler=recorder)
    call = router.open_call("out-1")
    call.bind_channel("payivr-cust-1")
    call.bind_bridge("payivr-br-1")

    state = parse_event(event_json("ChannelStateChange",
                                   channel=channel_json("payivr-cust-1", state="Ringing")))
    played = parse_event(event_json("PlaybackFinished", playback={
        "id": "pb-1", "media_uri": "sound:x", "target_uri": "channel:payivr-cust-1",
        "state": "done"}))
    gone = parse_event(event_json("BridgeDestroyed", bridge=bridge_json("payivr-br-1")))
    for event in [state, played, gone, stasis_end("payivr-cust-1")]:
        assert event is not None
        router.dispatch(event)

    await asyncio.wait_for(recorder.done_for("out-1").wait(), 2)
    assert recorder.seen["out-1"] == ["payivr-cust-1:ChannelStateChange", "PlaybackFinished",
                                      "BridgeDestroyed", "payivr-cust-1:StasisEnd"]


async def test_crashing_handler_is_contained() -> None:
    async def crash(call: Call) -> None:
        await call.next_event()
        raise RuntimeError("boom")

    router = EventRouter(assign=by_takeover_key, handler=crash)
    router.dispatch(stasis_start("c1"))
    await asyncio.sleep(0.01)
    assert router.calls == {}
    router.dispatch(dtmf("c1", "1"))  # dropped, no error


async def test_resync_tells_calls_what_survived_and_reports_orphans() -> None:
    received: dict[str, list[CallEvent]] = {}
    release = asyncio.Event()

    async def handler(call: Call) -> None:
        while not release.is_set() or call.pending:
            received.setdefault(call.key, []).append(await call.next_event())

    router = EventRouter(assign=by_takeover_key, handler=handler)
    router.dispatch(stasis_start("agent", "takeover", "agent", "k1"))
    router.dispatch(stasis_start("caller", "takeover", "caller", "k1"))
    router.calls["k1"].bind_bridge("payivr-k1")
    snapshot = Snapshot(
        asterisk_id="x", application=Application(name="payivr"),
        channels=(Channel.from_json(channel_json("caller")),
                  Channel.from_json(channel_json("stranger")),
                  # Subscribed only: far halves of Local channels payivr dialled, in the
                  # Stasis of other applications (one named like payivr's, too).
                  Channel.from_json(channel_json("agent-phone;2", app_data="harness,phone")),
                  Channel.from_json(channel_json("ringing;2", app_data="payivr-other"))),
        bridges=(Bridge.from_json(bridge_json("payivr-k1")),
                 Bridge.from_json(bridge_json("payivr-old"))),
        connection=2)

    report = router.resync(snapshot)
    release.set()
    await asyncio.sleep(0.01)

    assert received["k1"][-1] == Resynced(present=frozenset({"caller"}),
                                          gone=frozenset({"agent"}), connection=2)
    assert [c.id for c in report.orphan_channels] == ["stranger"]
    assert [b.id for b in report.leftover_bridges] == ["payivr-old"]
    await router.aclose()
