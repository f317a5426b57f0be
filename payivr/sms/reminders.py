"""Payment reminders: texted before a due date on a day and minute spread by
:mod:`payivr.core.reminders`, within sending hours, never to a number that opted out; one
may offer to pay by text (the customer replies PAY)."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import date, datetime
from uuid import UUID

import structlog

from payivr.core.reminders import (
    ScheduleRefused,
    choose_day,
    next_opening,
    open_days,
    send_time,
    within_hours,
    zone,
)
from payivr.sms.outbox import Outbox
from payivr.sms.requests import (
    DEFAULT_REMINDER_ITEM,
    ImportReport,
    ReminderExists,
    ReminderRequest,
    SmsContext,
    SmsRefused,
    parse_amount,
    valid_customer,
    valid_item,
    valid_phone,
)
from payivr.sms.store import (
    SCHEDULE_LOCK_KEY,
    Connection,
    MessageKind,
    Reminder,
    ReminderStatus,
)
from payivr.sms.text_payments import TextPayments
from payivr.store.models import Origin

logger = structlog.get_logger(__name__)


class Reminders:
    """Schedules reminders (one, or a CSV of them) and sends those that are due."""

    def __init__(self, ctx: SmsContext, outbox: Outbox, text_payments: TextPayments) -> None:
        self.ctx = ctx
        self.outbox = outbox
        self.text_payments = text_payments

    async def schedule(self, request: ReminderRequest, *, origin: Origin | None = None) -> Reminder:
        """Plan the reminder's send day and time; raises :class:`SmsRefused`
        (:class:`ReminderExists` when this customer already has one for the due date)."""
        phone = valid_phone(request.phone)
        customer = valid_customer(request.customer)
        item = valid_item(request.item)
        self.text_payments.check_amount(request.amount_minor, request.currency)
        policy = self.ctx.settings.reminders
        time_zone = request.time_zone or policy.time_zone
        try:
            tz = zone(time_zone)
        except ScheduleRefused as refused:
            raise SmsRefused(str(refused)) from None
        if await self.ctx.store.is_opted_out(phone):
            raise SmsRefused("this number has opted out of texts (it replied STOP)", conflict=True)
        now = self.ctx.clock()
        async with self.ctx.store.db.pool.connection() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEDULE_LOCK_KEY,))
            cursor = await conn.execute(
                "SELECT id FROM sms_reminders WHERE customer = %s AND due_date = %s",
                (customer, request.due_date),
            )
            existing = await cursor.fetchone()
            if existing is not None:
                found = await self.ctx.store.reminder(existing[0])
                assert found is not None
                raise ReminderExists(found)
            if request.send_now:
                when = next_opening(now, tz, policy)
                day = when.astimezone(tz).date()
                if day > request.due_date:
                    raise SmsRefused("no sending hours are left before the due date", conflict=True)
            else:
                days = open_days(request.due_date, now, tz, policy)
                try:
                    day = choose_day(
                        customer,
                        days,
                        await self.ctx.store.reminder_counts(conn, days),
                        policy.daily_cap,
                    )
                except ScheduleRefused as refused:
                    raise SmsRefused(str(refused), conflict=bool(days)) from None
                when = send_time(customer, day, now, tz, policy)
            reminder_id = uuid.uuid4()
            await conn.execute(
                "INSERT INTO sms_reminders (id, customer, phone, amount_minor, currency,"
                " item_name, due_date, time_zone, send_on, send_at, offer_pay_by_text, agent,"
                " created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    reminder_id,
                    customer,
                    phone,
                    request.amount_minor,
                    request.currency,
                    item,
                    request.due_date,
                    time_zone,
                    day,
                    when,
                    request.offer_pay_by_text,
                    request.agent,
                    now,
                ),
            )
            await self.ctx.store.audit(
                conn,
                now,
                actor=request.agent,
                action="reminder.scheduled",
                resource=f"reminder:{reminder_id}",
                origin=origin,
                detail=f"send on {day.isoformat()} for due {request.due_date.isoformat()}",
            )
        reminder = await self.ctx.store.reminder(reminder_id)
        assert reminder is not None
        return reminder

    async def import_csv(
        self, text: str, *, agent: str, currency: str, origin: Origin | None = None
    ) -> ImportReport:
        """Schedule a reminder per CSV row: ``customer,phone,amount,due_date`` and optional
        ``currency,item,time_zone,offer_pay_by_text`` columns (a header row names them)."""
        report = ImportReport()
        reader = csv.DictReader(io.StringIO(text))
        missing = {"customer", "phone", "amount", "due_date"} - set(reader.fieldnames or ())
        if missing:
            raise SmsRefused(f"the CSV header lacks {', '.join(sorted(missing))}")
        for row in reader:
            line = reader.line_num
            try:
                row_currency = (row.get("currency") or currency).strip().upper()
                try:
                    due = date.fromisoformat((row.get("due_date") or "").strip())
                except ValueError:
                    raise SmsRefused("due_date must be a date like 2025-07-01") from None
                request = ReminderRequest(
                    customer=row.get("customer") or "",
                    phone=row.get("phone") or "",
                    amount_minor=parse_amount(row.get("amount") or "", row_currency),
                    currency=row_currency,
                    due_date=due,
                    agent=agent,
                    item=(row.get("item") or "").strip() or DEFAULT_REMINDER_ITEM,
                    time_zone=(row.get("time_zone") or "").strip() or None,
                    offer_pay_by_text=(row.get("offer_pay_by_text") or "").strip().lower()
                    in ("1", "yes", "true", "y"),
                )
                report.scheduled.append(await self.schedule(request, origin=origin))
            except ReminderExists:
                report.already_scheduled += 1
            except SmsRefused as refused:
                report.refused.append((line, refused.message))
        return report

    async def send_due(self) -> int:
        """Send every reminder whose time has come (several workers share the work)."""
        sent = 0
        while True:
            now = self.ctx.clock()
            message_id = None
            policy = self.ctx.settings.reminders
            async with self.ctx.store.db.pool.connection() as conn, conn.transaction():
                reminder = await self.ctx.store.claim_due_reminder(conn, now)
                if reminder is None:
                    return sent
                tz = zone(reminder.time_zone)
                if await self.ctx.store.opted_out(conn, reminder.phone):
                    await self._not_sent(
                        conn, now, reminder.id, ReminderStatus.SUPPRESSED, "opted out"
                    )
                    continue
                if not within_hours(now, tz, policy):
                    opening = next_opening(now, tz, policy)
                    if opening.astimezone(tz).date() > reminder.due_date:
                        await self._not_sent(conn, now, reminder.id, ReminderStatus.MISSED)
                    else:
                        await conn.execute(
                            "UPDATE sms_reminders SET send_at = %s WHERE id = %s",
                            (opening, reminder.id),
                        )
                    continue
                card = None
                if reminder.offer_pay_by_text:
                    found = await self.text_payments.usable_card(
                        reminder.customer, reminder.phone, limited=False
                    )
                    card = found.masked_card if found else None
                body = self.ctx.settings.texts.reminder(
                    reminder.amount_minor,
                    reminder.currency,
                    reminder.item,
                    reminder.due_date,
                    card,
                )
                message_id = await self.ctx.store.queue(
                    conn,
                    now,
                    reminder.phone,
                    MessageKind.REMINDER,
                    body,
                    reminder_id=reminder.id,
                )
                await conn.execute(
                    "UPDATE sms_reminders SET status = 'sent', sent_at = %s, message_id = %s,"
                    " offer_pay_by_text = %s WHERE id = %s",
                    (now, message_id, card is not None, reminder.id),
                )
                await self.ctx.store.audit(
                    conn,
                    now,
                    actor="payivr",
                    action="reminder.sent",
                    resource=f"reminder:{reminder.id}",
                )
            sent += 1
            await self.outbox.send(message_id)

    async def _not_sent(
        self,
        conn: Connection,
        now: datetime,
        reminder_id: UUID,
        status: ReminderStatus,
        detail: str | None = None,
    ) -> None:
        """A reminder that will not go (suppressed, missed): its status, audited as a failed
        ``reminder.<status>``."""
        await conn.execute(
            "UPDATE sms_reminders SET status = %s WHERE id = %s", (status.value, reminder_id)
        )
        await self.ctx.store.audit(
            conn,
            now,
            actor="payivr",
            action=f"reminder.{status.value}",
            resource=f"reminder:{reminder_id}",
            success=False,
            detail=detail,
        )
