"""The connection pool every store component shares."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, LiteralString

import psycopg
from psycopg import sql
from psycopg.abc import Params
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from payivr.store.migrations import apply_migrations, migrate, pending_migrations
from payivr.store.roles import DatabaseSetupError, check_runtime_role

UTC_SESSIONS = "-c TimeZone=UTC"

Statement = LiteralString | sql.SQL | sql.Composed
"""A statement as psycopg takes it: written in the code, or composed with :mod:`psycopg.sql`."""


def _option_value(value: str) -> str:
    """A value for libpq's ``options``: spaces and backslashes escaped with a backslash."""
    return value.replace("\\", "\\\\").replace(" ", "\\ ")


class Database:
    """An async psycopg pool on one PostgreSQL database; sessions run in UTC.

    Use :meth:`connect`; the conninfo may hold a password, so it is never logged or shown.
    Pool connections are in autocommit: a lone statement is one round trip, not three
    (``BEGIN``, the statement, ``COMMIT``). Whatever must hold together (several writes, a
    ``FOR UPDATE`` lock) runs in ``conn.transaction()``.
    """

    def __init__(
        self,
        pool: AsyncConnectionPool[psycopg.AsyncConnection[Any]],
        conninfo: str,
        options: str = UTC_SESSIONS,
    ):
        self._pool = pool
        self._conninfo = conninfo
        self._options = options

    @classmethod
    async def connect(
        cls,
        conninfo: str,
        *,
        min_size: int = 1,
        max_size: int = 10,
        migrate: bool = True,
        settings: Mapping[str, str] | None = None,
    ) -> Database:
        """Open a pool on ``conninfo`` and, unless ``migrate=False``, apply pending migrations.

        ``settings`` are set on every session (e.g. ``payivr.instance``: see migration 0010).
        """
        options = UTC_SESSIONS + "".join(
            f" -c {name}={_option_value(value)}" for name, value in (settings or {}).items()
        )
        pool: AsyncConnectionPool[psycopg.AsyncConnection[Any]] = AsyncConnectionPool(
            conninfo,
            min_size=min_size,
            max_size=max_size,
            kwargs={"options": options, "autocommit": True},
            open=False,
            name="payivr",
        )
        await pool.open(wait=True)
        try:
            if migrate:
                async with pool.connection() as conn:
                    await apply_migrations(conn)
        except BaseException:
            await pool.close()
            raise
        return cls(pool, conninfo, options)

    @classmethod
    async def connect_runtime(
        cls,
        conninfo: str,
        *,
        owner_conninfo: str | None,
        settings: Mapping[str, str] | None = None,
    ) -> Database:
        """Open payivr's pool as its runtime role, for ``payivr serve``.

        With ``owner_conninfo`` the owner first applies pending migrations and grants the
        runtime role its privileges; without, none may be pending. Raises
        :class:`DatabaseSetupError` when the runtime role could alter the audit trail.
        """
        database = await cls.connect(conninfo, migrate=False, settings=settings)
        try:
            async with database.pool.connection() as conn:
                cursor = await conn.execute("SELECT current_user::text")
                runtime_role = str((await cursor.fetchone() or ("",))[0])
                if owner_conninfo is not None:
                    await migrate(owner_conninfo, runtime_role)
                elif pending := await pending_migrations(conn):
                    raise DatabaseSetupError(
                        f"the database lacks {len(pending)} migration(s) (from"
                        f" {pending[0].version:04d}_{pending[0].name}): run `payivr migrate` with"
                        " database.migrate_url set to the owner, or give payivr serve that setting"
                    )
                await check_runtime_role(conn)
        except BaseException:
            await database.close()
            raise
        return database

    @property
    def pool(self) -> AsyncConnectionPool[psycopg.AsyncConnection[Any]]:
        return self._pool

    async def another_pool(self, name: str, max_size: int) -> Database:
        """A second pool on the same database, e.g. the console's: its requests (a login
        flood) then wait for their own connections, never for those payments are written on."""
        pool: AsyncConnectionPool[psycopg.AsyncConnection[Any]] = AsyncConnectionPool(
            self._conninfo,
            min_size=1,
            max_size=max_size,
            kwargs={"options": self._options, "autocommit": True},
            open=False,
            name=name,
        )
        await pool.open(wait=True)
        return Database(pool, self._conninfo, self._options)

    async def rows(self, query: Statement, params: Params | None = None) -> list[dict[str, Any]]:
        """What one statement returns, each row as a dict by column name."""
        async with self._pool.connection() as conn:
            cursor = conn.cursor(row_factory=dict_row)
            await cursor.execute(query, params)
            return await cursor.fetchall()

    async def row(self, query: Statement, params: Params | None = None) -> dict[str, Any] | None:
        """The first row one statement returns (None: none), as a dict by column name."""
        async with self._pool.connection() as conn:
            cursor = conn.cursor(row_factory=dict_row)
            await cursor.execute(query, params)
            return await cursor.fetchone()

    async def dedicated_connection(self) -> psycopg.AsyncConnection[Any]:
        """A connection outside the pool, in autocommit, for LISTEN (caller closes it)."""
        return await psycopg.AsyncConnection.connect(
            self._conninfo, autocommit=True, options=self._options
        )

    async def close(self) -> None:
        await self._pool.close()

    async def __aenter__(self) -> Database:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"<Database pool={self._pool.name!r}>"
