"""Refunds and voids of approved payments, in PostgreSQL.

A reversal is written (``pending``) before the gateway is asked, its id being the
idempotency key, in the transaction that checks what is left to give back, with the payment
row locked: two agents refunding at once cannot give back more than was charged. It is then
settled with the gateway's answer; an approved one queues its CRM activity in the same
transaction, as a payment's outcome does.
"""

from __future__ import annotations

import enum
import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import structlog
from psycopg.rows import dict_row

from payivr.core.errors import PayivrError
from payivr.core.events import Outcome
from payivr.core.redact import redact_card_data
from payivr.store.activity import format_amount
from payivr.store.database import Database
from payivr.store.errors import PaymentNotFound
from payivr.store.models import Clock, utc_now
from payivr.store.payments import OUTBOX_CHANNEL

logger = structlog.get_logger(__name__)


class ReversalKind(enum.Enum):
    VOID = "void"
    REFUND = "refund"


class ReversalStatus(enum.Enum):
    PENDING = "pending"
    APPROVED = "approved"
    DECLINED = "declined"
    FAILED = "failed"
    UNKNOWN = "unknown"  # sent, no answer: still counts against what can be given back


class ReversalRefused(PayivrError):
    """Nothing was sent to the gateway; the message says why, in words."""


@dataclass(frozen=True)
class Reversal:
    id: UUID
    payment_id: UUID
    kind: ReversalKind
    amount_minor: int
    status: ReversalStatus
    actor: str
    reason: str | None
    gateway_reference: str | None
    created_at: datetime
    finished_at: datetime | None

    @property
    def holds_money(self) -> bool:
        """Whether it gave back (or may have given back) money."""
        return self.status in (
            ReversalStatus.PENDING,
            ReversalStatus.APPROVED,
            ReversalStatus.UNKNOWN,
        )


def _reversal(row: dict[str, Any]) -> Reversal:
    return Reversal(
        id=row["id"],
        payment_id=row["payment_id"],
        kind=ReversalKind(row["kind"]),
        amount_minor=row["amount_minor"],
        status=ReversalStatus(row["status"]),
        actor=row["actor"],
        reason=row["reason"],
        gateway_reference=row["gateway_reference"],
        created_at=row["created_at"],
        finished_at=row["finished_at"],
    )


def reversal_activity(payment: dict[str, Any], reversal: Reversal) -> dict[str, Any]:
    """The CRM activity of an approved refund or void: what happened, by whom, to which
    charge (the payment's own fields, so the CRM finds its record)."""
    assert reversal.finished_at is not None
    given_back = format_amount(reversal.amount_minor, payment["currency"])
    activity: dict[str, Any] = {
        "Agent": reversal.actor,
        "Product Name": payment["item_name"],
        "Transaction ID": reversal.gateway_reference or "",
        "Amount Charged": format_amount(-reversal.amount_minor, payment["currency"]),
        "Payment Status": "Voided" if reversal.kind is ReversalKind.VOID else "Refunded",
        "Timestamp": reversal.finished_at.astimezone(UTC).isoformat(timespec="seconds"),
        "Amount Refunded": given_back,
        "Original Transaction ID": payment["gateway_reference"] or "",
        "Payment ID": str(payment["id"]),
        "Call ID": payment["call_id"],
        "Caller Number": payment["caller_number"],
    }
    if payment["crm_record_id"] is not None:
        activity["CRM Record ID"] = payment["crm_record_id"]
    return activity


class ReversalStore:
    def __init__(
        self, db: Database, *, crm_endpoints: Sequence[str] = (), clock: Clock = utc_now
    ) -> None:
        self._db = db
        self._crm_endpoints = tuple(crm_endpoints)
        self._clock = clock

    async def open(
        self, payment_id: UUID, kind: ReversalKind, amount_minor: int | None, actor: str
    ) -> Reversal:
        """A pending reversal of ``amount_minor`` (None: all that is left; a void is always
        all of it), or :class:`ReversalRefused` saying why not."""
        async with self._db.pool.connection() as conn, conn.transaction():
            rows = conn.cursor(row_factory=dict_row)
            await rows.execute(
                "SELECT amount_minor, currency, outcome, gateway_reference FROM payments"
                " WHERE id = %s FOR UPDATE",
                (payment_id,),
            )
            payment = await rows.fetchone()
            if payment is None:
                raise PaymentNotFound(payment_id)
            if payment["outcome"] != Outcome.APPROVED.value or not payment["gateway_reference"]:
                raise ReversalRefused("only an approved payment can be refunded or voided")
            held = [
                reversal
                for reversal in await self._for(conn, [payment_id])
                if reversal.holds_money
            ]
            if any(r.kind is ReversalKind.VOID for r in held):
                raise ReversalRefused("the payment has already been voided")
            left = payment["amount_minor"] - sum(r.amount_minor for r in held)
            if kind is ReversalKind.VOID and held:
                raise ReversalRefused(
                    "a payment that was partly refunded cannot be voided: refund the rest"
                )
            if left <= 0:
                raise ReversalRefused("the payment has already been refunded in full")
            amount = left if amount_minor is None or kind is ReversalKind.VOID else amount_minor
            if amount > left:
                most = format_amount(left, payment["currency"])
                raise ReversalRefused(f"at most {most} can be refunded")
            reversal_id = uuid.uuid4()
            await rows.execute(
                "INSERT INTO payment_reversals (id, payment_id, kind, amount_minor, actor,"
                " created_at) VALUES (%s, %s, %s, %s, %s, %s) RETURNING *",
                (reversal_id, payment_id, kind.value, amount, actor, self._clock()),
            )
            row = await rows.fetchone()
            assert row is not None
        return _reversal(row)

    async def settle(
        self,
        reversal_id: UUID,
        status: ReversalStatus,
        *,
        gateway_reference: str | None = None,
        reason: str | None = None,
    ) -> Reversal:
        """Record the gateway's answer; an approved reversal queues its CRM activity."""
        async with self._db.pool.connection() as conn, conn.transaction():
            rows = conn.cursor(row_factory=dict_row)
            now = self._clock()
            await rows.execute(
                "UPDATE payment_reversals SET status = %s, gateway_reference = %s,"
                " reason = %s, finished_at = %s WHERE id = %s RETURNING *",
                (
                    status.value,
                    gateway_reference,
                    redact_card_data(reason) if reason else None,
                    now,
                    reversal_id,
                ),
            )
            row = await rows.fetchone()
            assert row is not None
            reversal = _reversal(row)
            if status is ReversalStatus.APPROVED and self._crm_endpoints:
                await rows.execute(
                    "SELECT * FROM payments WHERE id = %s", (reversal.payment_id,)
                )
                payment = await rows.fetchone()
                assert payment is not None
                activity = json.dumps(reversal_activity(payment, reversal), ensure_ascii=False)
                for endpoint in self._crm_endpoints:
                    await conn.execute(
                        "INSERT INTO crm_outbox (id, endpoint, payment_id, reversal_id,"
                        " activity, created_at, next_attempt_at)"
                        " VALUES (%s, %s, %s, %s, %s, %s, %s)",
                        (uuid.uuid4(), endpoint, reversal.payment_id, reversal_id, activity,
                         now, now),
                    )
                    await conn.execute("SELECT pg_notify(%s, %s)", (OUTBOX_CHANNEL, endpoint))
        logger.info(
            "payment_reversed",
            payment_id=str(reversal.payment_id),
            kind=reversal.kind.value,
            status=status.value,
        )
        return reversal

    async def for_payments(self, payment_ids: Iterable[UUID]) -> dict[UUID, list[Reversal]]:
        """Each payment's reversals, oldest first."""
        ids = list(payment_ids)
        found: dict[UUID, list[Reversal]] = {payment_id: [] for payment_id in ids}
        if not ids:
            return found
        async with self._db.pool.connection() as conn:
            for reversal in await self._for(conn, ids):
                found[reversal.payment_id].append(reversal)
        return found

    @staticmethod
    async def _for(conn: Any, payment_ids: list[UUID]) -> list[Reversal]:
        cursor = conn.cursor(row_factory=dict_row)
        await cursor.execute(
            "SELECT * FROM payment_reversals WHERE payment_id = ANY(%s) ORDER BY created_at, id",
            (payment_ids,),
        )
        return [_reversal(row) for row in await cursor.fetchall()]
