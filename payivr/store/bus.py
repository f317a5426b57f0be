"""ConsoleBus: console events shared by every payivr instance via LISTEN/NOTIFY.

Each instance publishes the events of the payments it drives; every instance's console
subscribes and so sees all of them. NOTIFY payloads must stay under 8000 bytes, so events
are small JSON objects (ids and statuses, never card data).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from types import TracebackType
from typing import Any

import psycopg
import structlog
from psycopg import sql

from payivr.store.database import Database
from payivr.store.errors import EventTooLarge

logger = structlog.get_logger(__name__)

CONSOLE_CHANNEL = "payivr_console"
MAX_PAYLOAD_BYTES = 7999


class ConsoleBus:
    def __init__(self, db: Database, *, channel: str = CONSOLE_CHANNEL) -> None:
        self._db = db
        self._channel = channel

    async def publish(self, event: Mapping[str, Any]) -> None:
        """Send one event to every subscriber on every instance (after the NOTIFY commits)."""
        payload = json.dumps(event, ensure_ascii=False, separators=(",", ":"), default=str)
        if len(payload.encode()) > MAX_PAYLOAD_BYTES:
            raise EventTooLarge(f"console event of {len(payload.encode())} bytes")
        async with self._db.pool.connection() as conn:
            await conn.execute("SELECT pg_notify(%s, %s)", (self._channel, payload))

    def subscribe(self) -> Subscription:
        """``async with bus.subscribe() as events: async for event in events: ...``

        Listening has started when the ``async with`` body begins, so nothing published
        after that point is missed.
        """
        return Subscription(self._db, self._channel)


class Subscription:
    def __init__(self, db: Database, channel: str) -> None:
        self._db = db
        self._channel = channel
        self._conn: psycopg.AsyncConnection[Any] | None = None

    async def __aenter__(self) -> Subscription:
        self._conn = await self._db.dedicated_connection()
        await self._conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self._channel)))
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        return self._events()

    async def _events(self) -> AsyncIterator[dict[str, Any]]:
        if self._conn is None:
            raise RuntimeError("use 'async with bus.subscribe() as events'")
        async for notify in self._conn.notifies():
            try:
                event = json.loads(notify.payload)
            except json.JSONDecodeError:
                logger.warning("console_event_not_json", channel=notify.channel)
                continue
            if isinstance(event, dict):
                yield event
