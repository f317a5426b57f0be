"""The event WebSocket of one Stasis application: heartbeat, reconnect, reconcile.

    stream = EventStream(ari, "payivr", on_event=router.dispatch, reconcile=my_reconcile)
    await stream.run()        # forever; cancel the task to stop

- One WebSocket at ``/ari/events?app=NAME&subscribeAll=false``; credentials go in the Basic
  auth header, never in the URL.
- A WebSocket ping every `heartbeat` seconds of silence; no pong within half of that closes the
  connection, so a silent drop is detected within 1.5 x `heartbeat` (7.5 s by default).
- Reconnects forever, with jittered exponential backoff (0.5 s doubling to 30 s).
- After every (re)connect, before any further event is read: GET /asterisk/ping,
  GET /applications/{app}, GET /channels and GET /bridges build a `Snapshot`, handed to
  `reconcile`. Asterisk keeps no events while we are away.
- The reader never waits on handlers: `on_event` must not block (`EventRouter.dispatch` only
  queues). Unknown event types are skipped; malformed ones are logged by type only (never their
  payload: DTMF digits must not reach any log) and skipped.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable

import aiohttp
import structlog

from payivr.ari.client import AriClient
from payivr.ari.errors import AriError
from payivr.ari.events import (
    ApplicationReplaced,
    AriEvent,
    MalformedEvent,
    decode_message,
    parse_event,
)
from payivr.ari.models import Snapshot
from payivr.core.errors import PayivrError

log = structlog.get_logger(__name__)

DEFAULT_BRIDGE_PREFIX = "payivr-"


def bridge_prefix(app: str) -> str:
    """How the bridges of Stasis application ``app`` are named (``payivr-`` by default):
    payivrs of different applications sharing one Asterisk never tidy away each other's
    bridges as leftovers."""
    return f"{app}-"

Reconcile = Callable[[Snapshot], Awaitable[None]]
EventObserver = Callable[[AriEvent, float], None]
"""Told each parsed event and when its message was taken off the socket (``time.monotonic()``),
before it is dispatched (for measurements)."""


class Backoff:
    """Exponential backoff with "equal jitter": the n-th delay is drawn uniformly from
    [d/2, d] where d = min(maximum, initial * 2**n). Sans-IO: it only computes delays."""

    def __init__(self, initial: float = 0.5, maximum: float = 30.0, *,
                 rng: random.Random | None = None) -> None:
        if not 0 < initial <= maximum:
            raise ValueError("need 0 < initial <= maximum")
        self.initial = initial
        self.maximum = maximum
        self._rng = rng or random.Random()
        self.attempt = 0

    def next_delay(self) -> float:
        ceiling: float = min(self.maximum, self.initial * 2.0 ** min(self.attempt, 62))
        self.attempt += 1
        return ceiling / 2 + self._rng.uniform(0, ceiling / 2)

    def reset(self) -> None:
        self.attempt = 0


class _ConnectionEnded(PayivrError):
    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class EventStream:
    def __init__(
        self,
        client: AriClient,
        app: str,
        *,
        on_event: Callable[[AriEvent], None],
        reconcile: Reconcile | None = None,
        bridge_prefix: str = DEFAULT_BRIDGE_PREFIX,
        heartbeat: float = 5.0,
        connect_timeout: float = 5.0,
        backoff: Backoff | None = None,
        stable_after: float = 10.0,
    ) -> None:
        """`stable_after`: a connection that lasted this long resets the backoff, so a server
        that accepts then drops at once is retried ever more slowly rather than hammered."""
        self.client = client
        self.app = app
        self.on_event = on_event
        self.reconcile = reconcile
        self.bridge_prefix = bridge_prefix
        self.heartbeat = heartbeat
        self.connect_timeout = connect_timeout
        self.backoff = backoff or Backoff()
        self.stable_after = stable_after
        self.connections = 0
        """Connections made so far (each followed by a snapshot and reconcile)."""
        self.connected = asyncio.Event()
        """Set while a connection is up and reconciled; cleared when it drops."""
        self._observers: list[EventObserver] = []

    def add_observer(self, observer: EventObserver) -> Callable[[], None]:
        """Call ``observer`` with every event before it is dispatched (it must be quick and
        must not raise); returns a function that removes it."""
        self._observers.append(observer)
        return lambda: self._observers.remove(observer)

    async def run(self) -> None:
        """Connect, reconcile, read; on any failure wait and start again. Runs until cancelled."""
        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=1),
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=self.connect_timeout),
        )
        try:
            while True:
                started = time.monotonic()
                reason = await self._connect_once(session)
                self.connected.clear()
                if time.monotonic() - started >= self.stable_after:
                    self.backoff.reset()
                delay = self.backoff.next_delay()
                log.warning("ari.events_disconnected", app=self.app, reason=reason,
                            retry_in=round(delay, 2))
                await asyncio.sleep(delay)
        finally:
            self.connected.clear()
            await session.close()

    async def _connect_once(self, session: aiohttp.ClientSession) -> str:
        """One connection's life; returns why it ended."""
        try:
            async with asyncio.timeout(self.connect_timeout):
                ws = await session.ws_connect(
                    self.client.events_url(self.app),
                    headers={"Authorization": self.client.authorization},
                    heartbeat=self.heartbeat,
                    autoping=True,
                    timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=1.0),
                )
        except aiohttp.WSServerHandshakeError as exc:
            if exc.status in (401, 403):
                log.error("ari.events_rejected", app=self.app, status=exc.status,
                          hint="check the ARI user and password")
            return f"handshake refused ({exc.status})"
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            return f"connect failed ({type(exc).__name__})"
        try:
            self.connections += 1
            log.info("ari.events_connected", app=self.app, connection=self.connections)
            snapshot = await self._snapshot()
            if self.reconcile is not None:
                await self.reconcile(snapshot)
            self.connected.set()
            return await self._read(ws)
        except AriError as exc:
            return f"snapshot failed ({type(exc).__name__} {exc.status})"
        except _ConnectionEnded as exc:
            return exc.reason
        except Exception as exc:
            log.exception("ari.reconcile_failed", app=self.app)
            return f"reconcile failed ({type(exc).__name__})"
        finally:
            await ws.close()

    async def _snapshot(self) -> Snapshot:
        ping = await self.client.asterisk.ping()
        application = await self.client.applications.get(self.app)
        ours = set(application.channel_ids)
        channels = tuple(c for c in await self.client.channels.list() if c.id in ours)
        bridges = tuple(b for b in await self.client.bridges.list()
                        if b.id.startswith(self.bridge_prefix))
        return Snapshot(asterisk_id=ping.asterisk_id, application=application,
                        channels=channels, bridges=bridges, connection=self.connections)

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> str:
        while True:
            message = await ws.receive()
            if message.type is aiohttp.WSMsgType.TEXT:
                self._handle(message.data)
            elif message.type is aiohttp.WSMsgType.BINARY:
                log.warning("ari.event_malformed", type=None, reason="binary message")
            elif message.type is aiohttp.WSMsgType.ERROR:
                return f"error ({type(ws.exception()).__name__})"
            elif message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING,
                                  aiohttp.WSMsgType.CLOSED):
                return f"closed by server ({ws.close_code})"

    def _handle(self, raw: str) -> None:
        received = time.monotonic()
        event_type: str | None = None
        try:
            data = decode_message(raw)
            event_type = str(data["type"])
            event = parse_event(data)
        except MalformedEvent as exc:
            log.warning("ari.event_malformed", type=exc.event_type or event_type,
                        reason=exc.reason)
            return
        if event is None:
            log.debug("ari.event_skipped", type=event_type)
            return
        if isinstance(event, ApplicationReplaced):
            log.error("ari.application_replaced", app=self.app,
                      hint="another client opened a WebSocket for this application")
            raise _ConnectionEnded("application replaced by another client")
        for observer in self._observers:
            observer(event, received)
        try:
            self.on_event(event)
        except Exception:
            log.exception("ari.event_dispatch_failed", type=event_type)
