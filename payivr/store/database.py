"""The connection pool every store component shares."""

from __future__ import annotations

from types import TracebackType
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from payivr.store.migrations import apply_migrations


class Database:
    """An async psycopg pool on one PostgreSQL database; sessions run in UTC.

    Use :meth:`connect`; the conninfo may hold a password, so it is never logged or shown.
    """

    def __init__(self, pool: AsyncConnectionPool[psycopg.AsyncConnection[Any]], conninfo: str):
        self._pool = pool
        self._conninfo = conninfo

    @classmethod
    async def connect(
        cls,
        conninfo: str,
        *,
        min_size: int = 1,
        max_size: int = 10,
        migrate: bool = True,
    ) -> Database:
        """Open a pool on ``conninfo`` and, unless ``migrate=False``, apply pending migrations."""
        pool: AsyncConnectionPool[psycopg.AsyncConnection[Any]] = AsyncConnectionPool(
            conninfo,
            min_size=min_size,
            max_size=max_size,
            kwargs={"options": "-c TimeZone=UTC"},
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
        return cls(pool, conninfo)

    @property
    def pool(self) -> AsyncConnectionPool[psycopg.AsyncConnection[Any]]:
        return self._pool

    async def dedicated_connection(self) -> psycopg.AsyncConnection[Any]:
        """A connection outside the pool, in autocommit, for LISTEN (caller closes it)."""
        return await psycopg.AsyncConnection.connect(
            self._conninfo, autocommit=True, options="-c TimeZone=UTC"
        )

    async def close(self) -> None:
        await self._pool.close()

    async def __aenter__(self) -> Database:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"<Database pool={self._pool.name!r}>"
