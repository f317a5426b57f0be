"""How a gateway request travels (httpx-style seam): one :class:`Request` in, one
:class:`Exchange` out that says how far it got. The clients' retry and settle rules never
depend on how bytes travel; :class:`AiohttpTransport` is HTTPS in production, tests and the
in-process sandbox give their own.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any, Protocol, Self

import aiohttp
import structlog

from payivr.retry_after import retry_after_seconds

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Timeouts:
    """Seconds per phase of one attempt.

    ``connect``: TCP and TLS handshake (or waiting for a pooled connection);
    ``send``: from connection ready until the request is written;
    ``read``: from the request written until the whole answer arrived.
    """

    connect: float = 5.0
    send: float = 5.0
    read: float = 30.0


@dataclass(frozen=True, repr=False)
class Request:
    """One request as it leaves a client. ``headers`` may hold a secret key and ``body``
    card digits (a Stripe form, wiped after the call): neither is ever shown."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes | bytearray | None = None

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.path.partition('?')[0]}>"


@dataclass(frozen=True)
class Reply:
    """The gateway answered: status, headers (looked up by any case) and the raw body."""

    status: int
    headers: Mapping[str, str]
    body: bytes = field(repr=False)

    def json(self) -> Any:
        """The body as JSON; None when it is empty or not JSON."""
        try:
            return json.loads(self.body) if self.body else None
        except ValueError:
            return None

    def retry_after(self) -> float | None:
        """``Retry-After`` in seconds, if the answer says how long to wait."""
        value = next(
            (value for name, value in self.headers.items() if name.lower() == "retry-after"),
            None,
        )
        return retry_after_seconds(value, datetime.now(UTC))


@dataclass(frozen=True)
class NotSent:
    """Failed before any byte of the request was written: sending again is safe."""

    reason: str


@dataclass(frozen=True)
class Lost:
    """The request may have reached the gateway, but no (complete) answer came back."""

    reason: str


@dataclass(frozen=True)
class Refused:
    """TLS verification failed: we will not talk to this server, now or on a retry."""

    reason: str


Exchange = Reply | NotSent | Lost | Refused


class Transport(Protocol):
    """Moves one request to the gateway and says how far it got."""

    async def send(self, request: Request) -> Exchange: ...

    async def close(self) -> None: ...


class TransportClient:
    """A gateway client speaking through a :class:`Transport` it owns; ``async with``
    closes it."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self.transport.close()


def verified_tls(cafile: str | None = None) -> ssl.SSLContext:
    """Certificate and hostname verification always on (against ``cafile`` or the system's
    CAs); TLS 1.2 or newer."""
    context = ssl.create_default_context(cafile=cafile)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


@dataclass
class ExchangeProgress:
    """Tracks how far one HTTP exchange got, so a failure can be told apart:
    nothing written yet (safe to send again) or maybe received (unknown)."""

    timeouts: Timeouts
    loop: asyncio.AbstractEventLoop
    deadline: asyncio.Timeout | None = None
    phase: str = "connect"
    sent: bool = False

    def enter(self, phase: str, seconds: float) -> None:
        self.phase = phase
        if self.deadline is not None:
            self.deadline.reschedule(self.loop.time() + seconds)


async def _on_connected(session: Any, ctx: SimpleNamespace, params: Any) -> None:
    attempt: ExchangeProgress = ctx.trace_request_ctx
    attempt.enter("send", attempt.timeouts.send)


async def _on_headers_sent(session: Any, ctx: SimpleNamespace, params: Any) -> None:
    attempt: ExchangeProgress = ctx.trace_request_ctx
    attempt.sent = True
    attempt.enter("read", attempt.timeouts.read)


def _progress_trace_config() -> aiohttp.TraceConfig:
    trace = aiohttp.TraceConfig()
    trace.on_connection_create_end.append(_on_connected)
    trace.on_request_headers_sent.append(_on_headers_sent)
    trace.freeze()
    return trace


class AiohttpTransport:
    """HTTPS to ``base_url`` with per-phase timeouts; ``ssl_context`` always verifies.

    ``peer`` names the other side in failure reasons ("Stripe could not be reached").
    ``keep_alive``: reuse pooled connections. Only for a peer that makes a resent request
    harmless (Stripe's Idempotency-Key): a keep-alive connection the peer closed while idle
    fails *after* the request was written, an unknown outcome otherwise.
    """

    def __init__(
        self,
        base_url: str,
        ssl_context: ssl.SSLContext,
        timeouts: Timeouts,
        *,
        peer: str,
        keep_alive: bool = False,
    ) -> None:
        self._base = base_url.rstrip("/")
        self._ssl = ssl_context
        self._timeouts = timeouts
        self._peer = peer
        self._keep_alive = keep_alive
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(
                    ssl=self._ssl, limit=32, force_close=not self._keep_alive
                ),
                trace_configs=[_progress_trace_config()],
                timeout=aiohttp.ClientTimeout(total=None),
                trust_env=False,
            )
        return self._session

    async def send(self, request: Request) -> Exchange:
        attempt = ExchangeProgress(self._timeouts, asyncio.get_running_loop())
        try:
            async with asyncio.timeout(None) as deadline:
                attempt.deadline = deadline
                attempt.enter("connect", attempt.timeouts.connect)
                async with self._http().request(
                    request.method,
                    self._base + request.path,
                    data=request.body,
                    headers=dict(request.headers),
                    allow_redirects=False,
                    trace_request_ctx=attempt,
                ) as response:
                    raw = await response.read()
                    return Reply(response.status, response.headers, raw)
        except TimeoutError:
            return _failed(attempt, f"no answer within the {attempt.phase} timeout")
        except (aiohttp.ClientConnectorCertificateError, aiohttp.ClientSSLError) as exc:
            log.error(
                "gateway.tls_refused",
                path=request.path.partition("?")[0],
                problem=type(exc).__name__,
            )
            return Refused(f"{self._peer}'s TLS certificate could not be verified")
        except aiohttp.ClientConnectorError:
            return NotSent(f"{self._peer} could not be reached")
        except (aiohttp.ClientError, OSError) as exc:
            return _failed(attempt, f"the connection failed ({type(exc).__name__})")


def _failed(attempt: ExchangeProgress, reason: str) -> NotSent | Lost:
    return Lost(reason) if attempt.sent else NotSent(reason)

