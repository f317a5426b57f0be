"""ConsoleBus: console events shared by every payivr instance via LISTEN/NOTIFY.

Each instance publishes the events of the payments it drives; every instance's console
subscribes and so sees all of them. NOTIFY payloads must stay under 8000 bytes, so events
are small JSON objects (ids and statuses, never card data). A payload is one event or a JSON
array of events in order: :meth:`ConsoleBus.publish_many` packs as many as fit, so a busy
instance does one round trip per batch rather than per event.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping, Sequence
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

    async def publish_many(self, events: Sequence[Mapping[str, Any]]) -> None:
        """Send events in order, packed into as few NOTIFYs as fit, on one connection.

        An event too large for a NOTIFY is left out (the others are sent), then raises
        :class:`EventTooLarge`.
        """
        payloads: list[str] = []
        packed: list[str] = []
        size = 2  # the brackets
        too_large = 0
        for event in events:
            item = json.dumps(event, ensure_ascii=False, separators=(",", ":"), default=str)
            length = len(item.encode())
            if length + 2 > MAX_PAYLOAD_BYTES:
                too_large += 1
                continue
            if packed and size + 1 + length > MAX_PAYLOAD_BYTES:
                payloads.append(f"[{','.join(packed)}]")
                packed, size = [], 2
            packed.append(item)
            size += length + (1 if len(packed) > 1 else 0)
        if packed:
            payloads.append(f"[{','.join(packed)}]")
        if payloads:
            async with self._db.pool.connection() as conn:
                await conn.cursor().executemany(
                    "SELECT pg_notify(%s, %s)", [(self._channel, p) for p in payloads]
                )
        if too_large:
            raise EventTooLarge(f"{too_large} console event(s) over {MAX_PAYLOAD_BYTES} bytes")

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

    async def __aexit__(self, *exc_info: object) -> None:
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
                payload = json.loads(notify.payload)
            except json.JSONDecodeError:
                logger.warning("console_event_not_json", channel=notify.channel)
                continue
            for event in payload if isinstance(payload, list) else [payload]:
                if isinstance(event, dict):
                    yield event
