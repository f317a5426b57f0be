"""Payment writes during a console sign-in flood (issue 13 #6): how long a write waits.

Wired as ``payivr serve`` wires it: payments are written on the payment pool, the console
has its own pool (4 connections) and hashes passwords (scrypt) with no connection held.
Writers record payments (a row created, then its outcome) at a steady pace, first alone,
then while another process floods ``POST /api/v1/login`` with wrong passwords from many
loopback addresses; last, for comparison, the same flood on a console given the payment
pool itself (as before the fix). Each row prints the writes' p50/p99/max in ms. Starts a
throwaway embedded PostgreSQL; the database roles are the ones ``payivr serve`` uses.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import multiprocessing
import secrets
import statistics
import time
from collections import Counter
from typing import Any

import aiohttp
import psycopg
import structlog
from psycopg import sql
from psycopg.conninfo import make_conninfo

from payivr.calls.notifier import Notifier
from payivr.cli import CONSOLE_POOL_SIZE
from payivr.console.accounts import add_agent
from payivr.console.app import create_console_app, start_console
from payivr.core.events import Outcome
from payivr.core.request import EntryKind
from payivr.store import Database, NewPayment, PaymentStore, migrate
from payivr.store.embedded import RUNTIME_ROLE, ensure_roles, start_test_server, stop_test_server

WRITERS = 4
WRITE_EVERY = 0.02  # s, per writer: 200 payment writes a second in all


class NoCalls:
    """The console's call control with no call in progress (sign-in never asks it)."""

    async def current_call(self, agent_endpoint: str) -> None:
        return None

    async def call(self, call_key: str) -> None:
        return None

    async def active_calls(self) -> list[Any]:
        return []

    async def request_for_agent(self, agent_endpoint: str, request: Any) -> str:
        raise LookupError("no call")

    async def request_on_call(self, call_key: str, request: Any) -> str:
        raise LookupError("no call")

    async def cancel_payment(self, payment_id: str) -> bool:
        return False

    async def reask_step(self, payment_id: str, step: Any) -> bool:
        return False


def _flood(console_url: str, addresses: int, per_address: int, seconds: float, out: Any) -> None:
    """Wrong passwords from ``addresses`` loopback addresses, ``per_address`` at a time each,
    for ``seconds``; puts the answers' status counts on ``out``."""

    async def from_address(address: str, until: float) -> Counter[int]:
        answers: Counter[int] = Counter()
        connector = aiohttp.TCPConnector(local_addr=(address, 0), limit=per_address)
        async with aiohttp.ClientSession(connector=connector) as session:

            async def keep_guessing(number: int) -> None:
                while True:
                    name = "alice" if number % 2 else f"guess{number}"
                    body = {"name": name, "password": f"wrong guess {number}"}
                    async with session.post(f"{console_url}/api/v1/login", json=body) as answer:
                        answers[answer.status] += 1

            # Those still queued to be hashed at the end are dropped, not waited for.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(until - time.monotonic()):
                    await asyncio.gather(*(keep_guessing(n) for n in range(per_address)))
        return answers

    async def main() -> None:
        until = time.monotonic() + seconds
        counts = await asyncio.gather(
            *(from_address(f"127.0.{1 + n // 250}.{1 + n % 250}", until) for n in range(addresses))
        )
        out.put(dict(sum(counts, Counter())))

    asyncio.run(main())


async def _write_payments(store: PaymentStore, seconds: float) -> list[float]:
    """Each writer records a payment (created, then approved) every WRITE_EVERY seconds;
    returns every write's time in ms, its wait for a connection included."""
    waits: list[float] = []
    until = time.monotonic() + seconds

    async def writer(number: int) -> None:
        n = 0
        while time.monotonic() < until:
            n += 1
            started = time.perf_counter()
            payment_id = await store.create_payment(
                NewPayment(
                    call_id=f"1732222222.{number}{n}",
                    agent="alice",
                    item_name="Subscription",
                    amount_minor=1234,
                    currency="USD",
                    entry_kind=EntryKind.TAKEOVER,
                )
            )
            created = time.perf_counter()
            await store.record_outcome(payment_id, Outcome.APPROVED, gateway_reference=f"ch_{n}")
            done = time.perf_counter()
            waits.extend([(created - started) * 1000, (done - created) * 1000])
            await asyncio.sleep(max(0.0, WRITE_EVERY - (done - started)))

    await asyncio.gather(*(writer(n) for n in range(WRITERS)))
    return waits


async def _case(
    runtime_url: str, flood: tuple[int, int] | None, shared_pool: bool, seconds: float
) -> tuple[list[float], dict[int, int]]:
    payments = await Database.connect(runtime_url, migrate=False)
    console_db = (
        payments if shared_pool else await payments.another_pool("console", CONSOLE_POOL_SIZE)
    )
    app = create_console_app(db=console_db, calls=NoCalls(), notifier=Notifier())
    console = await start_console(app, "127.0.0.1:0")
    answers: dict[int, int] = {}
    try:
        flooding = None
        if flood is not None:
            spawn = multiprocessing.get_context("spawn")
            out: Any = spawn.Queue()
            addresses, per_address = flood
            flooding = spawn.Process(
                target=_flood, args=(console.url, addresses, per_address, seconds + 2, out)
            )
            flooding.start()
            await asyncio.sleep(2)  # the flood is under way (the process starts in ~1 s)
        waits = await _write_payments(PaymentStore(payments), seconds)
        if flooding is not None:
            answers = await asyncio.to_thread(out.get, timeout=60)
            flooding.join()
    finally:
        await console.stop()
        if console_db is not payments:
            await console_db.close()
        await payments.close()
    return waits, answers


def _percentile(values: list[float], fraction: float) -> float:
    return statistics.quantiles(values, n=1000, method="inclusive")[int(fraction * 1000) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=6.0, help="per case")
    parser.add_argument("--addresses", type=int, default=50)
    parser.add_argument("--per-address", type=int, default=4, help="sign-ins in flight each")
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))

    server = start_test_server()
    try:
        with psycopg.connect(server.admin_url, autocommit=True) as conn:
            conn.execute("ALTER SYSTEM SET fsync = on")
            conn.execute("ALTER SYSTEM SET synchronous_commit = on")
            conn.execute("SELECT pg_reload_conf()")
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier("flood")))
        ensure_roles(server.admin_url)
        owner_url = server.url("flood")
        asyncio.run(migrate(owner_url, RUNTIME_ROLE))
        runtime_url = make_conninfo(owner_url, user=RUNTIME_ROLE)

        async def account() -> None:
            async with await Database.connect(runtime_url, migrate=False) as db:
                await add_agent(db, "alice", "PJSIP/1001", "agent", secrets.token_hex(16) + "a1")

        asyncio.run(account())
        flood = (args.addresses, args.per_address)
        cases = [
            ("no flood", None, False),
            ("sign-in flood, console on its own pool (payivr serve)", flood, False),
            ("sign-in flood, console on the payment pool (before)", flood, True),
        ]
        for label, flooding, shared in cases:
            waits, answers = asyncio.run(_case(runtime_url, flooding, shared, args.seconds))
            sign_ins = ", ".join(f"{status}: {count}" for status, count in sorted(answers.items()))
            print(
                f"payment writes, {label}: {len(waits)} writes,"
                f" p50 {_percentile(waits, 0.5):.1f} ms, p99 {_percentile(waits, 0.99):.1f} ms,"
                f" max {max(waits):.1f} ms"
                + (f" (sign-ins answered {sign_ins})" if answers else "")
            )
    finally:
        stop_test_server(server)


if __name__ == "__main__":
    main()
