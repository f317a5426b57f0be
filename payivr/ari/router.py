"""Routing of ARI events to calls: one queue and one task per call.

The WebSocket reader calls `EventRouter.dispatch(event)`, which never waits: it finds the call
the event belongs to and puts the event on that call's queue. Each call runs in its own task
(the application's handler), so a slow call never delays another and each call sees its own
events in the order Asterisk sent them.

A call is identified by a key the application chooses. Channels and bridges are bound to a
call; events are routed by channel first (the playback target for playback events), then by
bridge. A `StasisStart` for a channel bound to no call asks the application's `assign` which
call it belongs to, so both legs of a takeover (``takeover,caller,<key>`` and
``takeover,agent,<key>``) can share one call. Bind a channel id *before* creating it
(originate, snoop with a client-chosen id) so its first events reach the call.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

import structlog

from payivr.aio import cancel_and_wait
from payivr.ari.events import AriEvent, StasisStart
from payivr.ari.models import Bridge, Channel, Snapshot
from payivr.core.errors import PayivrError

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Resynced:
    """Posted to every live call after the event WebSocket (re)connected.

    Events of the gap are lost (a `PlaybackFinished`, a key press...): the call should redo what
    it was waiting for. Channels in `gone` left while we were away: treat them as hung up.
    """

    present: frozenset[str]
    gone: frozenset[str]
    connection: int


class CallCommand:
    """Base of what a call's handler queues for itself beside Asterisk's events (a request
    from outside the call, one of its timers): one task then reads all of a call's input,
    in order."""


CallEvent = AriEvent | Resynced | CallCommand


class CallClosed(PayivrError):
    """`Call.next_event()` on a call the router has closed."""


PassOn = Callable[[CallEvent], bool]
"""Takes an event the handler would only hand on; True when it took it."""


class Call:
    """One call's mailbox and bindings. Created by the router; read by one handler task."""

    def __init__(self, router: EventRouter, key: str) -> None:
        self.key = key
        self._router = router
        self._queue: asyncio.Queue[CallEvent] = asyncio.Queue()
        self._channels: set[str] = set()
        self._bridges: set[str] = set()
        self._readers_waiting = 0
        self.closed = False
        self.pass_on: PassOn | None = None
        """Set by a handler whose first move with some events is to hand them on (a
        payment's keys to its flow): an event posted while the handler waits in
        `next_event` with nothing queued goes to it first, and the handler is not woken
        for an event it took. It must not wait, and must act as the handler would."""

    def __repr__(self) -> str:
        return (
            f"Call({self.key!r}, channels={sorted(self._channels)}, "
            f"bridges={sorted(self._bridges)}, pending={self._queue.qsize()})"
        )

    @property
    def channel_ids(self) -> frozenset[str]:
        return frozenset(self._channels)

    @property
    def bridge_ids(self) -> frozenset[str]:
        return frozenset(self._bridges)

    @property
    def pending(self) -> int:
        """Events queued and not read yet."""
        return self._queue.qsize()

    async def next_event(self) -> CallEvent:
        """Wait for this call's next event (use `asyncio.timeout` around it for timers)."""
        if not self._queue.empty():
            return self._queue.get_nowait()
        if self.closed:
            raise CallClosed(self.key)
        self._readers_waiting += 1
        try:
            return await self._queue.get()
        finally:
            self._readers_waiting -= 1

    def post(self, event: CallEvent) -> None:
        """Queue an event for this call (the router does this; resync and the call's own
        handler may too)."""
        if self.closed:
            return
        if (
            self._readers_waiting
            and self.pass_on is not None
            and self._queue.empty()
            and self.pass_on(event)
        ):
            return
        self._queue.put_nowait(event)

    def bind_channel(self, channel_id: str) -> None:
        """Route this channel's events (and playbacks on it) to this call."""
        self._router._bind(channel_id, self, bridge=False)

    def unbind_channel(self, channel_id: str) -> None:
        self._router._unbind(channel_id, self, bridge=False)

    def bind_bridge(self, bridge_id: str) -> None:
        """Route events about this bridge (e.g. `BridgeDestroyed`) to this call."""
        self._router._bind(bridge_id, self, bridge=True)

    def unbind_bridge(self, bridge_id: str) -> None:
        self._router._unbind(bridge_id, self, bridge=True)


Assign = Callable[[StasisStart], str | None]
"""Key of the call a new channel belongs to, from its `StasisStart`; None to ignore it."""
CallHandler = Callable[[Call], Awaitable[None]]
"""Runs one call: reads `call.next_event()` until the call is over, then returns."""


@dataclass(frozen=True)
class ResyncReport:
    """What no live call owns after a reconnect: the application decides their fate."""

    orphan_channels: tuple[Channel, ...]
    """In our Stasis application but bound to no call (e.g. after a payivr restart). Not the
    channels we are only subscribed to: the other half of a Local channel payivr dialled (an
    agent reached through a Local channel) belongs to the dialplan or application it runs."""
    leftover_bridges: tuple[Bridge, ...]
    """With payivr's id prefix but bound to no call: destroy them."""


class EventRouter:
    def __init__(
        self,
        *,
        assign: Assign,
        handler: CallHandler,
        unread: frozenset[type[AriEvent]] = frozenset(),
    ) -> None:
        """``unread``: event types no handler reads; they are dropped rather than wake a
        call's task for nothing."""
        self._assign = assign
        self._handler = handler
        self._unread = unread
        self._calls: dict[str, Call] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._channel_calls: dict[str, Call] = {}
        self._bridge_calls: dict[str, Call] = {}

    @property
    def calls(self) -> Mapping[str, Call]:
        return dict(self._calls)

    def call_for_channel(self, channel_id: str) -> Call | None:
        return self._channel_calls.get(channel_id)

    def open_call(self, key: str) -> Call:
        """Start a call (and its handler task) that no channel started yet, e.g. an outbound
        call: bind the channel ids you will originate, then originate them."""
        if key in self._calls:
            raise ValueError(f"call {key!r} is already open")
        call = Call(self, key)
        self._calls[key] = call
        task = asyncio.create_task(self._run(call), name=f"call:{key}")
        self._tasks[key] = task
        return call

    def dispatch(self, event: AriEvent) -> None:
        """Route one event to its call's queue. Never waits, never raises."""
        if type(event) in self._unread:
            return
        call = self._route(event)
        if call is None:
            log.debug("ari.event_unrouted", type=type(event).__name__)
            return
        call.post(event)

    def resync(self, snapshot: Snapshot) -> ResyncReport:
        """Post `Resynced` to every live call and report what no call owns."""
        present = snapshot.channel_ids
        for call in list(self._calls.values()):
            mine = call.channel_ids
            call.post(
                Resynced(
                    present=mine & present, gone=mine - present, connection=snapshot.connection
                )
            )
        orphans = tuple(c for c in snapshot.in_stasis if c.id not in self._channel_calls)
        leftovers = tuple(b for b in snapshot.bridges if b.id not in self._bridge_calls)
        return ResyncReport(orphan_channels=orphans, leftover_bridges=leftovers)

    async def aclose(self) -> None:
        """Cancel every call task and wait for them (at shutdown)."""
        await cancel_and_wait(list(self._tasks.values()))

    def _route(self, event: AriEvent) -> Call | None:
        for channel_id in event.channel_ids:
            call = self._channel_calls.get(channel_id)
            if call is not None:
                return call
        bridge_id = event.bridge_id
        if bridge_id is not None and bridge_id in self._bridge_calls:
            return self._bridge_calls[bridge_id]
        if isinstance(event, StasisStart):
            return self._assign_new_channel(event)
        return None

    def _assign_new_channel(self, event: StasisStart) -> Call | None:
        try:
            key = self._assign(event)
        except Exception:
            log.exception("ari.assign_failed", channel=event.channel.id)
            return None
        if key is None:
            return None
        call = self._calls.get(key) or self.open_call(key)
        call.bind_channel(event.channel.id)
        return call

    async def _run(self, call: Call) -> None:
        try:
            await self._handler(call)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("ari.call_handler_failed", call=call.key)
        finally:
            self._close(call)

    def _close(self, call: Call) -> None:
        call.closed = True
        if call.pending:
            log.debug("ari.call_closed_with_pending_events", call=call.key, count=call.pending)
        for channel_id in call.channel_ids:
            call.unbind_channel(channel_id)
        for bridge_id in call.bridge_ids:
            call.unbind_bridge(bridge_id)
        self._calls.pop(call.key, None)
        self._tasks.pop(call.key, None)

    def _bind(self, item: str, call: Call, *, bridge: bool) -> None:
        if call.closed:
            raise CallClosed(call.key)
        table = self._bridge_calls if bridge else self._channel_calls
        current = table.get(item)
        if current is not None and current is not call:
            (current._bridges if bridge else current._channels).discard(item)
            log.warning("ari.binding_moved", item=item, old_call=current.key, new_call=call.key)
        table[item] = call
        (call._bridges if bridge else call._channels).add(item)

    def _unbind(self, item: str, call: Call, *, bridge: bool) -> None:
        table = self._bridge_calls if bridge else self._channel_calls
        if table.get(item) is call:
            del table[item]
        (call._bridges if bridge else call._channels).discard(item)
