"""Pay by text: an agent asks for an amount; payivr finds the customer's card on file and
texts "Pay $137.42 for <item> with your Visa ending 4242? Reply YES...". A YES moves the
request from *asked* to *charging* in one conditional UPDATE (the moves are
:data:`payivr.sms.store.MOVES`), so however many YES texts (or redelivered webhooks) arrive,
one charge goes to the gateway, keyed by the payment id stored before it. The outcome
becomes the payment's outcome (history, audit, CRM outbox) and a receipt or decline text
follows. Anything but YES declines; a reply after the request expired is answered politely
and charges nothing.
"""

from __future__ import annotations

import contextlib
from datetime import timedelta
from uuid import UUID

import psycopg
import structlog

from payivr.core.amounts import amount_problem
from payivr.core.cards import MaskedCard
from payivr.core.events import Outcome, Step, StepStatus
from payivr.core.request import EntryKind
from payivr.gateway.interface import (
    NO_RECORD_REASON,
    Approved,
    Declined,
    Error,
    RequestNotFound,
    StatusResult,
    Unknown,
)
from payivr.sms.outbox import Outbox
from payivr.sms.requests import (
    TEXT_CALL_ID,
    CardLookupsExhausted,
    SmsContext,
    SmsRefused,
    TextPaymentRequest,
    redacted_reason,
    valid_customer,
    valid_item,
    valid_phone,
)
from payivr.sms.store import MessageKind, TextPayment, TextPaymentState
from payivr.store.cards_on_file import CardOnFile, CardOnFileNotFound
from payivr.store.errors import PaymentAlreadyFinished
from payivr.store.models import NewPayment, Origin

logger = structlog.get_logger(__name__)

OUTCOMES: dict[TextPaymentState, Outcome] = {
    TextPaymentState.PAID: Outcome.APPROVED,
    TextPaymentState.DECLINED: Outcome.DECLINED,
    TextPaymentState.REFUSED: Outcome.DECLINED_BY_CALLER,
    TextPaymentState.EXPIRED: Outcome.TIMED_OUT,
    TextPaymentState.FAILED: Outcome.GATEWAY_ERROR,
    TextPaymentState.UNDELIVERED: Outcome.CANCELLED,
}
"""The payment's outcome for each final state of its text payment."""


class TextPayments:
    """Asks, charges once on YES, settles the gateway's answer, expires and reconciles."""

    def __init__(self, ctx: SmsContext, outbox: Outbox) -> None:
        self.ctx = ctx
        self.outbox = outbox

    async def request(
        self,
        request: TextPaymentRequest,
        *,
        origin: Origin | None = None,
        reminder_id: UUID | None = None,
    ) -> TextPayment:
        """Text the customer the question; raises :class:`SmsRefused` (no text sent)."""
        phone = valid_phone(request.phone)
        customer = valid_customer(request.customer)
        item = valid_item(request.item)
        self.check_amount(request.amount_minor, request.currency)
        if await self.ctx.store.is_opted_out(phone):
            raise SmsRefused("this number has opted out of texts (it replied STOP)", conflict=True)
        card = await self.usable_card(customer, phone, actor=request.agent, origin=origin)
        if card is None:
            raise SmsRefused(
                "there is no usable card on file for this customer; take the payment on a"
                " call and offer to keep the card",
                conflict=True,
            )
        await self.expire_requests(phone)
        waiting = await self.ctx.store.latest_text_payment(
            phone, self.ctx.clock() - self.ctx.settings.request_ttl
        )
        if waiting is not None and waiting.state is TextPaymentState.ASKED:
            raise SmsRefused(
                "a text payment is already waiting for this number's answer", conflict=True
            )
        payment_id = await self.ctx.payments.create_payment(
            NewPayment(
                call_id=TEXT_CALL_ID,
                agent=request.agent,
                item_name=item,
                amount_minor=request.amount_minor,
                currency=request.currency,
                entry_kind=EntryKind.TEXT,
                caller_number=phone,
                crm_record_id=customer,
            )
        )
        await self.ctx.payments.record_card(
            payment_id, brand=card.brand.value, last_four=card.last_four
        )
        now = self.ctx.clock()
        body = self.ctx.settings.texts.ask(
            request.amount_minor, request.currency, item, card.masked_card
        )
        try:
            async with self.ctx.store.db.pool.connection() as conn, conn.transaction():
                await conn.execute(
                    "UPDATE payments SET step_card_number = 'skipped', step_expiry = 'skipped',"
                    " step_security_code = 'skipped', step_postal_code = 'skipped'"
                    " WHERE id = %s",
                    (payment_id,),
                )
                await conn.execute(
                    "INSERT INTO text_payments (payment_id, phone, customer, card_on_file_id,"
                    " reminder_id, state, expires_at, created_at, updated_at)"
                    " VALUES (%s, %s, %s, %s, %s, 'asked', %s, %s, %s)",
                    (
                        payment_id,
                        phone,
                        customer,
                        card.id,
                        reminder_id,
                        now + self.ctx.settings.request_ttl,
                        now,
                        now,
                    ),
                )
                message_id = await self.ctx.store.queue(
                    conn, now, phone, MessageKind.ASK, body, text_payment_id=payment_id
                )
                await self.ctx.store.audit(
                    conn,
                    now,
                    actor=request.agent,
                    action="text_payment.requested",
                    resource=f"text_payment:{payment_id}",
                    origin=origin,
                    payment_id=payment_id,
                    detail=f"{card.masked_card}",
                )
        except psycopg.errors.UniqueViolation:
            await self.ctx.payments.record_outcome(
                payment_id,
                Outcome.CANCELLED,
                reason="another text payment was already waiting for this number's answer",
            )
            raise SmsRefused(
                "a text payment is already waiting for this number's answer", conflict=True
            ) from None
        logger.info(
            "text_payment_requested", payment_id=str(payment_id), card=str(card.masked_card)
        )
        await self.outbox.send(message_id)
        found = await self.ctx.store.text_payment(payment_id)
        assert found is not None
        return found

    def check_amount(self, amount_minor: int, currency: str) -> None:
        problem = amount_problem(amount_minor, currency, self.ctx.settings.max_amount_minor)
        if problem is not None:
            raise SmsRefused(problem)

    async def card_for(
        self, customer: str, phone: str, *, actor: str, origin: Origin | None = None
    ) -> MaskedCard | None:
        """The card a text payment for this customer and mobile would charge (brand and last
        four), or None; raises :class:`SmsRefused` for a malformed customer or phone number
        and :class:`CardLookupsExhausted` for an agent probing."""
        card = await self.usable_card(
            valid_customer(customer), valid_phone(phone), actor=actor, origin=origin
        )
        return card.masked_card if card else None

    async def usable_card(
        self,
        customer: str,
        phone: str,
        *,
        actor: str = "payivr",
        origin: Origin | None = None,
        limited: bool = True,
    ) -> CardOnFile | None:
        """The newest unexpired card kept for this customer *with* this mobile (both)."""
        now = self.ctx.clock()
        if limited:
            since = now - self.ctx.settings.card_lookup_window
            misses = await self.ctx.cards.lookups_finding_nothing(actor, since)
            if misses >= self.ctx.settings.card_lookup_misses:
                raise CardLookupsExhausted(
                    f"{misses} card-on-file lookups found nothing in the last"
                    f" {self.ctx.settings.card_lookup_window}; try again later"
                )
        cards = await self.ctx.cards.bound_to(customer, phone, actor=actor, origin=origin)
        return next((card for card in cards if not card.expired(now.date())), None)

    async def charge(self, payment: TextPayment) -> None:
        now = self.ctx.clock()
        async with self.ctx.store.db.pool.connection() as conn, conn.transaction():
            confirmed = await self.ctx.store.move_text_payment(
                conn,
                payment.id,
                now,
                to=TextPaymentState.CHARGING,
                unexpired=True,
            )
            if confirmed:
                await self.ctx.store.audit(
                    conn,
                    now,
                    actor="customer",
                    action="text_payment.confirmed",
                    resource=f"text_payment:{payment.id}",
                    payment_id=payment.id,
                )
        if not confirmed:
            logger.info("text_payment_yes_ignored", payment_id=str(payment.id))
            return
        await self.ctx.payments.update_step(payment.id, Step.AMOUNT, StepStatus.DONE)
        await self.ctx.payments.mark_authorizing(payment.id)
        card = None
        if payment.card_on_file_id is not None:
            try:
                card = await self.ctx.cards.get(payment.card_on_file_id)
            except CardOnFileNotFound:
                card = None
        if card is None:
            await self._settle(payment, Error("the card on file was removed", retryable=False))
            return
        try:
            result: StatusResult = await self.ctx.gateway.sale_with_token(
                card.token, payment.amount_minor, payment.currency, str(payment.id)
            )
        except Exception:  # whatever happened, the charge may have gone: ask, never re-charge
            logger.exception("text_payment_charge_failed", payment_id=str(payment.id))
            result = Unknown()
        await self._settle(payment, result)

    async def _settle(self, payment: TextPayment, result: StatusResult) -> None:
        """Turn the gateway's answer into the payment's outcome and the customer's text."""
        texts = self.ctx.settings.texts
        match result:
            case Approved(reference=reference):
                await self.finish(
                    payment,
                    TextPaymentState.PAID,
                    reference=reference,
                    text=(
                        MessageKind.RECEIPT,
                        texts.receipt(
                            payment.amount_minor, payment.currency, payment.item, reference
                        ),
                    ),
                )
            case Declined(reason=reason):
                await self.finish(
                    payment,
                    TextPaymentState.DECLINED,
                    reason=reason,
                    text=(MessageKind.DECLINED, texts.declined(payment.card)),
                )
            case Error(reason=reason):
                await self.finish(
                    payment,
                    TextPaymentState.FAILED,
                    reason=reason,
                    text=(MessageKind.FAILED, texts.failed()),
                )
            case RequestNotFound():
                await self.finish(
                    payment,
                    TextPaymentState.FAILED,
                    reason=NO_RECORD_REASON,
                    text=(MessageKind.FAILED, texts.failed()),
                )
            case Unknown(reason=reason):
                now = self.ctx.clock()
                async with self.ctx.store.db.pool.connection() as conn, conn.transaction():
                    moved = await self.ctx.store.move_text_payment(
                        conn,
                        payment.id,
                        now,
                        to=TextPaymentState.UNKNOWN,
                        reason=redacted_reason(reason),
                    )
                    message_id = None
                    if moved:
                        message_id = await self.ctx.store.queue(
                            conn,
                            now,
                            payment.phone,
                            MessageKind.CONFIRMING,
                            texts.confirming(),
                            text_payment_id=payment.id,
                        )
                if moved:
                    await self.ctx.payments.mark_needs_reconciliation(payment.id, reason)
                    logger.warning("text_payment_outcome_unknown", payment_id=str(payment.id))
                if message_id is not None:
                    await self.outbox.send(message_id)

    async def finish(
        self,
        payment: TextPayment,
        state: TextPaymentState,
        *,
        reason: str | None = None,
        reference: str | None = None,
        text: tuple[MessageKind, str] | None = None,
    ) -> bool:
        """Final state, its text (same transaction), then the payment's outcome."""
        now = self.ctx.clock()
        reason = redacted_reason(reason)
        message_id = None
        async with self.ctx.store.db.pool.connection() as conn, conn.transaction():
            moved = await self.ctx.store.move_text_payment(
                conn,
                payment.id,
                now,
                to=state,
                reason=reason,
                gateway_reference=reference,
            )
            if not moved:
                return False
            if text is not None:
                message_id = await self.ctx.store.queue(
                    conn, now, payment.phone, text[0], text[1], text_payment_id=payment.id
                )
            await self.ctx.store.audit(
                conn,
                now,
                actor="payivr",
                action=f"text_payment.{state.value}",
                resource=f"text_payment:{payment.id}",
                success=state is TextPaymentState.PAID,
                payment_id=payment.id,
                detail=reason,
            )
        await self._record_outcome(payment.id, state, reason, reference)
        logger.info("text_payment_finished", payment_id=str(payment.id), state=state.value)
        if message_id is not None:
            await self.outbox.send(message_id)
        return True

    async def _record_outcome(
        self, payment_id: UUID, state: TextPaymentState, reason: str | None, reference: str | None
    ) -> None:
        with contextlib.suppress(PaymentAlreadyFinished):
            await self.ctx.payments.record_outcome(
                payment_id, OUTCOMES[state], reason=reason, gateway_reference=reference
            )

    async def undelivered(self, payment_id: UUID | None) -> None:
        payment = await self.ctx.store.text_payment(payment_id) if payment_id else None
        if payment is not None:
            await self.finish(
                payment,
                TextPaymentState.UNDELIVERED,
                reason="the text could not be delivered to the customer",
            )

    async def answer_late_reply(self, payment: TextPayment) -> None:
        now = self.ctx.clock()
        async with self.ctx.store.db.pool.connection() as conn, conn.transaction():
            cursor = await conn.execute(
                "UPDATE text_payments SET late_reply_answered = true, updated_at = %s"
                " WHERE payment_id = %s AND NOT late_reply_answered",
                (now, payment.id),
            )
            message_id = None
            if cursor.rowcount == 1:
                message_id = await self.ctx.store.queue(
                    conn,
                    now,
                    payment.phone,
                    MessageKind.EXPIRED,
                    self.ctx.settings.texts.expired(),
                    text_payment_id=payment.id,
                )
        if message_id is not None:
            await self.outbox.send(message_id)

    async def expire_requests(self, phone: str | None = None) -> int:
        """Requests past their expiry without an answer end as timed out (no text)."""
        now = self.ctx.clock()
        expired = 0
        for payment in await self.ctx.store.expired_requests(now):
            if phone is None or payment.phone == phone:
                expired += await self.expire(payment)
        return expired

    async def expire(self, payment: TextPayment) -> bool:
        if payment.expires_at > self.ctx.clock():
            return False
        return await self.finish(
            payment,
            TextPaymentState.EXPIRED,
            reason="the customer did not answer in time",
        )

    async def reconcile(self) -> int:
        """Charges whose answer was lost (or that a crash interrupted): ask the gateway by
        idempotency key and finish them; never charge again."""
        before = self.ctx.clock() - self.ctx.settings.reconcile_after
        settled = 0
        for payment in await self.ctx.store.text_payments_in(
            [TextPaymentState.CHARGING, TextPaymentState.UNKNOWN], before
        ):
            result = await self.ctx.gateway.status(str(payment.id))
            if isinstance(result, Unknown) or (isinstance(result, Error) and result.retryable):
                async with self.ctx.store.db.pool.connection() as conn:
                    await conn.execute(
                        "UPDATE text_payments SET updated_at = %s WHERE payment_id = %s",
                        (self.ctx.clock(), payment.id),
                    )
                continue
            await self._settle(payment, result)
            settled += 1
        return settled

    async def repair(self) -> int:
        """Finish what a crash left half done: final text payments without a payment
        outcome, and text payment rows never written after their payment was created."""
        repaired = 0
        for payment in await self.ctx.store.unsettled_text_payments():
            await self._record_outcome(
                payment.id, payment.state, payment.reason, payment.gateway_reference
            )
            repaired += 1
        async with self.ctx.store.db.pool.connection() as conn:
            cursor = await conn.execute(
                "SELECT p.id FROM payments p WHERE p.entry_kind = 'text' AND p.state <> 'finished'"
                " AND p.created_at < %s AND NOT EXISTS"
                " (SELECT 1 FROM text_payments t WHERE t.payment_id = p.id)",
                (self.ctx.clock() - timedelta(minutes=5),),
            )
            orphans = [row[0] for row in await cursor.fetchall()]
        for payment_id in orphans:
            try:
                await self.ctx.payments.record_outcome(
                    payment_id, Outcome.CANCELLED, reason="the request was never texted"
                )
            except PaymentAlreadyFinished:
                continue
            repaired += 1
        return repaired
