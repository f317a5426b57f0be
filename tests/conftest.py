"""Shared test fixtures: a PostgreSQL for the whole session, a fresh database per test.

One embedded server per test session (in a temporary directory, deleted at the end; a
crashed session's server is removed by the next). Every test that asks for
``database_url`` gets its own database, cloned from a migrated template (cheap). The
template is migrated by the server's superuser, which grants payivr's runtime role
(``payivr_runtime``) its privileges: ``runtime_database_url`` connects as that role.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Iterator

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from payivr.store.database import Database
from payivr.store.embedded import (
    RUNTIME_ROLE,
    EmbeddedServer,
    ensure_roles,
    start_test_server,
    stop_test_server,
)
from payivr.store.migrations import migrate

_TEMPLATE = "payivr_template"
_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[EmbeddedServer]:
    """The session's embedded PostgreSQL server."""
    server = start_test_server()
    try:
        with psycopg.connect(server.admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(_TEMPLATE)))
        ensure_roles(server.admin_url)
        asyncio.run(migrate(server.url(_TEMPLATE), RUNTIME_ROLE))
        yield server
    finally:
        stop_test_server(server)


def _fresh_database(server: EmbeddedServer, template: str) -> Iterator[str]:
    name = f"test_{next(_numbers)}"
    with psycopg.connect(server.admin_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(template)
            )
        )
    try:
        yield server.url(name)
    finally:
        with psycopg.connect(server.admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def database_url(postgres_server: EmbeddedServer) -> Iterator[str]:
    """Conninfo of a new database with every payivr migration applied, dropped after."""
    yield from _fresh_database(postgres_server, _TEMPLATE)


def as_runtime_role(database_url: str) -> str:
    """The same database as payivr's runtime role (the role ``payivr serve`` runs as)."""
    return make_conninfo(database_url, user=RUNTIME_ROLE)


@pytest.fixture
def runtime_database_url(database_url: str) -> str:
    """``database_url``'s database as payivr's runtime role."""
    return as_runtime_role(database_url)


@pytest.fixture(scope="module")
def module_database_url(postgres_server: EmbeddedServer) -> Iterator[str]:
    """Like ``database_url``, one for a whole test module: for tests that each keep to rows of
    their own (a database per test costs a clone and a drop)."""
    yield from _fresh_database(postgres_server, _TEMPLATE)


@pytest.fixture
def empty_database_url(postgres_server: EmbeddedServer) -> Iterator[str]:
    """Conninfo of a new, empty database (no migrations), dropped after."""
    yield from _fresh_database(postgres_server, "template1")


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    """An open :class:`payivr.store.Database` on ``database_url``."""
    db = await Database.connect(database_url, max_size=4, migrate=False)
    try:
        yield db
    finally:
        await db.close()
