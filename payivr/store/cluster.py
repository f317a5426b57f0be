"""Several payivr instances on one database: who each is (README "Running several PBXs")."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Any

import psycopg
import structlog

from payivr.aio import cancel_and_wait
from payivr.store.database import Database

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Identity:
    """A running payivr: its instance name and the entity id of the Asterisk it serves."""

    instance: str
    asterisk_id: str

    @property
    def session_settings(self) -> dict[str, str]:
        """Set on each database session: the rows it inserts record them (migration 0010)."""
        return {"payivr.instance": self.instance, "payivr.asterisk_id": self.asterisk_id}


class AsteriskLease:
    """The right to run one Asterisk's calls: a PostgreSQL advisory lock keyed by the
    Asterisk's entity id, held by a database session of its own.

    PostgreSQL is the only coordinator: the lock is the session's, so it goes when the
    process dies (its connection closes) or its host does (the session's TCP keepalives,
    set below, end it within about 11 s). The instance that holds it runs the calls; the
    others wait in :meth:`acquire`, trying every ``poll`` seconds. An advisory lock lives on
    the primary only: when the primary restarts or fails over every lock is gone, so the
    holder takes it again at once while a waiting instance, whose own session was cut too,
    waits ``takeover_grace`` seconds first. If another instance has it by then, :attr:`lost`
    is set: this one must stop running the Asterisk's calls.
    """

    def __init__(
        self, db: Database, identity: Identity, *, takeover_grace: float, poll: float = 0.5
    ) -> None:
        self._db = db
        self._identity = identity
        self._takeover_grace = takeover_grace
        self._poll = poll
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._watch: asyncio.Task[None] | None = None
        self.lost = asyncio.Event()
        self.waiting = False  # in acquire(), another instance (or no database) having it

    @property
    def held(self) -> bool:
        return self._conn is not None and not self.lost.is_set()

    async def acquire(self) -> None:
        """Return once this instance holds the lock: at once when no one else does."""
        cut = False
        while True:
            try:
                if await self._take(grace=self._takeover_grace if cut else 0.0):
                    break
                if not self.waiting:
                    log.info("standby", asterisk_id=self._identity.asterisk_id)
            except _DATABASE_AWAY as error:
                cut = True
                log.warning("asterisk_lease_unreachable", error=type(error).__name__)
            self.waiting = True
            await asyncio.sleep(self._poll)
        self.waiting = False
        log.info("asterisk_lease_taken", asterisk_id=self._identity.asterisk_id)
        self._watch = asyncio.create_task(self._keep(), name="asterisk-lease")

    async def close(self) -> None:
        """Let the lock go (closing its session), so a waiting instance takes over at once."""
        if self._watch is not None:
            await cancel_and_wait([self._watch])
        await self._disconnect()

    async def _take(self, *, grace: float) -> bool:
        if self._conn is None or self._conn.closed:
            self._conn = await self._db.dedicated_connection()
            await self._conn.execute(_SESSION_KEEPALIVES)
            await asyncio.sleep(grace)
        cursor = await self._conn.execute(
            "SELECT pg_try_advisory_lock(hashtext(%s), hashtext(%s))",
            (LOCK_NAMESPACE, self._identity.asterisk_id),
        )
        row = await cursor.fetchone()
        return bool(row and row[0])

    async def _keep(self) -> None:
        """While held: check the session every ``poll``; when it is cut, take the lock again
        on a new one, or set :attr:`lost` if another instance has it."""
        while True:
            await asyncio.sleep(self._poll)
            try:
                assert self._conn is not None
                async with asyncio.timeout(max(self._poll * 4, 2.0)):
                    await self._conn.execute("SELECT 1")
                continue
            except (TimeoutError, *_DATABASE_AWAY) as error:
                log.warning("asterisk_lease_session_lost", error=type(error).__name__)
                await self._disconnect()
            while True:  # the database is away: keep the calls, take the lock when it is back
                try:
                    if await self._take(grace=0.0):
                        log.info("asterisk_lease_taken_again")
                        break
                    log.error("asterisk_lease_lost", hint="another payivr took this Asterisk")
                    self.lost.set()
                    return
                except _DATABASE_AWAY:
                    await self._disconnect()
                await asyncio.sleep(self._poll)

    async def _disconnect(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(*_DATABASE_AWAY):
                await self._conn.close()
            self._conn = None


LOCK_NAMESPACE = "payivr asterisk"
"""With the entity id, the two keys of the advisory lock (``hashtext`` of each)."""

# The server ends a session whose client host went silent within about 5 + 2 x 3 s, so the
# lock of a dead host is released (the defaults are the OS's: often two hours).
_SESSION_KEEPALIVES = (
    "SET tcp_keepalives_idle = 5; SET tcp_keepalives_interval = 2;"
    " SET tcp_keepalives_count = 3; SET tcp_user_timeout = 11000"
)
_DATABASE_AWAY = (OSError, psycopg.OperationalError)
