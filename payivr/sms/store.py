"""The SMS tables (migration 0006): messages, opt-outs, text payments, reminders, webhook ids.

Payments themselves (history, outcome, CRM outbox) stay in :class:`PaymentStore`; this
store keeps what is particular to texting, and writes an audit event with each change.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, LiteralString
from uuid import UUID

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from payivr.core.cards import Brand, MaskedCard
from payivr.store.database import Database
from payivr.store.models import AuditEntry, Origin
from payivr.store.payment_rows import AUDIT_INSERT, audit_values

Connection = psycopg.AsyncConnection[Any]


class TextPaymentState(enum.Enum):
    ASKED = "asked"  # the question is out; a YES charges
    CHARGING = "charging"  # YES came; the charge is with the gateway
    UNKNOWN = "unknown"  # the gateway's answer was lost: asked again by idempotency key
    PAID = "paid"
    DECLINED = "declined"  # by the card issuer or gateway
    REFUSED = "refused"  # the customer answered anything but YES, or opted out
    EXPIRED = "expired"  # no answer in time
    FAILED = "failed"  # gateway error, card removed: nothing charged
    UNDELIVERED = "undelivered"  # the question could not be sent

    @property
    def open(self) -> bool:
        return self in OPEN_STATES


OPEN_STATES = (TextPaymentState.ASKED, TextPaymentState.CHARGING, TextPaymentState.UNKNOWN)

MOVES: Mapping[TextPaymentState, tuple[TextPaymentState, ...]] = {
    # to: the states it may come from. Anything else is a reply or worker that lost a race.
    TextPaymentState.CHARGING: (TextPaymentState.ASKED,),  # a YES in time
    TextPaymentState.UNKNOWN: (TextPaymentState.CHARGING,),  # the gateway's answer was lost
    TextPaymentState.PAID: OPEN_STATES,
    TextPaymentState.DECLINED: OPEN_STATES,
    TextPaymentState.FAILED: OPEN_STATES,
    TextPaymentState.REFUSED: (TextPaymentState.ASKED,),  # not YES, or STOP
    TextPaymentState.EXPIRED: (TextPaymentState.ASKED,),
    TextPaymentState.UNDELIVERED: (TextPaymentState.ASKED,),
}
"""A text payment's transitions: the only moves :meth:`SmsStore.move_text_payment` makes."""


class MessageKind(enum.Enum):
    ASK = "ask"
    RECEIPT = "receipt"
    DECLINED = "declined"
    REFUSED = "refused"
    EXPIRED = "expired"
    FAILED = "failed"
    CONFIRMING = "confirming"
    REMINDER = "reminder"
    OPTED_OUT = "opted_out"
    OPTED_IN = "opted_in"
    HELP = "help"
    NO_PAYMENT = "no_payment"
    REPLY = "reply"  # inbound: whatever the customer sent


class MessageStatus(enum.Enum):
    QUEUED = "queued"
    SENT = "sent"
    DELIVERED = "delivered"
    FAILED = "failed"
    SUPPRESSED = "suppressed"  # the number opted out before it went
    RECEIVED = "received"  # inbound, not yet acted on
    PROCESSED = "processed"  # inbound, acted on


class ReminderStatus(enum.Enum):
    SCHEDULED = "scheduled"
    SENT = "sent"
    SUPPRESSED = "suppressed"  # the number opted out
    MISSED = "missed"  # no sending hours were left before the due date
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class SmsMessage:
    id: UUID
    direction: str
    phone: str
    kind: MessageKind
    body: str = field(repr=False)
    status: MessageStatus
    provider_message_id: str | None
    text_payment_id: UUID | None
    reminder_id: UUID | None
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None
    delivered_at: datetime | None


@dataclass(frozen=True)
class TextPayment:
    """A text payment with what its payment row says (amount, item, agent, card)."""

    id: UUID
    phone: str
    customer: str
    agent: str
    item: str
    amount_minor: int
    currency: str
    card: MaskedCard | None
    card_on_file_id: UUID | None
    reminder_id: UUID | None
    state: TextPaymentState
    expires_at: datetime
    gateway_reference: str | None
    reason: str | None
    late_reply_answered: bool
    created_at: datetime
    finished_at: datetime | None


@dataclass(frozen=True)
class Reminder:
    id: UUID
    customer: str
    phone: str
    amount_minor: int
    currency: str
    item: str
    due_date: date
    time_zone: str
    send_on: date
    send_at: datetime
    offer_pay_by_text: bool
    agent: str
    status: ReminderStatus
    message_id: UUID | None
    created_at: datetime
    sent_at: datetime | None


def _message(row: dict[str, Any]) -> SmsMessage:
    return SmsMessage(
        id=row["id"],
        direction=row["direction"],
        phone=row["phone"],
        kind=MessageKind(row["kind"]),
        body=row["body"],
        status=MessageStatus(row["status"]),
        provider_message_id=row["provider_message_id"],
        text_payment_id=row["text_payment_id"],
        reminder_id=row["reminder_id"],
        attempts=row["attempts"],
        next_attempt_at=row["next_attempt_at"],
        last_error=row["last_error"],
        created_at=row["created_at"],
        sent_at=row["sent_at"],
        delivered_at=row["delivered_at"],
    )


def _text_payment(row: dict[str, Any]) -> TextPayment:
    card = None
    if row["brand"] and row["last_four"]:
        card = MaskedCard(Brand(row["brand"]), row["last_four"])
    return TextPayment(
        id=row["payment_id"],
        phone=row["phone"],
        customer=row["customer"],
        agent=row["agent"],
        item=row["item_name"],
        amount_minor=row["amount_minor"],
        currency=row["currency"],
        card=card,
        card_on_file_id=row["card_on_file_id"],
        reminder_id=row["reminder_id"],
        state=TextPaymentState(row["state"]),
        expires_at=row["expires_at"],
        gateway_reference=row["tp_reference"],
        reason=row["tp_reason"],
        late_reply_answered=row["late_reply_answered"],
        created_at=row["tp_created_at"],
        finished_at=row["tp_finished_at"],
    )


def _reminder(row: dict[str, Any]) -> Reminder:
    return Reminder(
        id=row["id"],
        customer=row["customer"],
        phone=row["phone"],
        amount_minor=row["amount_minor"],
        currency=row["currency"],
        item=row["item_name"],
        due_date=row["due_date"],
        time_zone=row["time_zone"],
        send_on=row["send_on"],
        send_at=row["send_at"],
        offer_pay_by_text=row["offer_pay_by_text"],
        agent=row["agent"],
        status=ReminderStatus(row["status"]),
        message_id=row["message_id"],
        created_at=row["created_at"],
        sent_at=row["sent_at"],
    )


_TEXT_PAYMENT_SELECT = (
    "SELECT t.payment_id, t.phone, t.customer, t.card_on_file_id, t.reminder_id, t.state,"
    " t.expires_at, t.gateway_reference AS tp_reference, t.reason AS tp_reason,"
    " t.late_reply_answered, t.created_at AS tp_created_at, t.finished_at AS tp_finished_at,"
    " p.agent, p.item_name, p.amount_minor, p.currency, p.brand, p.last_four"
    " FROM text_payments t JOIN payments p ON p.id = t.payment_id "
)

# Advisory lock key serialising reminder scheduling, so daily caps hold across instances.
SCHEDULE_LOCK_KEY = 0x7061796976720006


class SmsStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    # ------------------------------------------------------------------ audit

    @staticmethod
    async def audit(
        conn: Connection,
        now: datetime,
        *,
        actor: str,
        action: str,
        resource: str,
        success: bool = True,
        origin: Origin | None = None,
        payment_id: UUID | None = None,
        detail: str | None = None,
    ) -> None:
        origin = origin or Origin.system("sms")
        entry = AuditEntry(actor, action, success, origin, resource, payment_id, detail)
        await conn.execute(AUDIT_INSERT, audit_values(now, entry))

    # ------------------------------------------------------------------ messages

    async def queue(
        self,
        conn: Connection,
        now: datetime,
        phone: str,
        kind: MessageKind,
        body: str,
        *,
        text_payment_id: UUID | None = None,
        reminder_id: UUID | None = None,
    ) -> UUID:
        """Add an outbound text, to be sent (now, or by the worker) with its id as key."""
        message_id = uuid.uuid4()
        await conn.execute(
            "INSERT INTO sms_messages (id, direction, phone, kind, body, status, text_payment_id,"
            " reminder_id, next_attempt_at, created_at)"
            " VALUES (%s, 'out', %s, %s, %s, 'queued', %s, %s, %s, %s)",
            (message_id, phone, kind.value, body, text_payment_id, reminder_id, now, now),
        )
        return message_id

    async def claim_queued(
        self, conn: Connection, now: datetime, message_id: UUID | None = None
    ) -> SmsMessage | None:
        """Lock one queued message that is due (this one, or the oldest); None if there is
        none free. Hold ``conn``'s transaction open while sending it."""
        cursor = conn.cursor(row_factory=dict_row)
        await cursor.execute(
            "SELECT * FROM sms_messages WHERE status = 'queued'"
            " AND (%(id)s::uuid IS NULL OR id = %(id)s)"
            " AND (%(id)s::uuid IS NOT NULL OR next_attempt_at <= %(now)s)"
            " ORDER BY next_attempt_at, seq LIMIT 1 FOR UPDATE SKIP LOCKED",
            {"id": message_id, "now": now},
        )
        row = await cursor.fetchone()
        return _message(row) if row else None

    @staticmethod
    async def set_status(
        conn: Connection,
        message_id: UUID,
        status: MessageStatus,
        *,
        now: datetime,
        provider_message_id: str | None = None,
        error: str | None = None,
        retry_at: datetime | None = None,
    ) -> None:
        await conn.execute(
            "UPDATE sms_messages SET status = %(status)s, attempts = attempts + %(attempt)s,"
            " provider_message_id = coalesce(%(provider_id)s, provider_message_id),"
            " last_error = %(error)s, next_attempt_at = %(retry_at)s,"
            " sent_at = CASE WHEN %(status)s = 'sent' THEN %(now)s ELSE sent_at END"
            " WHERE id = %(id)s",
            {
                "status": status.value,
                "attempt": 0 if status is MessageStatus.SUPPRESSED else 1,
                "provider_id": provider_message_id,
                "error": error,
                "retry_at": retry_at,
                "now": now,
                "id": message_id,
            },
        )

    async def record_inbound(
        self, now: datetime, provider_message_id: str, phone: str, body: str
    ) -> UUID | None:
        """Store a customer's text (digit runs removed by the caller); None if this
        provider message was stored before (a redelivery)."""
        message_id = uuid.uuid4()
        async with self.db.pool.connection() as conn, conn.transaction():
            cursor = await conn.execute(
                "INSERT INTO sms_messages (id, direction, phone, kind, body, status,"
                " provider_message_id, created_at) VALUES (%s, 'in', %s, 'reply', %s,"
                " 'received', %s, %s) ON CONFLICT (direction, provider_message_id) DO NOTHING",
                (message_id, phone, body, provider_message_id, now),
            )
            if cursor.rowcount == 0:
                return None
            await self.audit(
                conn,
                now,
                actor="customer",
                action="sms.received",
                resource=f"sms_message:{message_id}",
            )
        return message_id

    async def mark_processed(self, message_id: UUID, text_payment_id: UUID | None) -> None:
        async with self.db.pool.connection() as conn:
            await conn.execute(
                "UPDATE sms_messages SET status = 'processed',"
                " text_payment_id = coalesce(%s, text_payment_id) WHERE id = %s",
                (text_payment_id, message_id),
            )

    async def unprocessed_inbound(self, before: datetime) -> list[SmsMessage]:
        return await self._messages(
            "WHERE direction = 'in' AND status = 'received' AND created_at <= %s ORDER BY seq",
            (before,),
        )

    async def record_report(
        self, now: datetime, provider_message_id: str, status: MessageStatus, error: str | None
    ) -> SmsMessage | None:
        """A delivery report for one of payivr's texts; the message as it was, or None."""
        row = await self.db.row(
            "UPDATE sms_messages SET status = %(status)s,"
            " delivered_at = CASE WHEN %(status)s = 'delivered' THEN %(now)s"
            "                ELSE delivered_at END,"
            " last_error = coalesce(%(error)s, last_error)"
            " WHERE direction = 'out' AND provider_message_id = %(id)s"
            " AND status IN ('sent', 'delivered') RETURNING *",
            {"status": status.value, "now": now, "error": error, "id": provider_message_id},
        )
        return _message(row) if row else None

    async def messages_for(self, text_payment_id: UUID) -> list[SmsMessage]:
        return await self._messages("WHERE text_payment_id = %s ORDER BY seq", (text_payment_id,))

    async def messages_for_all(
        self, text_payment_ids: Sequence[UUID]
    ) -> dict[UUID, list[SmsMessage]]:
        """Each text payment's messages, oldest first (one query for a listing)."""
        found: dict[UUID, list[SmsMessage]] = {payment_id: [] for payment_id in text_payment_ids}
        for message in await self._messages(
            "WHERE text_payment_id = ANY(%s) ORDER BY seq", (list(text_payment_ids),)
        ):
            assert message.text_payment_id is not None
            found[message.text_payment_id].append(message)
        return found

    async def messages_to(self, phone: str, limit: int = 100) -> list[SmsMessage]:
        return await self._messages("WHERE phone = %s ORDER BY seq DESC LIMIT %s", (phone, limit))

    async def _messages(self, where: LiteralString, params: Sequence[Any]) -> list[SmsMessage]:
        rows = await self.db.rows(
            sql.SQL("SELECT * FROM sms_messages {}").format(sql.SQL(where)), params
        )
        return [_message(row) for row in rows]

    # ------------------------------------------------------------------ opt-outs

    @staticmethod
    async def opted_out(conn: Connection, phone: str) -> bool:
        cursor = await conn.execute("SELECT 1 FROM sms_opt_outs WHERE phone = %s", (phone,))
        return await cursor.fetchone() is not None

    async def is_opted_out(self, phone: str) -> bool:
        async with self.db.pool.connection() as conn:
            return await self.opted_out(conn, phone)

    async def opted_out_among(self, phones: Sequence[str]) -> set[str]:
        """Which of ``phones`` have opted out (replied STOP and not START since)."""
        async with self.db.pool.connection() as conn:
            cursor = await conn.execute(
                "SELECT phone FROM sms_opt_outs WHERE phone = ANY(%s)", (list(set(phones)),)
            )
            return {row[0] for row in await cursor.fetchall()}

    # ------------------------------------------------------------------ webhook ids

    async def take_webhook_id(self, webhook_id: str, now: datetime) -> bool:
        """False when this webhook-id was taken before (a replay)."""
        async with self.db.pool.connection() as conn:
            cursor = await conn.execute(
                "INSERT INTO sms_webhook_ids (webhook_id, received_at) VALUES (%s, %s)"
                " ON CONFLICT DO NOTHING",
                (webhook_id, now),
            )
            return cursor.rowcount == 1

    async def release_webhook_id(self, webhook_id: str) -> None:
        """Handling failed: let the provider's retry of this webhook in."""
        async with self.db.pool.connection() as conn:
            await conn.execute("DELETE FROM sms_webhook_ids WHERE webhook_id = %s", (webhook_id,))

    async def prune_webhook_ids(self, before: datetime) -> int:
        async with self.db.pool.connection() as conn:
            cursor = await conn.execute(
                "DELETE FROM sms_webhook_ids WHERE received_at < %s", (before,)
            )
            return cursor.rowcount

    # ------------------------------------------------------------------ text payments

    async def text_payment(self, payment_id: UUID) -> TextPayment | None:
        found = await self._text_payments("WHERE t.payment_id = %s", (payment_id,))
        return found[0] if found else None

    async def latest_text_payment(self, phone: str, since: datetime) -> TextPayment | None:
        found = await self._text_payments(
            "WHERE t.phone = %s AND t.created_at >= %s ORDER BY t.seq DESC LIMIT 1",
            (phone, since),
        )
        return found[0] if found else None

    async def list_text_payments(self, *, agent: str | None, limit: int) -> list[TextPayment]:
        return await self._text_payments(
            "WHERE (%s::text IS NULL OR p.agent = %s) ORDER BY t.seq DESC LIMIT %s",
            (agent, agent, limit),
        )

    async def text_payments_in(
        self, states: Sequence[TextPaymentState], updated_before: datetime
    ) -> list[TextPayment]:
        return await self._text_payments(
            "WHERE t.state = ANY(%s) AND t.updated_at <= %s ORDER BY t.seq",
            ([state.value for state in states], updated_before),
        )

    async def expired_requests(self, now: datetime) -> list[TextPayment]:
        """Questions still waiting for an answer after their expiry."""
        return await self._text_payments(
            "WHERE t.state = 'asked' AND t.expires_at <= %s ORDER BY t.seq", (now,)
        )

    async def unsettled_text_payments(self) -> list[TextPayment]:
        """Text payments whose own state is final but whose payment has no outcome yet
        (a crash between the two writes)."""
        return await self._text_payments(
            "WHERE t.state NOT IN ('asked', 'charging', 'unknown') AND p.state <> 'finished'"
            " ORDER BY t.seq",
            (),
        )

    async def _text_payments(
        self, where: LiteralString, params: Sequence[Any]
    ) -> list[TextPayment]:
        rows = await self.db.rows(
            sql.SQL(_TEXT_PAYMENT_SELECT + "{}").format(sql.SQL(where)), params
        )
        return [_text_payment(row) for row in rows]

    @staticmethod
    async def move_text_payment(
        conn: Connection,
        payment_id: UUID,
        now: datetime,
        *,
        to: TextPaymentState,
        reason: str | None = None,
        gateway_reference: str | None = None,
        unexpired: bool = False,
    ) -> bool:
        """Move the text payment to ``to`` if it is in a state :data:`MOVES` allows (and, with
        ``unexpired``, not past its expiry); False when another reply or worker got there
        first."""
        cursor = await conn.execute(
            "UPDATE text_payments SET state = %(to)s, updated_at = %(now)s,"
            " reason = coalesce(%(reason)s, reason),"
            " gateway_reference = coalesce(%(reference)s, gateway_reference),"
            " finished_at = CASE WHEN %(final)s THEN %(now)s ELSE NULL END"
            " WHERE payment_id = %(id)s AND state = ANY(%(from)s)"
            " AND (NOT %(unexpired)s OR expires_at > %(now)s)",
            {
                "to": to.value,
                "now": now,
                "reason": reason,
                "reference": gateway_reference,
                "final": not to.open,
                "id": payment_id,
                "from": [state.value for state in MOVES[to]],
                "unexpired": unexpired,
            },
        )
        return cursor.rowcount == 1

    # ------------------------------------------------------------------ reminders

    async def reminder(self, reminder_id: UUID) -> Reminder | None:
        found = await self._reminders("WHERE id = %s", (reminder_id,))
        return found[0] if found else None

    async def list_reminders(self, *, agent: str | None, limit: int) -> list[Reminder]:
        return await self._reminders(
            "WHERE (%s::text IS NULL OR agent = %s) ORDER BY created_at DESC LIMIT %s",
            (agent, agent, limit),
        )

    async def reminder_counts(self, conn: Connection, days: Sequence[date]) -> dict[date, int]:
        cursor = await conn.execute(
            "SELECT send_on, count(*) FROM sms_reminders WHERE send_on = ANY(%s)"
            " AND status <> 'cancelled' GROUP BY send_on",
            (list(days),),
        )
        return {row[0]: int(row[1]) for row in await cursor.fetchall()}

    async def latest_pay_offer(self, phone: str, sent_since: datetime) -> Reminder | None:
        """The newest reminder sent to ``phone`` that offered PAY and has no text payment."""
        found = await self._reminders(
            "WHERE phone = %s AND status = 'sent' AND offer_pay_by_text AND sent_at >= %s"
            " AND NOT EXISTS (SELECT 1 FROM text_payments t WHERE t.reminder_id = sms_reminders.id)"
            " ORDER BY sent_at DESC LIMIT 1",
            (phone, sent_since),
        )
        return found[0] if found else None

    async def claim_due_reminder(self, conn: Connection, now: datetime) -> Reminder | None:
        cursor = conn.cursor(row_factory=dict_row)
        await cursor.execute(
            "SELECT * FROM sms_reminders WHERE status = 'scheduled' AND send_at <= %s"
            " ORDER BY send_at LIMIT 1 FOR UPDATE SKIP LOCKED",
            (now,),
        )
        row = await cursor.fetchone()
        return _reminder(row) if row else None

    async def _reminders(self, where: LiteralString, params: Sequence[Any]) -> list[Reminder]:
        rows = await self.db.rows(
            sql.SQL("SELECT * FROM sms_reminders {}").format(sql.SQL(where)), params
        )
        return [_reminder(row) for row in rows]
