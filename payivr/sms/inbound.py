"""What comes in from the provider: a customer's text (YES, anything else, STOP, START,
HELP, PAY after a reminder) and delivery reports. Every text is stored (digit runs removed)
before it is acted on, so a crash in between is finished by :meth:`Inbound.process_left_replies`.
STOP (and the other opt-out words) stops every further text to the number until START.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from uuid import UUID

import psycopg
import structlog

from payivr.core.redact import redact_card_data
from payivr.sms.outbox import Outbox
from payivr.sms.provider import DeliveryReport, DeliveryStatus, InboundMessage, ProviderEvent
from payivr.sms.replies import ReplyKind, classify, stop_keyword
from payivr.sms.requests import (
    SmsContext,
    SmsRefused,
    TextPaymentRequest,
    WebhookReplayed,
    redacted_reason,
)
from payivr.sms.store import MessageKind, MessageStatus, TextPaymentState
from payivr.sms.text_payments import TextPayments
from payivr.store.models import Origin

logger = structlog.get_logger(__name__)


class Inbound:
    """Acts on the provider's events: replies and delivery reports."""

    def __init__(self, ctx: SmsContext, outbox: Outbox, text_payments: TextPayments) -> None:
        self.ctx = ctx
        self.outbox = outbox
        self.text_payments = text_payments

    async def handle_event(self, event: ProviderEvent) -> None:
        """Take one event from the provider (an :data:`EventHandler` for the simulator)."""
        if isinstance(event, InboundMessage):
            await self.receive(event)
        else:
            await self.delivery_report(event)

    async def receive_webhook(self, headers: Mapping[str, str], body: bytes) -> None:
        """A signed webhook from the provider. Raises InvalidSignature or BadWebhook (the
        provider broke it), :class:`WebhookReplayed` for an id seen before."""
        if self.ctx.verifier is None:
            raise RuntimeError("no webhook secret is configured")
        webhook_id, event = self.ctx.verifier.open(headers, body)
        if not await self.ctx.store.take_webhook_id(webhook_id, self.ctx.clock()):
            logger.warning("sms_webhook_replayed")
            raise WebhookReplayed(webhook_id)
        try:
            await self.handle_event(event)
        except BaseException:
            await self.ctx.store.release_webhook_id(webhook_id)
            raise

    async def receive(self, message: InboundMessage) -> None:
        """A customer's text: stored (digit runs removed), audited, then acted on."""
        now = self.ctx.clock()
        stored_id = await self.ctx.store.record_inbound(
            now, message.provider_message_id, message.from_number, redact_card_data(message.body)
        )
        if stored_id is None:
            logger.info("sms_inbound_duplicate")
            return
        text_payment_id = await self._act_on(message.from_number, message.body)
        await self.ctx.store.mark_processed(stored_id, text_payment_id)

    async def _act_on(self, phone: str, body: str) -> UUID | None:
        reply = classify(body)
        logger.info("sms_reply", reply=reply.value)
        now = self.ctx.clock()
        if reply is ReplyKind.STOP:
            await self._opt_out(phone, stop_keyword(body))
            waiting = await self.ctx.store.latest_text_payment(
                phone, now - self.ctx.settings.request_ttl
            )
            if waiting is not None and waiting.state is TextPaymentState.ASKED:
                await self.text_payments.finish(
                    waiting,
                    TextPaymentState.REFUSED,
                    reason="the customer opted out of texts",
                )
                return waiting.id
            return None
        if reply is ReplyKind.START:
            await self._opt_in(phone)
            return None
        if reply is ReplyKind.HELP:
            await self.outbox.say(phone, MessageKind.HELP, self.ctx.settings.texts.help())
            return None
        if await self.ctx.store.is_opted_out(phone):
            return None
        payment = await self.ctx.store.latest_text_payment(
            phone, now - self.ctx.settings.late_reply_window
        )
        if payment is not None and payment.state is TextPaymentState.ASKED:
            if payment.expires_at > now:
                if reply is ReplyKind.YES:
                    await self.text_payments.charge(payment)
                else:
                    await self.text_payments.finish(
                        payment,
                        TextPaymentState.REFUSED,
                        reason="the customer did not answer YES",
                        text=(MessageKind.REFUSED, self.ctx.settings.texts.refused()),
                    )
                return payment.id
            await self.text_payments.expire(payment)
            payment = await self.ctx.store.text_payment(payment.id)
        if payment is not None and payment.state is TextPaymentState.EXPIRED:
            if not payment.late_reply_answered:
                await self.text_payments.answer_late_reply(payment)
            return payment.id
        if reply is ReplyKind.PAY and (payment is None or not payment.state.open):
            return await self._pay_from_reminder(phone)
        return payment.id if payment is not None else None

    async def _pay_from_reminder(self, phone: str) -> UUID | None:
        reminder = await self.ctx.store.latest_pay_offer(
            phone, self.ctx.clock() - self.ctx.settings.pay_offer_window
        )
        if reminder is None:
            await self.outbox.say(
                phone, MessageKind.NO_PAYMENT, self.ctx.settings.texts.no_payment()
            )
            return None
        request = TextPaymentRequest(
            reminder.customer,
            phone,
            reminder.amount_minor,
            reminder.currency,
            reminder.item,
            reminder.agent,
        )
        try:
            payment = await self.text_payments.request(
                request, origin=Origin.system("sms"), reminder_id=reminder.id
            )
        except (SmsRefused, psycopg.errors.UniqueViolation) as refused:
            logger.info("pay_from_reminder_refused", reason=str(refused))
            await self.outbox.say(
                phone, MessageKind.NO_PAYMENT, self.ctx.settings.texts.no_payment()
            )
            return None
        return payment.id

    async def delivery_report(self, report: DeliveryReport) -> None:
        status = {
            DeliveryStatus.SENT: MessageStatus.SENT,
            DeliveryStatus.DELIVERED: MessageStatus.DELIVERED,
            DeliveryStatus.FAILED: MessageStatus.FAILED,
        }[report.status]
        message = await self.ctx.store.record_report(
            self.ctx.clock(), report.provider_message_id, status, redacted_reason(report.error)
        )
        if message is None:
            return
        logger.info("sms_delivery_report", message_id=str(message.id), status=status.value)
        if status is MessageStatus.FAILED and message.kind is MessageKind.ASK:
            await self.text_payments.undelivered(message.text_payment_id)

    async def _opt_out(self, phone: str, keyword: str) -> None:
        now = self.ctx.clock()
        async with self.ctx.store.db.pool.connection() as conn, conn.transaction():
            cursor = await conn.execute(
                "INSERT INTO sms_opt_outs (phone, keyword, opted_out_at) VALUES (%s, %s, %s)"
                " ON CONFLICT (phone) DO NOTHING",
                (phone, keyword, now),
            )
            message_id = None
            if cursor.rowcount == 1:
                await self.ctx.store.audit(
                    conn,
                    now,
                    actor="customer",
                    action="sms.opted_out",
                    resource="sms_opt_out",
                    detail=keyword,
                )
                message_id = await self.ctx.store.queue(
                    conn, now, phone, MessageKind.OPTED_OUT, self.ctx.settings.texts.opted_out()
                )
        if message_id is not None:
            logger.info("sms_opted_out", keyword=keyword)
            await self.outbox.send(message_id)

    async def _opt_in(self, phone: str) -> None:
        now = self.ctx.clock()
        async with self.ctx.store.db.pool.connection() as conn, conn.transaction():
            cursor = await conn.execute("DELETE FROM sms_opt_outs WHERE phone = %s", (phone,))
            message_id = None
            if cursor.rowcount == 1:
                await self.ctx.store.audit(
                    conn, now, actor="customer", action="sms.opted_in", resource="sms_opt_out"
                )
                message_id = await self.ctx.store.queue(
                    conn, now, phone, MessageKind.OPTED_IN, self.ctx.settings.texts.opted_in()
                )
        if message_id is not None:
            logger.info("sms_opted_in")
            await self.outbox.send(message_id)

    async def process_left_replies(self) -> int:
        """Replies stored but not acted on (a crash in between): act on them now."""
        done = 0
        for message in await self.ctx.store.unprocessed_inbound(
            self.ctx.clock() - timedelta(minutes=1)
        ):
            # The stored body has digit runs removed; keywords and YES survive that.
            text_payment_id = await self._act_on(message.phone, message.body)
            await self.ctx.store.mark_processed(message.id, text_payment_id)
            done += 1
        return done
