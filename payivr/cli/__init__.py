"""The ``payivr`` command: the one place where payivr's parts are wired together."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
import structlog

from payivr.cli.parser import build_parser
from payivr.config import Config, ConfigError, load_config
from payivr.core.errors import PayivrError

if TYPE_CHECKING:
    from payivr.ami.client import AmiClient
    from payivr.ami.fastagi import FastAgiServer
    from payivr.ari.client import AriClient
    from payivr.ari.stream import EventStream
    from payivr.calls.notifier import Notifier
    from payivr.calls.stasis import StasisApplication
    from payivr.calls.takeover import Takeovers
    from payivr.outbound.dialer import OutboundDialer
    from payivr.sms.service import SmsService
    from payivr.store import Database, PaymentStore
    from payivr.store.cluster import AsteriskLease, Identity


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _run_command(argv)
    except KeyboardInterrupt:
        # Ctrl-C before a command's event loop caught it (reading files, making keys):
        # nothing had started, so there is nothing to stop.
        print("payivr: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # Whoever read the output stopped early (`payivr flow-diagram | head`): not an error.
        # stdout points at /dev/null so the interpreter's last flush cannot fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _run_command(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    try:
        config = load_config(args.config, os.environ)
    except ConfigError as error:
        print(f"payivr: {error}", file=sys.stderr)
        return 2
    if args.command == "flow-diagram":
        from payivr.core.diagram import mermaid_diagram

        print(mermaid_diagram())
        return 0
    if args.command == "keygen":
        from payivr.cli.gateway import keygen

        return keygen(args)
    if args.command == "sandbox-gateway":
        from payivr.cli.gateway import sandbox_gateway

        return asyncio.run(sandbox_gateway(args))
    if args.command == "migrate":
        from payivr.cli.database import migrate

        return asyncio.run(migrate(config))
    if args.command == "crm":
        from payivr.cli.database import crm

        return run_on_database(crm(args, config))
    if args.command == "sms":
        from payivr.cli.sms import remind

        return run_on_database(remind(args, config))
    if args.command == "agent":
        from payivr.cli.agents import agent, read_password

        password = read_password() if args.agent_command in ("add", "password") else None
        return run_on_database(agent(args, config, password))
    if args.command == "serve":
        with asyncio.Runner(loop_factory=fastest_loop()) as runner:
            return runner.run(_serve(config))
    if args.command == "demo":
        from payivr.cli.demo import demo, prepare_demo_files, terminal_demo

        if args.terminal:
            return asyncio.run(terminal_demo(args, config))
        return asyncio.run(demo(args, config, prepare_demo_files()))
    raise AssertionError(args.command)


def fastest_loop() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop when installed (``pip install 'payivr[fast]'``: 17% less CPU per payment)."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def fail(message: object) -> int:
    print(f"payivr: {message}", file=sys.stderr)
    return 2


async def database_urls(config: Config) -> tuple[str, str | None]:
    """The runtime role's conninfo and the owner's (None: not configured); the embedded
    PostgreSQL's (started here when not running) when no database is configured."""
    from payivr.store.embedded import start_embedded

    if config.database.url is not None:
        return config.database.url, config.database.migrate_url
    data_dir = Path(config.database.data_dir) if config.database.data_dir else None
    embedded = await asyncio.to_thread(start_embedded, data_dir)
    return embedded.runtime_url, embedded.owner_url


async def open_database(config: Config, identity: Identity | None = None) -> Database:
    """The database as payivr's runtime role; with the ``identity`` of a running payivr set
    on its sessions."""
    from payivr.store import Database

    url, owner_url = await database_urls(config)
    return await Database.connect_runtime(
        url, owner_conninfo=owner_url, settings=identity.session_settings if identity else None
    )


def run_on_database(command: Coroutine[Any, Any, int]) -> int:
    """Run a command that opens the database: one not set up for payivr is a message."""
    from payivr.store import DatabaseSetupError

    try:
        return asyncio.run(command)
    except DatabaseSetupError as error:
        return fail(error)


async def _serve(config: Config) -> int:
    from payivr.ami.errors import AmiError
    from payivr.ari.errors import StartupError
    from payivr.gateway.client import GatewayConfigError
    from payivr.log import configure_logging
    from payivr.store import DatabaseSetupError

    try:
        config.validate()
    except ConfigError as error:
        return fail(error)
    stop = stop_signals()
    configure_logging(config.log.level, config.log.json, once=True)
    try:
        async with running_payivr(config, stop=stop) as running:
            problem = await _until_stopped_or_replaced(stop, running)
    except StoppedBeforeRunning:
        return 0
    except (
        StartupError,
        GatewayConfigError,
        StartupProblem,
        AmiError,
        DatabaseSetupError,
    ) as error:
        return fail(error)
    return fail(problem) if problem else 0


async def _until_stopped_or_replaced(stop: asyncio.Event, running: Running) -> str | None:
    """Wait for ``stop``; or until another instance took this one's Asterisk (returns why)."""
    assert running.lease is not None
    if await _first(stop.wait(), running.lease.lost.wait()) == 0:
        return None
    return (
        "another payivr instance took over this Asterisk while the database was away;"
        " this one stopped its calls (start it again to be its standby)"
    )


async def _first(*waits: Coroutine[Any, Any, object]) -> int:
    """Run ``waits`` until one ends; cancel the others; return the index of the first."""
    tasks = [asyncio.create_task(wait) for wait in waits]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
    return next(index for index, task in enumerate(tasks) if task in done)


class StoppedBeforeRunning(PayivrError):
    """Stopped (SIGINT, SIGTERM) before running the Asterisk's calls: as a standby waiting
    for the instance that runs them, or while starting."""


class StartupProblem(PayivrError):
    """Something payivr depends on is not usable at start; the message says what."""


def stop_signals(notice: str = "stopping (calls in progress get up to 30 s to end)") -> asyncio.Event:
    """An event set by SIGINT or SIGTERM, caught from the first line of a long-running command.

    A Ctrl-C during start-up (the embedded PostgreSQL alone takes seconds) then stops payivr
    once it has started, through the same orderly stop, instead of a KeyboardInterrupt
    traceback and an orphaned database server.
    """
    import signal

    stop = asyncio.Event()

    def stopping() -> None:
        if not stop.is_set():
            print(f"payivr: {notice}", file=sys.stderr)
        stop.set()

    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping)
    return stop


@dataclass
class Running:
    """payivr's parts once started; the demo and tests reach into them."""

    stasis: StasisApplication
    ari: AriClient
    events: EventStream
    store: PaymentStore
    database: Database
    notifier: Notifier
    takeovers: Takeovers
    ami: AmiClient | None
    console_url: str
    sms: SmsService | None = None
    outbound: OutboundDialer | None = None
    fastagi: FastAgiServer | None = None
    lease: AsteriskLease | None = None


@contextlib.asynccontextmanager
async def running_payivr(
    config: Config, *, stop: asyncio.Event | None = None
) -> AsyncIterator[Running]:
    """Start every part of payivr from ``config``; stop them all on exit.

    Raises :class:`StoppedBeforeRunning` if ``stop`` is set before this instance runs its
    Asterisk's calls (a standby stopped while it waits).
    """
    from ipaddress import ip_network

    from payivr.aio import cancel_and_wait
    from payivr.ami.client import AmiClient
    from payivr.ami.fastagi import FastAgiServer, takeover_route
    from payivr.ari.client import AriClient
    from payivr.ari.models import Snapshot
    from payivr.ari.stream import EventStream, bridge_prefix
    from payivr.calls.charging import gateway_authorizer, keep_cards_in
    from payivr.calls.cluster import CallCommands, CallDirectory, ClusterDesk
    from payivr.calls.control import CallDesk
    from payivr.calls.notifier import Notifier
    from payivr.calls.recording import RecordingGuard
    from payivr.calls.records import StoreRecords
    from payivr.calls.recovery import PaymentRecovery
    from payivr.calls.stasis import StasisApplication
    from payivr.calls.takeover import Takeovers
    from payivr.calls.wiring import CallServices
    from payivr.config import split_listen
    from payivr.console.accounts import Accounts
    from payivr.console.app import create_console_app, start_console
    from payivr.console.metrics import Metrics
    from payivr.console.ports import HealthCheck
    from payivr.console.security import Deployment
    from payivr.gateway.setup import gateway_location, open_gateway
    from payivr.sms.setup import open_sms
    from payivr.store import ConsoleBus, OutboxWorker, PaymentStore, WebhookAdapter, aiohttp_send
    from payivr.store.cards_on_file import CardsOnFile
    from payivr.store.cluster import AsteriskLease, Identity

    async with contextlib.AsyncExitStack() as stack:
        gateway = open_gateway(config.gateway)
        stack.push_async_callback(gateway.close)
        problem = await gateway.check()
        if problem is not None:
            raise StartupProblem(
                f"the payment gateway ({gateway_location(config.gateway)}): {problem.reason}"
            )

        ari = AriClient(
            config.ari.url, config.ari.user, config.ari.password, pool_limit=config.ari.pool_size
        )
        stack.push_async_callback(ari.close)
        await ari.check_api()
        # Who this payivr is: everything it writes records it (migration 0010).
        identity = Identity(config.instance.resolved_name, (await ari.asterisk.info()).entity_id)
        if not identity.asterisk_id:
            raise StartupProblem(f"the Asterisk at {config.ari.url} reports no entity id")
        database = await open_database(config, identity)
        stack.push_async_callback(database.close)
        lease = AsteriskLease(
            database, identity, takeover_grace=config.instance.takeover_grace
        )
        stack.push_async_callback(lease.close)  # last but the database: once calls stopped
        crm_endpoints = ["crm"] if config.crm.webhook_url else []
        store = PaymentStore(database, crm_endpoints=crm_endpoints)
        tasks: list[asyncio.Task[None]] = []
        if config.crm.webhook_url and config.crm.webhook_secret:
            session = aiohttp.ClientSession()
            stack.push_async_callback(session.close)
            adapter = WebhookAdapter(
                "crm", config.crm.webhook_url, config.crm.webhook_secret, aiohttp_send(session)
            )
            worker = OutboxWorker(database, [adapter])
            tasks.append(asyncio.create_task(worker.run(), name="crm-outbox"))

        notifier = Notifier()
        stack.push_async_callback(notifier.aclose)
        metrics = Metrics()
        ami = None
        if config.ami.enabled:
            ami = AmiClient(
                host=config.ami.host,
                port=config.ami.port,
                username=config.ami.user,
                secret=config.ami.secret,
                app=config.ari.app,
            )
            stack.push_async_callback(ami.close)
        services = CallServices(
            ari=ari,
            app=config.ari.app,
            calls=config.calls,
            flow=config.flow.flow_config(),
            authorize=gateway_authorizer(
                gateway, metrics.gateway_latency.observe, keep_cards_in(CardsOnFile(database))
            ),
            records=StoreRecords(store),
            notifier=notifier,
            today=lambda: datetime.now(UTC).date(),
            currency=config.flow.currency,
            max_amount_minor=config.flow.max_amount_minor,
            recordings=RecordingGuard(ari, ami, store),
            bridge_prefix=bridge_prefix(config.ari.app),
        )
        stasis = StasisApplication(services, agents=Accounts(database))
        stack.push_async_callback(stasis.router.aclose)
        directory = CallDirectory(database)
        stack.callback(notifier.subscribe_batches(directory.record, only=directory.RECORDED))
        commands = CallCommands(database)
        desk = ClusterDesk(directory, commands)

        sms = None
        if config.sms.enabled:
            sms, sms_worker = open_sms(
                database,
                gateway,
                store,
                config.sms,
                max_amount_minor=config.flow.max_amount_minor,
            )
            stack.push_async_callback(sms.provider.close)
            tasks.append(asyncio.create_task(sms_worker.run(), name="sms"))
        outbound = None
        if config.outbound.enabled:
            from payivr.outbound.dialer import OutboundDialer
            from payivr.outbound.store import OutboundCalls

            outbound = OutboundDialer(
                stasis, OutboundCalls(database), config.outbound, lambda: datetime.now(UTC)
            )

        # The console serves from the start, on the standby too: every instance's calls.
        async def ami_ping() -> None:
            """AMI is connected by the instance running the calls only; a standby is well."""
            if ami is not None and desk.local is not None:
                await ami.ping()

        async def calls_or_standby() -> None:
            """Ready once this instance runs the Asterisk's calls, or waits as its standby."""
            if desk.local is None and not lease.waiting:
                raise RuntimeError("starting")

        checks: dict[str, HealthCheck] = {"ari": ari.asterisk.ping, "calls": calls_or_standby}
        if config.ami.enabled:
            checks["ami"] = ami_ping
        # The console's own connections: sign-ins and listings cannot take the ones payments
        # are written on (200 bogus sign-ins once made a payment write wait 5.9 s).
        console_database = await database.another_pool("console", CONSOLE_POOL_SIZE)
        stack.push_async_callback(console_database.close)
        console_app = create_console_app(
            db=console_database,
            calls=desk,
            notifier=notifier,
            bus=ConsoleBus(database),
            metrics=metrics,
            checks=checks,
            currency=config.flow.currency,
            max_amount_minor=config.flow.max_amount_minor,
            privacy_mode=config.calls.privacy,
            language=config.calls.language,
            sms=sms,
            metrics_token=config.console.metrics_token,
            metrics_open=config.console.metrics_open,
            outbound=outbound,
            gateway=gateway,
            crm_endpoints=crm_endpoints,
            deployment=Deployment(
                config.console.public_url,
                tuple(ip_network(proxy) for proxy in config.console.trusted_proxies),
            ),
        )
        console = await start_console(
            console_app,
            config.console.listen,
            tls_cert=config.console.tls_cert,
            tls_key=config.console.tls_key,
        )
        stack.push_async_callback(console.stop)

        # Of the instances given this Asterisk, the one holding its lease runs its calls;
        # a standby waits here (seconds or days) and then starts as after a restart.
        if stop is None:
            await lease.acquire()
        elif await _first(lease.acquire(), stop.wait()) == 1:
            raise StoppedBeforeRunning
        await directory.forget(identity.asterisk_id)

        async def reconcile(snapshot: Snapshot) -> None:
            if snapshot.connection > 1:
                metrics.reconnected("ari")
            await stasis.reconcile(snapshot)

        # Before this run takes any call: the payments a stopped payivr left unfinished, to
        # be settled from the gateway in the background.
        recovery = PaymentRecovery(store, gateway, notifier, identity.asterisk_id)
        interrupted = await recovery.interrupted()
        tasks.append(
            asyncio.create_task(
                recovery.run(interrupted, config.calls.reconcile_interval), name="reconciliation"
            )
        )
        events = EventStream(
            ari,
            config.ari.app,
            on_event=stasis.router.dispatch,
            reconcile=reconcile,
            bridge_prefix=bridge_prefix(config.ari.app),
        )
        tasks.append(asyncio.create_task(events.run(), name="ari-events"))

        if ami is not None:
            await ami.connect()
        takeovers = Takeovers(
            stasis,
            ami,
            config.calls,
            config.flow.currency,
            agents=Accounts(database),
        )
        if ami is not None:
            ami.on_takeover_request(takeovers.on_feature_code)
        agi = None
        if config.fastagi.enabled:
            if ami is None:
                raise StartupProblem("fastagi needs ami.enabled: the takeover is an AMI Redirect")
            agi = FastAgiServer(
                {"pay": takeover_route(takeovers.on_feature_code)},
                allowed_sources=config.fastagi.allowed_sources,
                secret=config.fastagi.secret,
            )
            host, port = split_listen(config.fastagi.listen)
            await agi.start(host, port)
            stack.push_async_callback(agi.close)
        if outbound is not None:
            await outbound.recover()
        with contextlib.suppress(TimeoutError):  # else the event stream keeps trying
            async with asyncio.timeout(EVENTS_CONNECT_SECONDS):
                await events.connected.wait()
        desk.local = CallDesk(stasis, takeovers, ami)
        tasks.append(
            asyncio.create_task(commands.serve(identity, desk.local), name="call-commands")
        )
        try:
            yield Running(
                stasis,
                ari,
                events,
                store,
                database,
                notifier,
                takeovers,
                ami,
                console.url,
                sms,
                outbound=outbound,
                fastagi=agi,
                lease=lease,
            )
        finally:
            await cancel_and_wait(tasks)
            try:
                async with asyncio.timeout(STOP_DRAIN_SECONDS):
                    await services.records.drain()
            except TimeoutError:
                # The database is away: what is unstored is settled from the gateway at the
                # next start (payivr.calls.recovery), rather than payivr never stopping.
                structlog.get_logger(__name__).warning("stopped_with_payments_not_stored")


STOP_DRAIN_SECONDS = 30.0
EVENTS_CONNECT_SECONDS = 10.0
CONSOLE_POOL_SIZE = 4
