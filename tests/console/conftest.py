"""A console on a fresh database, with three accounts and calls on the real payment flow."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from _console_helpers import ALICE, BOB, PASSWORD, SAM, Client, Console, running_console

from payivr.console.passwords import hash_password
from payivr.store.database import Database


@pytest.fixture(scope="session")
def password_hash() -> str:
    """PASSWORD's scrypt hash, computed once (Accounts.add is tested on its own)."""
    return hash_password(PASSWORD)


@pytest.fixture
async def console(database: Database, password_hash: str) -> AsyncIterator[Console]:
    async with running_console(database, password_hash) as running:
        yield running


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
