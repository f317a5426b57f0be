"""The console web application: pages, ``/api/v1``, ``/healthz`` and ``/metrics``."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ssl
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import psycopg
import psycopg_pool
import structlog
from aiohttp import web

from payivr.calls.notifier import Notifier, PaymentEvent, PaymentStepChanged, event_json
from payivr.console import api, outbound_api, reports, reversals, sign_in, sms_api
from payivr.console.accounts import SESSION_IDLE, Accounts
from payivr.console.context import CONSOLE_KEY, Console
from payivr.console.live import EventHub
from payivr.console.metrics import Metrics
from payivr.console.openapi import openapi_document
from payivr.console.ports import CallControl, HealthCheck
from payivr.console.security import (
    DEPLOYMENT_KEY,
    ApiError,
    Deployment,
    Handler,
    security_headers,
)
from payivr.console.throttle import AddressThrottle
from payivr.core.events import Step, StepStatus
from payivr.core.request import PrivacyMode
from payivr.gateway.interface import Gateway
from payivr.outbound.dialer import OutboundDialer
from payivr.sms.service import SmsService
from payivr.store.bus import ConsoleBus
from payivr.store.database import Database
from payivr.store.models import Clock, utc_now
from payivr.store.payments import PaymentStore
from payivr.store.reversals import ReversalStore

METRICS_TOKEN_KEY: web.AppKey[str | None] = web.AppKey("metrics_token")
METRICS_OPEN_KEY: web.AppKey[bool] = web.AppKey("metrics_open")
log = structlog.get_logger(__name__)

MAX_BODY_BYTES = 64 * 1024
SESSION_CHECK_SECONDS = 1.0
BUS_RETRY_SECONDS = (0.5, 1.0, 2.0, 5.0)
BUS_START_SECONDS = 5.0
# Events wait this long for others to share their NOTIFY: one round trip per batch rather
# than per keyed digit (a tenth of payivr's CPU per payment at 100 calls); agents see a
# step at most this much later.
BUS_LINGER_SECONDS = 0.2
STATIC = resources.files("payivr.console").joinpath("static")

_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "not_json",
}


def create_console_app(
    *,
    db: Database,
    calls: CallControl,
    notifier: Notifier,
    bus: ConsoleBus | None = None,
    metrics: Metrics | None = None,
    checks: Mapping[str, HealthCheck] | None = None,
    currency: str = "USD",
    max_amount_minor: int = 1_000_000,
    privacy_mode: PrivacyMode = PrivacyMode.HOLD,
    language: str = "en",
    clock: Clock = utc_now,
    session_idle: timedelta = SESSION_IDLE,
    sms: SmsService | None = None,
    outbound: OutboundDialer | None = None,
    metrics_token: str | None = None,
    gateway: Gateway | None = None,
    crm_endpoints: Sequence[str] = (),
    metrics_open: bool = False,
    deployment: Deployment | None = None,
) -> web.Application:
    """The console as an aiohttp application (start it with :func:`start_console`).

    - ``db``: the shared database (accounts, sessions, tokens, payments, audit, CRM outbox).
    - ``calls``: the :class:`~payivr.console.ports.CallControl` the wiring provides: the
      calls in progress and how to start/cancel payments on them (Stasis sessions, or an
      AMI takeover for calls only bridged by ``Dial()``).
    - ``notifier``: this process's call-control events; they feed ``metrics`` and, without
      a ``bus``, the consoles' live view directly.
    - ``bus``: several payivr instances: the local events are published on it and the live
      view is fed from it, so any instance's console shows every call.
    - ``metrics``: the registry ``/metrics`` renders; pass the one the gateway edge and the
      ARI/AMI reconnect hooks feed (a new one when omitted).
    - ``checks``: health checks by name (``ari``, ``ami``...), each an async callable that
      returns when the dependency answers; ``database`` is added unless given.
    - ``currency``, ``max_amount_minor``, ``privacy_mode``, ``language``: request defaults
      and limits (from ``[flow]`` and ``[calls]`` in the configuration).
    - ``clock``: the time (tests move it); ``session_idle``: sign out after this long idle.
    - ``sms``: pay by text and reminders (:mod:`payivr.sms`); without it their routes
      answer 503.
    - ``outbound``: outbound collection calls (:mod:`payivr.outbound`); without it their
      routes answer 404.
    - ``metrics_token``: ``/metrics`` wants ``Authorization: Bearer <token>``; without one it
      answers no one, unless ``metrics_open`` (anyone who reaches the console's address).
    - ``gateway``: refunds and voids of approved payments go to it (without it they answer
      503); ``crm_endpoints``: the CRM endpoints that hear of each (as for outcomes).
    - ``deployment``: the public URL and trusted proxies when a TLS proxy is in front.
    """
    registry = metrics or Metrics()
    health: dict[str, HealthCheck] = {"database": _database_check(db)}
    health.update(checks or {})
    console = Console(
        db=db,
        accounts=Accounts(db, clock=clock, session_idle=session_idle),
        store=PaymentStore(db, clock=clock),
        calls=calls,
        hub=EventHub(),
        metrics=registry,
        checks=health,
        currency=currency,
        max_amount_minor=max_amount_minor,
        privacy_mode=privacy_mode,
        language=language,
        reversals=ReversalStore(db, crm_endpoints=crm_endpoints, clock=clock),
        clock=clock,
        throttle=AddressThrottle(clock),
    )
    app = web.Application(
        middlewares=[_request_context, security_headers, _json_errors],
        client_max_size=MAX_BODY_BYTES,
    )
    app[CONSOLE_KEY] = console
    app.router.add_routes(sign_in.route_table())
    app.router.add_routes(api.route_table())
    app.router.add_routes(reports.route_table())
    sms_api.install(app, sms)
    outbound_api.install(app, outbound)
    reversals.install(app, gateway)
    app.router.add_get("/api/v1/openapi.json", _openapi)
    app.router.add_get("/healthz", _healthz)
    app[METRICS_TOKEN_KEY] = metrics_token
    app[METRICS_OPEN_KEY] = metrics_open
    app[DEPLOYMENT_KEY] = deployment or Deployment()
    app.router.add_get("/metrics", _metrics)
    app.router.add_get("/", _index)
    app.router.add_static("/static/", Path(str(STATIC)), follow_symlinks=False)
    app.cleanup_ctx.append(_event_feed(notifier, bus))
    app.cleanup_ctx.append(_session_watch)
    app.on_shutdown.append(_close_event_streams)
    return app


# ------------------------------------------------------------------ events in


def _event_feed(notifier: Notifier, bus: ConsoleBus | None) -> Any:
    async def feed(app: web.Application) -> AsyncIterator[None]:
        console = app[CONSOLE_KEY]

        async def local(events: list[PaymentEvent]) -> None:
            shown = [event_json(event) for event in latest_entries(events)]
            for item in shown:
                console.metrics.observe_event(item)
            if bus is None:
                for item in shown:
                    await console.hub.publish(item)
            else:
                await bus.publish_many(shown)

        linger = BUS_LINGER_SECONDS if bus is not None else 0.0
        unsubscribe = notifier.subscribe_batches(local, linger=linger)
        relay = None
        if bus is not None:
            listening = asyncio.Event()
            relay = asyncio.create_task(_relay(bus, console.hub, listening))
            # Serve once the bus is heard, so no event published after start is missed.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(BUS_START_SECONDS):
                    await listening.wait()
        try:
            yield
        finally:
            unsubscribe()
            if relay is not None:
                relay.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await relay

    return feed


def latest_entries(events: list[PaymentEvent]) -> list[PaymentEvent]:
    """``events`` without a step's "entering" updates that a later update of the same step
    in the batch supersedes: the agent's screen would show them no longer than the batch's
    linger (a digit count of 7 then 8). Every other status and event is kept, in order."""
    updated_later: set[tuple[str, Step]] = set()
    kept: list[PaymentEvent] = []
    for event in reversed(events):
        if isinstance(event, PaymentStepChanged):
            step = (event.payment_id, event.update.step)
            if step in updated_later and event.update.status is StepStatus.ENTERING:
                continue
            updated_later.add(step)
        kept.append(event)
    kept.reverse()
    return kept


async def _relay(bus: ConsoleBus, hub: EventHub, listening: asyncio.Event) -> None:
    """Every instance's events from the bus into this console's hub; reconnects forever."""
    failures = 0
    while True:
        try:
            async with bus.subscribe() as events:
                failures = 0
                listening.set()
                async for event in events:
                    await hub.publish(event)
        except (psycopg.Error, OSError) as error:
            delay = BUS_RETRY_SECONDS[min(failures, len(BUS_RETRY_SECONDS) - 1)]
            failures += 1
            log.warning("console_bus_lost", error=type(error).__name__, retry_in=delay)
            await asyncio.sleep(delay)


async def _session_watch(app: web.Application) -> AsyncIterator[None]:
    """Every :data:`SESSION_CHECK_SECONDS`, end the live streams whose session or API token
    stopped letting anyone in: signed out elsewhere, idle too long, password changed
    (``payivr agent password``), token revoked or expired, account disabled."""
    console = app[CONSOLE_KEY]

    async def watch() -> None:
        while True:
            await asyncio.sleep(SESSION_CHECK_SECONDS)
            try:
                ended = await console.accounts.ended(console.hub.credentials)
            except (psycopg.Error, psycopg_pool.PoolTimeout) as error:
                log.warning("session_check_failed", error=type(error).__name__)
                continue
            if ended and console.hub.end_sessions(ended):
                log.info("live_streams_ended", sessions=len(ended))

    task = asyncio.create_task(watch(), name="console-session-watch")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _close_event_streams(app: web.Application) -> None:
    """Open WebSockets end at once on shutdown instead of holding it up."""
    app[CONSOLE_KEY].hub.close()


# ------------------------------------------------------------------ middlewares


@web.middleware
async def _request_context(request: web.Request, handler: Handler) -> web.StreamResponse:
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(path=request.path, method=request.method)
    return await handler(request)


@web.middleware
async def _json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every API error as ``{"error": {"code", "message"}}``; never a stack trace."""
    try:
        return await handler(request)
    except ApiError as error:
        answer = _error(error.status, error.code, error.message)
        if error.retry_after is not None:
            answer.headers["Retry-After"] = str(error.retry_after)
        return answer
    except web.HTTPException as error:
        if not request.path.startswith("/api/") or error.status < 400:
            raise
        response = _error(
            error.status, _STATUS_CODES.get(error.status, "error"), error.reason or "error"
        )
        if "Allow" in error.headers:
            response.headers["Allow"] = error.headers["Allow"]
        return response
    except (psycopg.OperationalError, psycopg_pool.PoolTimeout) as error:
        log.warning("database_unavailable", error=type(error).__name__)
        return _error(503, "unavailable", "the database is not answering; try again shortly")
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("console_request_failed")
        return _error(500, "internal", "something went wrong on our side; it has been logged")


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


# ------------------------------------------------------------------ pages and operations


async def _index(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(Path(str(STATIC.joinpath("index.html"))))


async def _openapi(request: web.Request) -> web.Response:
    return web.json_response(openapi_document())


def _database_check(db: Database) -> HealthCheck:
    async def check() -> None:
        async with db.pool.connection(timeout=2.0) as conn:
            await conn.execute("SELECT 1")

    return check


async def _healthz(request: web.Request) -> web.Response:
    """Ready (200) only when every dependency answers; each is named in the body. Why one
    failed goes to the log only: the answer is open to anyone who reaches the console."""
    console = request.app[CONSOLE_KEY]

    async def run(name: str, check: HealthCheck) -> dict[str, Any]:
        try:
            async with asyncio.timeout(console.check_timeout):
                await check()
        except Exception as error:
            log.warning("health_check_failed", check=name, error=type(error).__name__)
            return {"ok": False}
        return {"ok": True}

    names = sorted(console.checks)
    results = await asyncio.gather(*(run(name, console.checks[name]) for name in names))
    report = dict(zip(names, results, strict=True))
    ready = all(result["ok"] for result in results)
    return web.json_response(
        {"status": "ready" if ready else "not ready", "checks": report},
        status=200 if ready else 503,
    )


async def _metrics(request: web.Request) -> web.Response:
    token = request.app[METRICS_TOKEN_KEY]
    if token is None and not request.app[METRICS_OPEN_KEY]:
        return web.Response(
            status=401,
            text="set console.metrics_token (PAYIVR_CONSOLE_METRICS_TOKEN) and send it as a"
            " bearer token\n",
            headers={"WWW-Authenticate": 'Bearer realm="payivr-metrics"'},
        )
    if token is not None:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.encode(), token.encode()):
            return web.Response(
                status=401,
                text="a bearer token is required\n",
                headers={"WWW-Authenticate": 'Bearer realm="payivr-metrics"'},
            )
    console = request.app[CONSOLE_KEY]
    try:
        async with console.db.pool.connection(timeout=2.0) as conn:
            cursor = await conn.execute(
                "SELECT count(*), coalesce(extract(epoch FROM now() - min(created_at)), 0)"
                " FROM crm_outbox WHERE status = 'pending'"
            )
            row = await cursor.fetchone()
        if row is not None:
            console.metrics.crm_backlog.set(float(row[0]))
            console.metrics.crm_oldest_age.set(float(row[1]))
    except (psycopg.Error, psycopg_pool.PoolTimeout) as error:
        log.warning("metrics_outbox_unavailable", error=type(error).__name__)
    return web.Response(
        text=console.metrics.render(),
        content_type="text/plain",
        charset="utf-8",
        headers={"X-Prometheus-Format": "0.0.4"},
    )


# ------------------------------------------------------------------ serving


def tls_context(cert_path: str, key_path: str) -> ssl.SSLContext:
    """A server TLS context (TLS 1.2 or newer) from PEM certificate chain and key files."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_path, key_path)
    return context


@dataclass
class ConsoleServer:
    runner: web.AppRunner
    url: str

    async def stop(self) -> None:
        await self.runner.cleanup()


async def start_console(
    app: web.Application,
    listen: str = "127.0.0.1:8080",
    *,
    tls_cert: str | None = None,
    tls_key: str | None = None,
) -> ConsoleServer:
    """Serve ``app`` on ``HOST:PORT`` (port 0: any free port; see ``.url``)."""
    host, _, port = listen.rpartition(":")
    context = tls_context(tls_cert, tls_key) if tls_cert and tls_key else None
    runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, host.strip("[]"), int(port), ssl_context=context)
    await site.start()
    bound = runner.addresses[0]
    scheme = "https" if context else "http"
    shown_host = f"[{bound[0]}]" if ":" in bound[0] else bound[0]
    url = f"{scheme}://{shown_host}:{bound[1]}"
    log.info("console_listening", url=url)
    return ConsoleServer(runner, url)


async def run_console(
    app: web.Application,
    listen: str = "127.0.0.1:8080",
    *,
    tls_cert: str | None = None,
    tls_key: str | None = None,
) -> None:
    """Serve until cancelled, then close every connection and the event feed."""
    server = await start_console(app, listen, tls_cert=tls_cert, tls_key=tls_key)
    try:
        await asyncio.Event().wait()
    finally:
        await server.stop()
