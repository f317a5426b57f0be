"""CRM outbox delivery throughput (activities/s) to a local aiohttp receiver.

Starts a throwaway embedded PostgreSQL (fsync on, like production), queues N payment
outcomes, then times OutboxWorkers draining the outbox into a receiver on 127.0.0.1 that
runs in its own process and verifies every signature. Cases: one endpoint with 1 and 4
workers (rows of one endpoint go out in order, one at a time), and four endpoints with 4
workers.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import multiprocessing
import time
from typing import Any

import aiohttp
import psycopg
import structlog
from aiohttp import web
from psycopg import sql

from payivr.core.events import Outcome
from payivr.core.request import EntryKind
from payivr.standard_webhooks import new_secret
from payivr.store import (
    Database,
    NewPayment,
    OutboxWorker,
    PaymentStore,
    WebhookAdapter,
    aiohttp_send,
    migrate,
    verify,
)
from payivr.store.embedded import start_test_server, stop_test_server


def _receiver(secret: str, ports: Any) -> None:
    async def activities(request: web.Request) -> web.Response:
        verify(secret, request.headers, await request.read())
        return web.Response(status=204)

    async def main() -> None:
        app = web.Application()
        app.router.add_post("/activities", activities)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        ports.put(runner.addresses[0][1])
        await asyncio.Event().wait()

    asyncio.run(main())


async def _queue(url: str, endpoints: list[str], payments: int) -> None:
    db = await Database.connect(url, max_size=2)
    store = PaymentStore(db, crm_endpoints=endpoints)
    for n in range(payments):
        payment_id = await store.create_payment(
            NewPayment(
                call_id=f"1732222222.{n}",
                agent="Alice Agent",
                item_name="Subscription",
                amount_minor=1234,
                currency="USD",
                entry_kind=EntryKind.TAKEOVER,
            )
        )
        await store.record_outcome(payment_id, Outcome.APPROVED, gateway_reference=f"ch_{n}")
    await db.close()


async def _drain(url: str, endpoints: list[str], workers: int, port: int, secret: str) -> int:
    db = await Database.connect(url, max_size=workers + 1, migrate=False)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=workers * 2)) as session:
        send = aiohttp_send(session)
        adapters = [
            WebhookAdapter(name, f"http://127.0.0.1:{port}/activities", secret, send)
            for name in endpoints
        ]
        pool = [OutboxWorker(db, adapters, batch_size=100) for _ in range(workers)]
        counts = await asyncio.gather(*(worker.run_once() for worker in pool))
    await db.close()
    return sum(counts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--payments", type=int, default=1000)
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))

    secret = new_secret()
    ports: Any = multiprocessing.get_context("spawn").Queue()
    receiver = multiprocessing.get_context("spawn").Process(
        target=_receiver, args=(secret, ports), daemon=True
    )
    receiver.start()
    port = ports.get(timeout=30)
    server = start_test_server()
    try:
        with psycopg.connect(server.admin_url, autocommit=True) as conn:
            conn.execute("ALTER SYSTEM SET fsync = on")
            conn.execute("ALTER SYSTEM SET synchronous_commit = on")
            conn.execute("ALTER SYSTEM SET full_page_writes = on")
            conn.execute("SELECT pg_reload_conf()")
        cases = [(["crm"], 1), (["crm"], 4), (["crm1", "crm2", "crm3", "crm4"], 4)]
        for number, (endpoints, workers) in enumerate(cases):
            name = f"bench_{number}"
            with psycopg.connect(server.admin_url, autocommit=True) as conn:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            url = server.url(name)
            asyncio.run(migrate(url))
            payments = args.payments // len(endpoints)
            asyncio.run(_queue(url, endpoints, payments))
            started = time.perf_counter()
            delivered = asyncio.run(_drain(url, endpoints, workers, port, secret))
            elapsed = time.perf_counter() - started
            print(
                f"outbox: {len(endpoints)} endpoint(s), {workers} worker(s): "
                f"{delivered} activities in {elapsed:.2f} s = {delivered / elapsed:.0f} activities/s"
            )
    finally:
        stop_test_server(server)
        receiver.terminate()


if __name__ == "__main__":
    main()
