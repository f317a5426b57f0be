"""A console on a fresh database, with three accounts and calls on the real payment flow."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from _console_calls import RehearsalCalls
from _console_helpers import ALICE, BOB, PASSWORD, SAM, Client, Console
from aiohttp.test_utils import TestServer

from payivr.calls.notifier import Notifier
from payivr.console import Metrics, create_console_app
from payivr.console.accounts import Accounts, Role, hash_password
from payivr.store.database import Database
from payivr.store.payments import PaymentStore


@pytest.fixture(scope="session")
def password_hash() -> str:
    """PASSWORD's scrypt hash, computed once (Accounts.add is tested on its own)."""
    return hash_password(PASSWORD)


async def _add_accounts(db: Database, password_hash: str) -> None:
    async with db.pool.connection() as conn:
        for name, endpoint, role in (
            (ALICE, "PJSIP/1001", Role.AGENT),
            (BOB, "PJSIP/1002", Role.AGENT),
            (SAM, None, Role.SUPERVISOR),
        ):
            await conn.execute(
                "INSERT INTO console_accounts (name, endpoint, role, password_hash, created_at,"
                " password_set_at) VALUES (%s, %s, %s, %s, now(), now())",
                (name, endpoint, role.value, password_hash),
            )


@pytest.fixture
async def console(database: Database, password_hash: str) -> AsyncIterator[Console]:
    accounts = Accounts(database)
    await _add_accounts(database, password_hash)
    notifier = Notifier()
    calls = RehearsalCalls(PaymentStore(database, crm_endpoints=["crm"]), notifier)
    metrics = Metrics()
    app = create_console_app(
        db=database, calls=calls, notifier=notifier, metrics=metrics, max_amount_minor=1_000_000
    )
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield Console(database, accounts, calls, notifier, metrics, server)
    finally:
        for key in list(calls.calls):
            await calls.hang_up(key)
        await server.close()


@pytest.fixture
async def alice(console: Console) -> AsyncIterator[Client]:
    async with await console.signed_in(ALICE) as client:
        yield client


@pytest.fixture
async def bob(console: Console) -> AsyncIterator[Client]:
    async with await console.signed_in(BOB) as client:
        yield client


@pytest.fixture
async def sam(console: Console) -> AsyncIterator[Client]:
    async with await console.signed_in(SAM) as client:
        yield client
