"""PaymentStore: what the call-control code records about payments, and the audit trail."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

import psycopg
import structlog
from psycopg import sql
from psycopg.rows import dict_row

from payivr.core.bank import AccountType
from payivr.core.events import Outcome, Step, StepStatus
from payivr.core.steps import STEPS_OF_METHOD
from payivr.store.activity import build_activity
from payivr.store.database import Database
from payivr.store.errors import PaymentAlreadyFinished, PaymentNotFound
from payivr.store.models import (
    STEP_COLUMNS,
    AuditEntry,
    AuditEvent,
    Clock,
    NewPayment,
    Origin,
    Payment,
    Progress,
    utc_now,
)
from payivr.store.payment_rows import (
    AUDIT_INSERT,
    LISTED,
    ON_ASTERISK,
    PRIVACY_COLUMN,
    audit_from_row,
    audit_values,
    card_data_refused,
    listed_params,
    mask_digit_runs,
    payment_from_row,
    refuse_card_data,
    with_progress,
)

logger = structlog.get_logger(__name__)


OUTBOX_CHANNEL = "payivr_crm_outbox"
"""NOTIFY channel that wakes the delivery workers when an activity is added."""


class PaymentStore:
    """Payments and the audit trail in PostgreSQL.

    ``crm_endpoints`` names the CRM endpoints (adapters) that get an outbox row for each
    outcome; with none configured, outcomes are stored but nothing is queued.
    """

    def __init__(
        self,
        db: Database,
        *,
        crm_endpoints: Sequence[str] = (),
        clock: Clock = utc_now,
    ) -> None:
        self._db = db
        self._crm_endpoints = tuple(crm_endpoints)
        self._clock = clock

    # ------------------------------------------------------------------ payments

    async def create_payment(self, new: NewPayment) -> UUID:
        """Store a new payment; its id is also the gateway idempotency key, stored now,
        before any gateway attempt."""
        refuse_card_data(
            {"agent": new.agent, "item_name": new.item_name},
            {
                "call_id": new.call_id,
                "agent_channel": new.agent_channel,
                "crm_record_id": new.crm_record_id,
            },
        )
        payment_id = uuid.uuid4()
        now = self._clock()
        # Each step of the payment's method starts waiting; the other method's have none.
        step_statuses = {
            column: "waiting" if step in STEPS_OF_METHOD[new.payment_method] else None
            for step, column in STEP_COLUMNS.items()
            if step is not Step.AMOUNT
        }
        await self._execute(
            "INSERT INTO payments (id, call_id, agent_channel, agent, item_name, amount_minor,"
            " currency, privacy_mode, entry_kind, state, idempotency_key, crm_record_id,"
            " caller_number, created_at, updated_at, payment_method, step_card_number,"
            " step_expiry, step_security_code, step_postal_code, step_routing_number,"
            " step_account_number, step_account_type)"
            " VALUES (%(id)s, %(call_id)s, %(agent_channel)s, %(agent)s, %(item_name)s,"
            " %(amount_minor)s, %(currency)s, %(privacy_mode)s, %(entry_kind)s, 'requested',"
            " %(idempotency_key)s, %(crm_record_id)s, %(caller_number)s, %(now)s, %(now)s,"
            " %(payment_method)s, %(step_card_number)s, %(step_expiry)s,"
            " %(step_security_code)s, %(step_postal_code)s, %(step_routing_number)s,"
            " %(step_account_number)s, %(step_account_type)s)",
            {
                **step_statuses,
                "payment_method": new.payment_method.value,
                "id": payment_id,
                "call_id": new.call_id,
                "agent_channel": new.agent_channel,
                "agent": new.agent,
                "item_name": new.item_name,
                "amount_minor": new.amount_minor,
                "currency": new.currency,
                "privacy_mode": PRIVACY_COLUMN[new.privacy_mode],
                "entry_kind": new.entry_kind.value,
                "idempotency_key": str(payment_id),
                "crm_record_id": new.crm_record_id,
                "caller_number": new.caller_number,
                "now": now,
            },
        )
        logger.info("payment_created", payment_id=str(payment_id), entry_kind=new.entry_kind.value)
        return payment_id

    async def update_step(self, payment_id: UUID, step: Step, status: StepStatus) -> None:
        """Set one step's status; the first step activity moves the payment to collecting."""
        column = STEP_COLUMNS[step]
        await self._update_unfinished(
            payment_id,
            sql.SQL(
                "{} = %(status)s,"
                " state = CASE WHEN state = 'requested' THEN 'collecting' ELSE state END"
            ).format(sql.Identifier(column)),
            {"status": status.value},
        )

    async def record_card(self, payment_id: UUID, *, brand: str, last_four: str) -> None:
        """Keep what may be kept of the card: its brand and last four digits."""
        progress = Progress(brand=brand, last_four=last_four)
        await self._update_unfinished(payment_id, *with_progress(None, {}, progress))

    async def record_bank_account(
        self, payment_id: UUID, *, account_type: AccountType, last_two: str
    ) -> None:
        """Keep what may be kept of a bank account: its type and last two digits."""
        progress = Progress(bank_account_type=account_type, bank_account_last_two=last_two)
        await self._update_unfinished(payment_id, *with_progress(None, {}, progress))

    async def mark_authorizing(
        self,
        payment_id: UUID,
        progress: Progress | None = None,
        idempotency_key: str | None = None,
    ) -> None:
        """The charge is about to be sent: from here a crash leaves an unknown outcome.
        ``progress``: the caller's entries so far, stored in the same write.
        ``idempotency_key``: the key of this charge when it is not the payment's first (a
        card declined, then another tried): the one a recovery asks the gateway about."""
        state: sql.Composable = sql.SQL("state = 'authorizing'")
        params: dict[str, Any] = {}
        if idempotency_key is not None:
            state = sql.SQL("state = 'authorizing', idempotency_key = %(idempotency_key)s")
            params["idempotency_key"] = idempotency_key
        assignments, params = with_progress(state, params, progress)
        await self._update_unfinished(payment_id, assignments, params)

    async def mark_needs_reconciliation(
        self, payment_id: UUID, reason: str | None, progress: Progress | None = None
    ) -> None:
        """The gateway's answer is unknown (timeout, crash): ask it by idempotency key later,
        never charge again. No CRM activity until the outcome is known."""
        reason = mask_digit_runs(reason)
        assignments, params = with_progress(
            sql.SQL("needs_reconciliation = true, outcome = 'pending', reason = %(reason)s"),
            {"reason": reason},
            progress,
        )
        await self._update_unfinished(payment_id, assignments, params)

    async def record_outcome(
        self,
        payment_id: UUID,
        outcome: Outcome,
        *,
        reason: str | None = None,
        gateway_reference: str | None = None,
        progress: Progress | None = None,
    ) -> Payment:
        """Finish the payment and queue its CRM activity in the same transaction (with
        ``progress``: the caller's entries, in the same write).

        Digit runs in ``reason`` that could be card data are removed (the outcome is kept).
        The ``gateway_reference`` is stored as the gateway gave it (see migration 0007).
        Raises PaymentAlreadyFinished if an outcome was already recorded (for example by an
        earlier attempt whose reply was lost).
        """
        if outcome is Outcome.PENDING:
            raise ValueError("pending is not an outcome; use mark_needs_reconciliation")
        reason = mask_digit_runs(reason)
        now = self._clock()
        assignments, params = with_progress(
            sql.SQL(
                "state = 'finished', outcome = %(outcome)s, reason = %(reason)s,"
                " gateway_reference = coalesce(%(gateway_reference)s, gateway_reference),"
                " needs_reconciliation = false, finished_at = %(now)s, updated_at = %(now)s"
            ),
            {
                "id": payment_id,
                "outcome": outcome.value,
                "reason": reason,
                "gateway_reference": gateway_reference,
                "now": now,
            },
            progress,
        )
        async with self._db.pool.connection() as conn, conn.transaction():
            cursor = conn.cursor(row_factory=dict_row)
            try:
                await cursor.execute(
                    sql.SQL(
                        "UPDATE payments SET {} WHERE id = %(id)s AND state <> 'finished'"
                        " RETURNING *"
                    ).format(assignments),
                    params,
                )
            except psycopg.errors.CheckViolation as error:
                raise card_data_refused(error) from None
            row = await cursor.fetchone()
            if row is None:
                await self._raise_missing_or_finished(conn, payment_id)
            assert row is not None
            payment = payment_from_row(row)
            await self._queue_activity(conn, payment)
        logger.info("payment_finished", payment_id=str(payment_id), outcome=outcome.value)
        return payment

    async def get_payment(self, payment_id: UUID) -> Payment:
        rows = await self._select_payments(sql.SQL("WHERE id = %(id)s"), {"id": payment_id})
        if not rows:
            raise PaymentNotFound(payment_id)
        return rows[0]

    async def list_payments(
        self,
        *,
        agent: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        outcomes: Sequence[str] | None = None,
        limit: int = 100,
    ) -> list[Payment]:
        """Payment history, newest first: ``agent``'s, created in [``since``, ``until``),
        with one of ``outcomes`` (``in_progress``: none yet); None means any."""
        return await self._select_payments(
            sql.SQL(f"{LISTED} ORDER BY created_at DESC, id LIMIT %(limit)s"),
            listed_params(agent, since, until, outcomes) | {"limit": limit},
        )

    async def payment_totals(
        self,
        *,
        agent: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        outcomes: Sequence[str] | None = None,
    ) -> list[PaymentTotals]:
        """The payments :meth:`list_payments` would list (all of them), counted per agent,
        day (UTC) and currency."""
        rows = await self._db.rows(
            sql.SQL(
                "SELECT agent, (created_at AT TIME ZONE 'UTC')::date AS day, currency,"
                " count(*) AS payments,"
                " count(*) FILTER (WHERE outcome IS NOT NULL) AS finished,"
                " count(*) FILTER (WHERE outcome = 'approved') AS approved,"
                " coalesce(sum(amount_minor) FILTER (WHERE outcome = 'approved'), 0)"
                "   AS approved_minor"
                " FROM payments {} GROUP BY 1, 2, 3 ORDER BY 2 DESC, 1, 3"
            ).format(sql.SQL(LISTED)),
            listed_params(agent, since, until, outcomes),
        )
        return [PaymentTotals(**row) for row in rows]

    async def list_in_flight(self, asterisk_id: str | None = None) -> list[Payment]:
        """Payments without an outcome (for crash recovery), oldest first; with
        ``asterisk_id``, those taken on that Asterisk (and those from before payments recorded
        their Asterisk)."""
        return await self._select_payments(
            sql.SQL(f"WHERE state <> 'finished' {ON_ASTERISK} ORDER BY created_at, id"),
            {"asterisk_id": asterisk_id},
        )

    async def list_needing_reconciliation(self, asterisk_id: str | None = None) -> list[Payment]:
        """Unfinished payments whose gateway outcome must be asked for, oldest first (with
        ``asterisk_id`` as in :meth:`list_in_flight`)."""
        return await self._select_payments(
            sql.SQL(
                f"WHERE needs_reconciliation AND state <> 'finished' {ON_ASTERISK}"
                " ORDER BY created_at, id"
            ),
            {"asterisk_id": asterisk_id},
        )

    async def record_late_outcome(
        self,
        payment_id: UUID,
        outcome: Outcome,
        *,
        reason: str | None = None,
        gateway_reference: str | None = None,
    ) -> Payment | None:
        """An outcome for a payment that is already finished: another instance settled it
        (a standby took the Asterisk over while this one still ran the call) or an earlier
        attempt was stored and its answer lost.

        The same outcome again changes nothing. Money moved (approved) wins over a stored
        outcome that says it did not: the row is corrected and its CRM activity queued. Any
        other outcome leaves the row as it is. Either way a difference is audited
        (``payment.outcome_corrected`` / ``payment.outcome_late``), never dropped silently.
        Returns the corrected payment, or None when the row was left as it was.
        """
        if outcome is Outcome.PENDING:
            return None  # the stored outcome is already final: nothing is unknown any more
        reason = mask_digit_runs(reason)
        async with self._db.pool.connection() as conn, conn.transaction():
            cursor = conn.cursor(row_factory=dict_row)
            await cursor.execute("SELECT * FROM payments WHERE id = %s FOR UPDATE", (payment_id,))
            row = await cursor.fetchone()
            if row is None:
                raise PaymentNotFound(payment_id)
            stored = payment_from_row(row)
            if stored.outcome is outcome:
                return None
            corrected = None
            if outcome is Outcome.APPROVED:
                await cursor.execute(
                    "UPDATE payments SET state = 'finished', outcome = 'approved',"
                    " reason = %(reason)s,"
                    " gateway_reference = coalesce(%(gateway_reference)s, gateway_reference),"
                    " needs_reconciliation = false, updated_at = %(now)s,"
                    " finished_at = coalesce(finished_at, %(now)s) WHERE id = %(id)s RETURNING *",
                    {
                        "id": payment_id,
                        "reason": reason,
                        "gateway_reference": gateway_reference,
                        "now": self._clock(),
                    },
                )
                updated = await cursor.fetchone()
                assert updated is not None
                corrected = payment_from_row(updated)
                await self._queue_activity(conn, corrected, correction=True)
            await self._insert_audit(
                conn,
                AuditEntry(
                    actor="payivr",
                    action="payment.outcome_corrected" if corrected else "payment.outcome_late",
                    success=corrected is not None,
                    origin=Origin.system(),
                    resource=f"payment:{payment_id}",
                    payment_id=payment_id,
                    detail=f"{outcome.value} arrived after {_outcome_name(stored)}",
                ),
            )
        logger.warning(
            "late_outcome",
            payment_id=str(payment_id),
            outcome=outcome.value,
            stored=_outcome_name(stored),
            corrected=corrected is not None,
        )
        return corrected

    # ------------------------------------------------------------------ audit

    async def append_audit(
        self,
        *,
        actor: str,
        action: str,
        success: bool,
        origin: Origin,
        resource: str,
        payment_id: UUID | None = None,
        detail: str | None = None,
    ) -> AuditEvent:
        """Append one audit event (PCI DSS 10.2.2); the table refuses updates and deletes.

        ``action`` is a dotted lowercase verb such as ``payment.requested``.
        """
        async with self._db.pool.connection() as conn:
            return await self._insert_audit(
                conn, AuditEntry(actor, action, success, origin, resource, payment_id, detail)
            )

    async def _insert_audit(
        self, conn: psycopg.AsyncConnection[Any], entry: AuditEntry
    ) -> AuditEvent:
        refuse_card_data(
            {"actor": entry.actor, "detail": entry.detail},
            {"origin": entry.origin.value, "resource": entry.resource},
        )
        cursor = conn.cursor(row_factory=dict_row)
        try:
            await cursor.execute(AUDIT_INSERT + " RETURNING *", audit_values(self._clock(), entry))
        except psycopg.errors.CheckViolation as error:
            raise card_data_refused(error) from None
        row = await cursor.fetchone()
        assert row is not None
        return audit_from_row(row)

    async def list_audit(
        self,
        *,
        payment_id: UUID | None = None,
        actor: str | None = None,
        since: datetime | None = None,
        limit: int = 100,
    ) -> list[AuditEvent]:
        """Audit events, oldest first."""
        rows = await self._db.rows(
            "SELECT * FROM audit_events"
            " WHERE (%(payment_id)s::uuid IS NULL OR payment_id = %(payment_id)s)"
            " AND (%(actor)s::text IS NULL OR actor = %(actor)s)"
            " AND (%(since)s::timestamptz IS NULL OR occurred_at >= %(since)s)"
            " ORDER BY id LIMIT %(limit)s",
            {"payment_id": payment_id, "actor": actor, "since": since, "limit": limit},
        )
        return [audit_from_row(row) for row in rows]

    # ------------------------------------------------------------------ helpers

    async def _queue_activity(
        self, conn: psycopg.AsyncConnection[Any], payment: Payment, *, correction: bool = False
    ) -> None:
        """The finished payment's CRM activity, for each endpoint, in ``conn``'s transaction
        (``correction``: a second one, the outcome having changed to approved)."""
        activity = json.dumps(build_activity(payment), ensure_ascii=False)
        now = self._clock()
        async with conn.pipeline():  # the rows and their NOTIFYs in one round trip
            for endpoint in self._crm_endpoints:
                await conn.execute(
                    "INSERT INTO crm_outbox (id, endpoint, payment_id, activity, created_at,"
                    " next_attempt_at, correction) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                    (uuid.uuid4(), endpoint, payment.id, activity, now, now, correction),
                )
                await conn.execute("SELECT pg_notify(%s, %s)", (OUTBOX_CHANNEL, endpoint))

    async def _execute(self, query: str, params: dict[str, Any]) -> None:
        async with self._db.pool.connection() as conn:
            try:
                await conn.execute(query, params)
            except psycopg.errors.CheckViolation as error:
                raise card_data_refused(error) from None

    async def _update_unfinished(
        self, payment_id: UUID, assignments: sql.Composable, params: dict[str, Any]
    ) -> None:
        query = sql.SQL(
            "UPDATE payments SET {}, updated_at = %(now)s WHERE id = %(id)s AND state <> 'finished'"
        ).format(assignments)
        async with self._db.pool.connection() as conn:
            try:
                cursor = await conn.execute(
                    query, {**params, "id": payment_id, "now": self._clock()}
                )
            except psycopg.errors.CheckViolation as error:
                raise card_data_refused(error) from None
            if cursor.rowcount == 0:
                await self._raise_missing_or_finished(conn, payment_id)

    @staticmethod
    async def _raise_missing_or_finished(
        conn: psycopg.AsyncConnection[Any], payment_id: UUID
    ) -> None:
        cursor = await conn.execute("SELECT 1 FROM payments WHERE id = %s", (payment_id,))
        if await cursor.fetchone() is None:
            raise PaymentNotFound(payment_id)
        raise PaymentAlreadyFinished(payment_id)

    async def _select_payments(self, where: sql.SQL, params: dict[str, Any]) -> list[Payment]:
        rows = await self._db.rows(sql.SQL("SELECT * FROM payments {}").format(where), params)
        return [payment_from_row(row) for row in rows]


@dataclass(frozen=True)
class PaymentTotals:
    """How many payments one agent took on one day (UTC) in one currency, and how they went."""

    agent: str
    day: date
    currency: str
    payments: int
    finished: int
    approved: int
    approved_minor: int


def _outcome_name(payment: Payment) -> str:
    return payment.outcome.value if payment.outcome is not None else payment.state.value
