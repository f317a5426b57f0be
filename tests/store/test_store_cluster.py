"""The Asterisk lease (payivr.store.cluster.AsteriskLease): a PostgreSQL advisory lock on a
session of its own decides which payivr runs an Asterisk's calls (issue 16 §2).

Sessions are ended with pg_terminate_backend, as a database restart or a dead client ends
them; tests/scale kills real payivr processes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import psycopg
import pytest

from payivr.store import Database
from payivr.store.cluster import AsteriskLease, Identity

ASTERISK = "02:fc:00:00:00:01"


@pytest.fixture
async def leases(database: Database) -> AsyncIterator[list[AsteriskLease]]:
    made: list[AsteriskLease] = []
    yield made
    for lease in made:
        await lease.close()


def lease(
    database: Database, made: list[AsteriskLease], name: str, *, grace: float = 0.0, poll: float
) -> AsteriskLease:
    created = AsteriskLease(database, Identity(name, ASTERISK), takeover_grace=grace, poll=poll)
    made.append(created)
    return created


async def end_lock_sessions(database_url: str, *, holder_only: bool) -> None:
    """End the sessions of the lease (the holder's, or every lease session)."""
    query = (
        "SELECT pg_terminate_backend(l.pid) FROM pg_locks l WHERE l.locktype = 'advisory'"
        " AND l.objid::int = hashtext(%s) AND l.granted"
        if holder_only
        else "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
        " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        " AND query LIKE '%%pg_try_advisory_lock%%'"
    )
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        cursor = await conn.execute(query, (ASTERISK,) if holder_only else None)
        assert await cursor.fetchall()


async def test_one_instance_holds_the_asterisk_another_waits_and_takes_it_when_let_go(
    database: Database, leases: list[AsteriskLease]
) -> None:
    active = lease(database, leases, "a1", poll=0.05)
    standby = lease(database, leases, "a2", poll=0.05)
    other_asterisk = AsteriskLease(
        database, Identity("b", "02:fc:00:00:00:02"), takeover_grace=0, poll=0.05
    )
    leases.append(other_asterisk)
    await active.acquire()
    await other_asterisk.acquire()  # another Asterisk: its own lock
    waiting = asyncio.create_task(standby.acquire())
    await asyncio.sleep(0.3)
    assert standby.waiting and not waiting.done()
    await active.close()
    await asyncio.wait_for(waiting, 5)
    assert standby.held and not standby.waiting


async def test_after_a_database_restart_the_holder_takes_it_again_the_standby_waits(
    database: Database, database_url: str, leases: list[AsteriskLease]
) -> None:
    active = lease(database, leases, "a1", poll=0.05)
    standby = lease(database, leases, "a2", poll=0.05, grace=3.0)
    await active.acquire()
    waiting = asyncio.create_task(standby.acquire())
    await asyncio.sleep(0.2)
    await end_lock_sessions(database_url, holder_only=False)  # every lease session ends
    await asyncio.sleep(1.0)
    assert active.held and not active.lost.is_set()
    assert not waiting.done()
    waiting.cancel()


async def test_a_holder_that_finds_its_asterisk_taken_on_reconnecting_gives_it_up(
    database: Database, database_url: str, leases: list[AsteriskLease]
) -> None:
    """Only the holder's session ended (it was cut off): the standby, still connected, takes
    the lock before the holder notices; the holder then sets ``lost``."""
    active = lease(database, leases, "a1", poll=1.0)
    standby = lease(database, leases, "a2", poll=0.05)
    await active.acquire()
    waiting = asyncio.create_task(standby.acquire())
    await asyncio.sleep(0.2)
    await end_lock_sessions(database_url, holder_only=True)
    await asyncio.wait_for(waiting, 5)
    await asyncio.wait_for(active.lost.wait(), 10)
    assert standby.held and not active.held

