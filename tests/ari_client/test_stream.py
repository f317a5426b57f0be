"""The event WebSocket: auth header, snapshot + reconcile on every (re)connect, heartbeat,
reconnect with backoff, malformed events skipped, ordering through the router."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import structlog

from payivr.ari import events
from payivr.ari.client import AriClient
from payivr.ari.models import Snapshot
from payivr.ari.router import Call, EventRouter
from payivr.ari.stream import Backoff, EventStream

from .fakeari import PASSWORD, USER, FakeAri, bridge_json, channel_json, event_json

FAST = {"heartbeat": 0.2, "connect_timeout": 1.0, "stable_after": 60.0}


class Collector:
    def __init__(self) -> None:
        self.events: list[events.AriEvent] = []
        self.snapshots: list[Snapshot] = []
        self.changed = asyncio.Event()

    def on_event(self, event: events.AriEvent) -> None:
        self.events.append(event)
        self.changed.set()

    async def reconcile(self, snapshot: Snapshot) -> None:
        self.snapshots.append(snapshot)
        self.changed.set()

    async def wait_for(self, predicate, within: float = 5.0) -> None:
        async with asyncio.timeout(within):
            while not predicate():
                self.changed.clear()
                await self.changed.wait()


@asynccontextmanager
async def running(stream: EventStream) -> AsyncIterator[EventStream]:
    task = asyncio.create_task(stream.run())
    try:
        yield stream
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


def make_stream(ari: AriClient, collector: Collector, **options) -> EventStream:
    settings = {**FAST, "backoff": Backoff(0.02, 0.1, rng=random.Random(1)),
                "on_event": collector.on_event, "reconcile": collector.reconcile, **options}
    return EventStream(ari, "payivr", **settings)


async def test_connects_with_auth_header_then_snapshots_and_reconciles(
    fake: FakeAri, ari: AriClient,
) -> None:
    fake.channels = [channel_json("caller-leg"), channel_json("not-ours")]
    fake.app_channel_ids = ["caller-leg", "agent-leg-gone"]
    fake.bridges = [bridge_json("payivr-k1", ["caller-leg"]), bridge_json("foreign")]
    collector = Collector()

    async with running(make_stream(ari, collector)) as stream:
        await asyncio.wait_for(stream.connected.wait(), 5)

    (connect,) = fake.ws_connects
    assert connect.query == {"app": "payivr", "subscribeAll": "false"}
    assert connect.authorization is not None and connect.authorization.startswith("Basic ")
    assert USER not in connect.raw_url and PASSWORD not in connect.raw_url
    assert fake.paths() == ["/asterisk/ping", "/applications/payivr", "/channels", "/bridges"]
    (snapshot,) = collector.snapshots
    assert snapshot.connection == 1
    assert [c.id for c in snapshot.channels] == ["caller-leg"]
    assert [b.id for b in snapshot.bridges] == ["payivr-k1"]
    assert snapshot.application.channel_ids == ("caller-leg", "agent-leg-gone")


async def test_events_delivered_in_order_malformed_and_unknown_skipped(
    fake: FakeAri, ari: AriClient,
) -> None:
    collector = Collector()
    async with running(make_stream(ari, collector)) as stream:
        await asyncio.wait_for(stream.connected.wait(), 5)
        with structlog.testing.capture_logs() as logs:
            await fake.send(
                event_json("StasisStart", args=["payline"], channel=channel_json("c1")),
                "this is not json 9876",
                event_json("ChannelDtmfReceived", digit="9876"),  # no channel: malformed
                event_json("ChannelTalkingStarted", channel=channel_json("c1")),
                event_json("ChannelDtmfReceived", digit="5", duration_ms=100,
                           channel=channel_json("c1")),
                event_json("StasisEnd", channel=channel_json("c1")),
            )
            await collector.wait_for(lambda: len(collector.events) == 3)

    assert [type(e).__name__ for e in collector.events] == [
        "StasisStart", "ChannelDtmfReceived", "StasisEnd"]
    malformed = [entry for entry in logs if entry["event"] == "ari.event_malformed"]
    assert [entry["type"] for entry in malformed] == [None, "ChannelDtmfReceived"]
    assert all("9876" not in repr(entry) and "'5'" not in repr(entry) for entry in logs)
    assert len(fake.ws_connects) == 1  # the reader survived


async def test_reconcile_runs_before_any_event_of_the_new_connection(
    fake: FakeAri, ari: AriClient,
) -> None:
    fake.greeting = [event_json("StasisStart", args=[], channel=channel_json("early"))]
    order: list[str] = []
    collector = Collector()

    async def reconcile(snapshot: Snapshot) -> None:
        await asyncio.sleep(0.05)  # the greeting is already waiting in the socket
        order.append("reconcile")

    def on_event(event: events.AriEvent) -> None:
        order.append(type(event).__name__)
        collector.on_event(event)

    async with running(make_stream(ari, collector, reconcile=reconcile, on_event=on_event)):
        await collector.wait_for(lambda: len(collector.events) == 1)
    assert order == ["reconcile", "StasisStart"]


async def test_heartbeat_detects_a_silent_server_and_reconnects(fake: FakeAri,
                                                                ari: AriClient) -> None:
    fake.ws_silent = True  # accepts the socket, then never answers a ping
    collector = Collector()
    async with running(make_stream(ari, collector)):
        await fake.wait_socket(count=1)
        fake.ws_silent = False
        await fake.wait_socket(count=2)
        await collector.wait_for(lambda: len(collector.snapshots) == 2)
    assert [s.connection for s in collector.snapshots] == [1, 2]


async def test_reconnects_after_server_side_close(fake: FakeAri, ari: AriClient) -> None:
    collector = Collector()
    async with running(make_stream(ari, collector)) as stream:
        socket = await fake.wait_socket(count=1)
        await collector.wait_for(lambda: len(collector.snapshots) == 1)
        await socket.close()
        await collector.wait_for(lambda: len(collector.snapshots) == 2)
        assert stream.connections == 2
        await fake.send(event_json("StasisEnd", channel=channel_json("c1")))
        await collector.wait_for(lambda: len(collector.events) == 1)
    assert len(fake.ws_connects) == 2


async def test_reconnects_after_server_restart_with_backoff(fake: FakeAri,
                                                            ari: AriClient) -> None:
    collector = Collector()
    backoff = Backoff(0.02, 0.1, rng=random.Random(3))
    async with running(make_stream(ari, collector, backoff=backoff)):
        await collector.wait_for(lambda: len(collector.snapshots) == 1)
        await fake.stop()
        await asyncio.sleep(0.3)  # several refused connection attempts meanwhile
        assert backoff.attempt >= 3
        fake.channels = [channel_json("survivor")]
        await fake.start()  # same port
        await collector.wait_for(lambda: len(collector.snapshots) == 2)
    assert [c.id for c in collector.snapshots[1].channels] == ["survivor"]
    assert collector.snapshots[1].connection == 2


async def test_rejected_credentials_keep_retrying_without_crashing(fake: FakeAri) -> None:
    collector = Collector()
    async with AriClient(fake.url, USER, "wrong") as client:
        stream = make_stream(client, collector)
        async with running(stream):
            await fake.wait_attempts(3)
    assert stream.connections == 0 and collector.snapshots == []


async def test_failed_snapshot_or_reconcile_reconnects(fake: FakeAri, ari: AriClient) -> None:
    fake.routes[("GET", "/applications/payivr")] = (500, {"message": "oops"})
    calls = []

    async def reconcile(snapshot: Snapshot) -> None:
        calls.append(snapshot.connection)
        if len(calls) == 1:
            raise RuntimeError("application bug")

    stream = make_stream(ari, Collector(), reconcile=reconcile)
    async with running(stream):
        await fake.wait_socket(count=2)
        del fake.routes[("GET", "/applications/payivr")]
        await asyncio.wait_for(stream.connected.wait(), 5)
    assert calls[-1] > calls[0]
    assert len(calls) >= 2


async def test_application_replaced_reconnects(fake: FakeAri, ari: AriClient) -> None:
    collector = Collector()
    async with running(make_stream(ari, collector)):
        await collector.wait_for(lambda: len(collector.snapshots) == 1)
        await fake.send(event_json("ApplicationReplaced"))
        await collector.wait_for(lambda: len(collector.snapshots) == 2)
    assert collector.events == []


async def test_slow_call_does_not_delay_another_through_the_socket(fake: FakeAri,
                                                                   ari: AriClient) -> None:
    gate = asyncio.Event()
    seen: dict[str, list[str]] = {"slow": [], "fast": []}
    done = {"slow": asyncio.Event(), "fast": asyncio.Event()}

    async def handler(call: Call) -> None:
        while True:
            event = await call.next_event()
            if call.key == "slow":
                await gate.wait()
            assert isinstance(event, events.ChannelEvent)
            seen[call.key].append(type(event).__name__)
            if isinstance(event, events.StasisEnd):
                done[call.key].set()
                return

    router = EventRouter(assign=lambda e: e.channel.id, handler=handler)
    stream = EventStream(ari, "payivr", on_event=router.dispatch, **FAST)
    async with running(stream):
        await asyncio.wait_for(stream.connected.wait(), 5)
        await fake.send(*[event_json(t, channel=channel_json(c), **extra) for c, t, extra in [
            ("slow", "StasisStart", {"args": []}),
            ("fast", "StasisStart", {"args": []}),
            ("slow", "ChannelStateChange", {}),
            ("fast", "ChannelStateChange", {}),
            ("slow", "StasisEnd", {}),
            ("fast", "StasisEnd", {}),
        ]])
        await asyncio.wait_for(done["fast"].wait(), 5)
        assert seen == {"slow": [], "fast": ["StasisStart", "ChannelStateChange", "StasisEnd"]}
        gate.set()
        await asyncio.wait_for(done["slow"].wait(), 5)
    assert seen["slow"] == ["StasisStart", "ChannelStateChange", "StasisEnd"]
    await router.aclose()


def test_backoff_doubles_with_jitter_up_to_the_cap_and_resets() -> None:
    backoff = Backoff(rng=random.Random(7))
    delays = [backoff.next_delay() for _ in range(10)]
    ceilings = [min(30.0, 0.5 * 2**n) for n in range(10)]
    assert all(c / 2 <= d <= c for d, c in zip(delays, ceilings, strict=True))
    assert max(delays) <= 30.0 and delays[-1] >= 15.0
    backoff.reset()
    assert backoff.next_delay() <= 0.5


def test_default_heartbeat_detects_a_drop_within_ten_seconds() -> None:
    stream = EventStream(AriClient("http://127.0.0.1:8088", USER, PASSWORD), "payivr",
                         on_event=lambda event: None)
    # aiohttp pings after `heartbeat` s of silence and gives up after heartbeat/2 without pong.
    assert stream.heartbeat * 1.5 < 10


def test_event_json_helper_is_valid() -> None:
    assert json.loads(json.dumps(event_json("StasisEnd")))["application"] == "payivr"


async def test_observers_see_each_event_before_dispatch_with_its_arrival_time(
    fake: FakeAri, ari: AriClient,
) -> None:
    collector = Collector()
    seen: list[tuple[str, float, int]] = []
    stream = make_stream(ari, collector)
    remove = stream.add_observer(
        lambda event, at: seen.append((type(event).__name__, at, len(collector.events)))
    )
    async with running(stream):
        await asyncio.wait_for(stream.connected.wait(), 5)
        before = time.monotonic()
        await fake.send(
            event_json("ChannelDtmfReceived", digit="5", duration_ms=100,
                       channel=channel_json("c1")),
            "this is not json",
        )
        await collector.wait_for(lambda: len(collector.events) == 1)
        remove()
        await fake.send(event_json("StasisEnd", channel=channel_json("c1")))
        await collector.wait_for(lambda: len(collector.events) == 2)

    ((name, at, dispatched_before),) = seen
    assert name == "ChannelDtmfReceived" and dispatched_before == 0
    assert before <= at <= time.monotonic()
