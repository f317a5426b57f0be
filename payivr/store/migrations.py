"""Ordered SQL migrations shipped as package data, each applied once and recorded.

Files are ``migrations/NNNN_name.sql``. All pending files are applied in one transaction
holding a transaction-level advisory lock, so two instances starting together apply them
once: the second waits for the first, then finds nothing left to do.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

import psycopg
import structlog

from payivr.core.errors import PayivrError
from payivr.store.roles import grant_runtime_role

logger = structlog.get_logger(__name__)

# Arbitrary constant shared by every payivr instance: "payivr" as a 64-bit key.
MIGRATION_LOCK_KEY = 0x7061796976720001

_FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


class MigrationError(PayivrError):
    """The database's migration history does not match the migrations shipped."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def shipped_migrations() -> list[Migration]:
    """The migrations in this package, in order."""
    found = []
    for entry in resources.files("payivr.store").joinpath("migrations").iterdir():
        match = _FILE_NAME.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"duplicate migration versions in {versions}")
    return found


async def apply_migrations(
    conn: psycopg.AsyncConnection[Any], runtime_role: str | None = None
) -> list[Migration]:
    """Apply every pending migration on ``conn``; return those applied now.

    With ``runtime_role``, the connected role (the owner) then owns every payivr object and
    grants ``runtime_role`` what payivr needs at run time (:mod:`payivr.store.roles`).
    """
    migrations = shipped_migrations()
    applied_now: list[Migration] = []
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_KEY,))
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version integer PRIMARY KEY,"
            " name text NOT NULL,"
            " checksum text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        cursor = await conn.execute("SELECT version, checksum FROM schema_migrations")
        recorded = {int(version): str(checksum) for version, checksum in await cursor.fetchall()}
        shipped_versions = {m.version for m in migrations}
        unknown = sorted(set(recorded) - shipped_versions)
        if unknown:
            raise MigrationError(f"database has migrations this payivr does not know: {unknown}")
        for migration in migrations:
            checksum = recorded.get(migration.version)
            if checksum is not None:
                if checksum != migration.checksum:
                    raise MigrationError(
                        f"migration {migration.version:04d}_{migration.name} was changed "
                        "after it was applied"
                    )
                continue
            await conn.execute(migration.sql.encode())
            await conn.execute(
                "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                (migration.version, migration.name, migration.checksum),
            )
            applied_now.append(migration)
            logger.info("migration_applied", version=migration.version, name=migration.name)
        if runtime_role is not None:
            await grant_runtime_role(conn, runtime_role)
    return applied_now


async def pending_migrations(conn: psycopg.AsyncConnection[Any]) -> list[Migration]:
    """The shipped migrations the database at ``conn`` has not applied (read-only)."""
    cursor = await conn.execute("SELECT to_regclass('public.schema_migrations') IS NOT NULL")
    row = await cursor.fetchone()
    recorded: set[int] = set()
    if row is not None and row[0]:
        cursor = await conn.execute("SELECT version FROM schema_migrations")
        recorded = {int(version) for (version,) in await cursor.fetchall()}
    return [m for m in shipped_migrations() if m.version not in recorded]


async def migrate(conninfo: str, runtime_role: str | None = None) -> list[Migration]:
    """Apply pending migrations to the database at ``conninfo`` (``payivr migrate``), as
    the owner; with ``runtime_role``, then grant it payivr's run-time privileges."""
    async with await psycopg.AsyncConnection.connect(conninfo) as conn:
        return await apply_migrations(conn, runtime_role)
