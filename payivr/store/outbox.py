"""Delivery of the CRM outbox: at least once, in order of creation per endpoint.

A worker claims one endpoint at a time with ``FOR NO KEY UPDATE SKIP LOCKED`` on its
``crm_endpoints`` row and keeps that transaction open while it sends the endpoint's oldest
pending rows, so several workers or instances never send one row at once, and rows for one
endpoint go out strictly in order (head of line: a later row waits while an earlier one is
being retried). Delivery results are committed with the claim, so a crash before commit
means the rows are sent again by the next worker, with the same ``webhook-id``.

Retries follow :data:`RETRY_SCHEDULE`, offsets from the row's first attempt; a failure at
or after the last offset (24 h) makes the row dead, for ``payivr crm replay``.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import psycopg
import structlog
from psycopg import sql
from psycopg.rows import dict_row
from psycopg_pool import PoolTimeout

from payivr.store.crm import (
    CrmAdapter,
    Delivered,
    Delivery,
    DeliveryResult,
    EndpointGone,
    RetryLater,
)
from payivr.store.database import Database
from payivr.store.models import Clock, utc_now
from payivr.store.payments import OUTBOX_CHANNEL

logger = structlog.get_logger(__name__)

RETRY_SCHEDULE: tuple[timedelta, ...] = (
    timedelta(0),
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=14),
    timedelta(hours=20),
    timedelta(hours=24),
)


class OutboxStatus(enum.Enum):
    PENDING = "pending"
    DELIVERED = "delivered"
    DEAD = "dead"


@dataclass(frozen=True)
class OutboxEntry:
    id: UUID
    seq: int
    endpoint: str
    payment_id: UUID
    status: OutboxStatus
    attempts: int
    created_at: datetime
    first_attempt_at: datetime | None
    last_attempt_at: datetime | None
    next_attempt_at: datetime
    delivered_at: datetime | None
    last_error: str | None
    activity: dict[str, Any]


@dataclass(frozen=True)
class EndpointState:
    name: str
    enabled: bool
    disabled_at: datetime | None
    disabled_reason: str | None


def next_attempt_at(
    first_attempt_at: datetime, failed_at: datetime, retry_after: float | None = None
) -> datetime | None:
    """When to try again after a failed attempt, or None when the row is dead."""
    if failed_at >= first_attempt_at + RETRY_SCHEDULE[-1]:
        return None
    if retry_after is not None:
        return failed_at + timedelta(seconds=min(max(retry_after, 0.0), 86400.0))
    for offset in RETRY_SCHEDULE:
        if first_attempt_at + offset > failed_at:
            return first_attempt_at + offset
    return None  # unreachable: the last offset is after failed_at


def _entry_from_row(row: dict[str, Any]) -> OutboxEntry:
    return OutboxEntry(
        id=row["id"],
        seq=row["seq"],
        endpoint=row["endpoint"],
        payment_id=row["payment_id"],
        status=OutboxStatus(row["status"]),
        attempts=row["attempts"],
        created_at=row["created_at"],
        first_attempt_at=row["first_attempt_at"],
        last_attempt_at=row["last_attempt_at"],
        next_attempt_at=row["next_attempt_at"],
        delivered_at=row["delivered_at"],
        last_error=row["last_error"],
        activity=row["activity"],
    )


_CLAIM_ENDPOINT = """
SELECT e.name FROM crm_endpoints e
WHERE e.enabled AND e.name = ANY(%(names)s) AND NOT e.name = ANY(%(skip)s)
  AND (SELECT o.next_attempt_at FROM crm_outbox o
       WHERE o.endpoint = e.name AND o.status = 'pending'
       ORDER BY o.seq LIMIT 1) <= %(now)s
ORDER BY e.name
LIMIT 1
FOR NO KEY UPDATE OF e SKIP LOCKED
"""

_HEAD_ROWS = """
SELECT id, seq, payment_id, activity, attempts, created_at, first_attempt_at, next_attempt_at
FROM crm_outbox WHERE endpoint = %(endpoint)s AND status = 'pending'
ORDER BY seq LIMIT %(limit)s FOR UPDATE
"""

_NEXT_DUE = """
SELECT min(head.next_attempt_at) FROM crm_endpoints e
CROSS JOIN LATERAL (
    SELECT o.next_attempt_at FROM crm_outbox o
    WHERE o.endpoint = e.name AND o.status = 'pending' ORDER BY o.seq LIMIT 1) head
WHERE e.enabled AND e.name = ANY(%(names)s)
"""


class OutboxWorker:
    """Delivers pending outbox rows through the given adapters (one per endpoint name).

    ``run()`` works until cancelled, woken by NOTIFY when an activity is added and by its
    own timer for retries; ``run_once()`` delivers what is due now (tests drive it with an
    injected clock to simulate hours of CRM downtime).
    """

    def __init__(
        self,
        db: Database,
        adapters: Sequence[CrmAdapter],
        *,
        clock: Clock = utc_now,
        batch_size: int = 50,
        poll_interval: float = 30.0,
    ) -> None:
        self._db = db
        self._adapters = {adapter.name: adapter for adapter in adapters}
        self._names = list(self._adapters)
        self._clock = clock
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._backoff = 1.0
        self._registered = False  # the endpoints' rows: inserted once, again after an error

    async def register_endpoints(self) -> None:
        """Make sure every adapter has its endpoint row (new endpoints start enabled)."""
        async with self._db.pool.connection() as conn:
            for name in self._names:
                await conn.execute(
                    "INSERT INTO crm_endpoints (name) VALUES (%s) ON CONFLICT DO NOTHING", (name,)
                )

    async def run_once(self) -> int:
        """Deliver everything due now; return the number of attempts made.

        An endpoint whose attempt failed is not tried again within the same call.
        """
        if not self._registered:
            await self.register_endpoints()
            self._registered = True
        attempts = 0
        failed: list[str] = []
        while True:
            outcome = await self._deliver_batch(failed)
            if outcome is None:
                return attempts
            made, endpoint, stopped_on_failure = outcome
            attempts += made
            if stopped_on_failure:
                failed.append(endpoint)

    async def run(self) -> None:
        """Deliver until cancelled; survives database restarts (reconnects with backoff)."""
        logger.info("outbox_worker_started", endpoints=self._names)
        while True:
            try:
                await self._listen_and_deliver()
            except (psycopg.OperationalError, PoolTimeout) as error:
                self._registered = False
                logger.warning(
                    "outbox_worker_database_error",
                    error=type(error).__name__,
                    retry_in=self._backoff,
                )
                await asyncio.sleep(self._backoff)
                self._backoff = min(self._backoff * 2, self._poll_interval)

    async def _listen_and_deliver(self) -> None:
        listener = await self._db.dedicated_connection()
        try:
            await listener.execute(sql.SQL("LISTEN {}").format(sql.Identifier(OUTBOX_CHANNEL)))
            self._backoff = 1.0
            while True:
                await self.run_once()
                delay = await self._seconds_until_next_due()
                async for _ in listener.notifies(timeout=delay, stop_after=1):
                    pass
        finally:
            await listener.close()

    async def _seconds_until_next_due(self) -> float:
        async with self._db.pool.connection() as conn:
            cursor = await conn.execute(_NEXT_DUE, {"names": self._names})
            row = await cursor.fetchone()
        if row is None or row[0] is None:
            return self._poll_interval
        seconds = (row[0] - self._clock()).total_seconds()
        return float(min(max(seconds, 0.05), self._poll_interval))

    async def _deliver_batch(self, skip: list[str]) -> tuple[int, str, bool] | None:
        """Claim one endpoint with due rows and send its head rows in order.

        Returns (attempts, endpoint, stopped on a failure), or None if nothing is claimable.
        """
        async with self._db.pool.connection() as conn, conn.transaction():
            cursor = await conn.execute(
                _CLAIM_ENDPOINT, {"names": self._names, "skip": skip, "now": self._clock()}
            )
            claimed = await cursor.fetchone()
            if claimed is None:
                return None
            endpoint: str = claimed[0]
            adapter = self._adapters[endpoint]
            rows_cursor = conn.cursor(row_factory=dict_row)
            await rows_cursor.execute(_HEAD_ROWS, {"endpoint": endpoint, "limit": self._batch_size})
            attempts = 0
            for row in await rows_cursor.fetchall():
                now = self._clock()
                if row["next_attempt_at"] > now:
                    break
                delivery = Delivery(
                    message_id=row["id"],
                    payment_id=row["payment_id"],
                    activity=row["activity"],
                    created_at=row["created_at"],
                    attempt=row["attempts"] + 1,
                )
                result = await self._attempt(adapter, delivery)
                attempts += 1
                done = self._clock()
                first_attempt_at = row["first_attempt_at"] or now
                if not await self._record(
                    conn, endpoint, row["id"], result, first_attempt_at, done
                ):
                    return attempts, endpoint, True
            return attempts, endpoint, False

    @staticmethod
    async def _attempt(adapter: CrmAdapter, delivery: Delivery) -> DeliveryResult:
        try:
            return await adapter.deliver(delivery)
        except Exception as error:  # an adapter bug must not stop delivery to other CRMs
            logger.exception("crm_adapter_failed", endpoint=adapter.name)
            return RetryLater(f"adapter error {type(error).__name__}")

    @staticmethod
    async def _record(
        conn: psycopg.AsyncConnection[Any],
        endpoint: str,
        row_id: UUID,
        result: DeliveryResult,
        first_attempt_at: datetime,
        now: datetime,
    ) -> bool:
        """Store one attempt's result; return whether delivery may go on to the next row."""
        params: dict[str, Any] = {"id": row_id, "first": first_attempt_at, "now": now}
        match result:
            case Delivered():
                await conn.execute(
                    "UPDATE crm_outbox SET attempts = attempts + 1, first_attempt_at = %(first)s,"
                    " last_attempt_at = %(now)s, status = 'delivered',"
                    " delivered_at = %(now)s, last_error = NULL WHERE id = %(id)s",
                    params,
                )
                logger.info("crm_activity_delivered", endpoint=endpoint, message_id=str(row_id))
                return True
            case RetryLater(reason=reason, retry_after=retry_after):
                retry_at = next_attempt_at(first_attempt_at, now, retry_after)
                if retry_at is None:
                    await conn.execute(
                        "UPDATE crm_outbox SET attempts = attempts + 1, first_attempt_at = %(first)s,"
                        " last_attempt_at = %(now)s, status = 'dead',"
                        " last_error = %(error)s WHERE id = %(id)s",
                        {**params, "error": reason},
                    )
                    logger.error(
                        "crm_activity_dead",
                        endpoint=endpoint,
                        message_id=str(row_id),
                        reason=reason,
                    )
                else:
                    await conn.execute(
                        "UPDATE crm_outbox SET attempts = attempts + 1, first_attempt_at = %(first)s,"
                        " last_attempt_at = %(now)s, next_attempt_at = %(next)s,"
                        " last_error = %(error)s WHERE id = %(id)s",
                        {**params, "error": reason, "next": retry_at},
                    )
                    logger.warning(
                        "crm_delivery_retry",
                        endpoint=endpoint,
                        message_id=str(row_id),
                        reason=reason,
                        retry_at=retry_at.isoformat(),
                    )
                return False
            case EndpointGone(reason=reason):
                await conn.execute(
                    "UPDATE crm_outbox SET attempts = attempts + 1, first_attempt_at = %(first)s,"
                    " last_attempt_at = %(now)s, last_error = %(error)s WHERE id = %(id)s",
                    {**params, "error": reason},
                )
                await conn.execute(
                    "UPDATE crm_endpoints SET enabled = false, disabled_at = %(now)s,"
                    " disabled_reason = %(error)s WHERE name = %(endpoint)s",
                    {"now": now, "error": reason, "endpoint": endpoint},
                )
                logger.error("crm_endpoint_disabled", endpoint=endpoint, reason=reason)
                return False


async def crm_list(
    db: Database,
    *,
    status: OutboxStatus | None = None,
    failed: bool = False,
    endpoint: str | None = None,
    limit: int = 100,
) -> list[OutboxEntry]:
    """Outbox rows in order of creation (``payivr crm list``).

    ``failed=True`` shows dead rows and pending rows that have failed at least once.
    """
    rows = await db.rows(
        "SELECT * FROM crm_outbox"
        " WHERE (%(status)s::text IS NULL OR status = %(status)s)"
        " AND (%(endpoint)s::text IS NULL OR endpoint = %(endpoint)s)"
        " AND (NOT %(failed)s OR status = 'dead' OR (status = 'pending' AND attempts > 0))"
        " ORDER BY seq LIMIT %(limit)s",
        {
            "status": status.value if status else None,
            "endpoint": endpoint,
            "failed": failed,
            "limit": limit,
        },
    )
    return [_entry_from_row(row) for row in rows]


async def crm_endpoints(db: Database) -> list[EndpointState]:
    """Every endpoint and whether it is enabled (a 410 disables one)."""
    rows = await db.rows("SELECT * FROM crm_endpoints ORDER BY name")
    return [EndpointState(**row) for row in rows]


async def crm_replay(
    db: Database,
    *,
    ids: Sequence[UUID] = (),
    endpoint: str | None = None,
    clock: Clock = utc_now,
) -> int:
    """Queue rows again now, with a fresh retry schedule (``payivr crm replay``).

    With ``ids``: exactly those rows, whatever their status (a delivered row is sent again
    with the same ``webhook-id``). Without: every dead row (of ``endpoint`` if given).
    Endpoints of replayed rows (and ``endpoint`` itself) are enabled again. Returns the
    number of rows queued.
    """
    now = clock()
    async with db.pool.connection() as conn, conn.transaction():
        cursor = await conn.execute(
            "UPDATE crm_outbox SET status = 'pending', next_attempt_at = %(now)s,"
            " first_attempt_at = NULL, delivered_at = NULL"
            " WHERE (CASE WHEN cardinality(%(ids)s::uuid[]) > 0 THEN id = ANY(%(ids)s)"
            "        ELSE status = 'dead' END)"
            " AND (%(endpoint)s::text IS NULL OR endpoint = %(endpoint)s)"
            " RETURNING endpoint",
            {"now": now, "ids": list(ids), "endpoint": endpoint},
        )
        endpoints = {row[0] for row in await cursor.fetchall()}
        if endpoint is not None:
            endpoints.add(endpoint)
        count = cursor.rowcount
        for name in sorted(endpoints):
            await conn.execute(
                "UPDATE crm_endpoints SET enabled = true, disabled_at = NULL,"
                " disabled_reason = NULL WHERE name = %s",
                (name,),
            )
            await conn.execute("SELECT pg_notify(%s, %s)", (OUTBOX_CHANNEL, name))
    logger.info("crm_replay", rows=count, endpoints=sorted(endpoints))
    return count
