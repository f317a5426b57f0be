"""Pay by text and payment reminders: the SMS conversation with the customer.

Pay by text (seed 001): an agent asks for an amount; payivr finds the customer's card on
file and texts "Pay $137.42 for <item> with your Visa ending 4242? Reply YES...". A YES
moves the request from *asked* to *charging* in one conditional UPDATE, so however many
YES texts (or redelivered webhooks) arrive, one charge goes to the gateway, keyed by the
payment id stored before it. The outcome becomes the payment's outcome (history, audit,
CRM outbox) and a receipt or decline text follows. Anything but YES declines; a reply
after the request expired is answered politely and charges nothing.

Reminders are texted before a due date on a day spread by :mod:`payivr.core.reminders`.
STOP (and the other opt-out words) stops every further text to the number until START.

Every text in and out is an ``sms_messages`` row; outbound ones are queued in the same
transaction as the state change that calls for them and sent with their id as the
provider's idempotency key, so a crash never loses or doubles a text (the worker sends
what is left queued).
"""

from __future__ import annotations

import contextlib
import csv
import io
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from uuid import UUID

import psycopg
import structlog

from payivr.core.amounts import amount_problem
from payivr.core.cards import MaskedCard
from payivr.core.events import Outcome, Step, StepStatus
from payivr.core.prompts import CURRENCIES
from payivr.core.redact import has_card_data, has_digit_run, has_pan, redact_card_data
from payivr.core.reminders import (
    ReminderPolicy,
    ScheduleRefused,
    choose_day,
    next_opening,
    open_days,
    send_time,
    within_hours,
    zone,
)
from payivr.core.request import EntryKind
from payivr.gateway.interface import (
    NO_RECORD_REASON,
    Approved,
    Declined,
    Error,
    Gateway,
    NotFound,
    StatusResult,
    Unknown,
)
from payivr.sms.http import WebhookVerifier
from payivr.sms.phone import InvalidPhoneNumber, parse_e164
from payivr.sms.provider import (
    DeliveryReport,
    DeliveryStatus,
    InboundMessage,
    ProviderEvent,
    SendFailed,
    SmsProvider,
)
from payivr.sms.replies import Reply, Texts, classify, stop_keyword
from payivr.sms.store import (
    SCHEDULE_LOCK_KEY,
    Connection,
    MessageKind,
    MessageStatus,
    Reminder,
    ReminderStatus,
    SmsStore,
    TextPayment,
    TextPaymentState,
)
from payivr.store.cards_on_file import CardOnFile, CardOnFileNotFound, CardsOnFile
from payivr.store.errors import PaymentAlreadyFinished
from payivr.store.models import (
    Clock,
    NewPayment,
    Origin,
    utc_now,
)
from payivr.store.payments import PaymentStore

logger = structlog.get_logger(__name__)

TEXT_CALL_ID = "text"
"""The payments row's call id for a text payment: there is no call."""
MAX_ITEM_LENGTH = 200
MAX_CUSTOMER_LENGTH = 200
DEFAULT_REMINDER_ITEM = "your bill"
_AMOUNT = re.compile(r"^[0-9]{1,12}(\.[0-9]{1,3})?$")

_OUTCOMES: dict[TextPaymentState, Outcome] = {
    TextPaymentState.PAID: Outcome.APPROVED,
    TextPaymentState.DECLINED: Outcome.DECLINED,
    TextPaymentState.REFUSED: Outcome.DECLINED_BY_CALLER,
    TextPaymentState.EXPIRED: Outcome.TIMED_OUT,
    TextPaymentState.FAILED: Outcome.GATEWAY_ERROR,
    TextPaymentState.UNDELIVERED: Outcome.CANCELLED,
}
_OPEN = (TextPaymentState.ASKED, TextPaymentState.CHARGING, TextPaymentState.UNKNOWN)
# Texts that still go to a number that opted out: the confirmation of the opt-out itself.
_ALWAYS_SENT = frozenset({MessageKind.OPTED_OUT, MessageKind.OPTED_IN, MessageKind.HELP})


class SmsRefused(Exception):
    """A request payivr will not act on; ``message`` says why, for a person.
    ``conflict``: the input is fine but the customer's situation does not allow it (409)."""

    def __init__(self, message: str, *, conflict: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.conflict = conflict


class CardLookupsExhausted(SmsRefused):
    """Too many card-on-file lookups by this agent found nothing lately (429)."""


class ReminderExists(SmsRefused):
    def __init__(self, reminder: Reminder) -> None:
        super().__init__(
            "a reminder for this customer and due date is already scheduled", conflict=True
        )
        self.reminder = reminder


class WebhookReplayed(Exception):
    """A signed webhook whose id was already taken (a replay, or a duplicate delivery)."""


@dataclass(frozen=True)
class SmsSettings:
    texts: Texts = field(default_factory=Texts)
    max_amount_minor: int = 1_000_000  # flow.max_amount_minor: the cap of every way to pay
    # An agent whose card-on-file lookups found nothing this often in the window is refused
    # more until it passes: the lookup must not serve to probe customers' mobiles.
    card_lookup_misses: int = 10
    card_lookup_window: timedelta = timedelta(hours=1)
    request_ttl: timedelta = timedelta(hours=24)
    reminders: ReminderPolicy = field(default_factory=ReminderPolicy)
    late_reply_window: timedelta = timedelta(days=7)
    pay_offer_window: timedelta = timedelta(days=14)
    reconcile_after: timedelta = timedelta(minutes=2)
    retry_delays: tuple[timedelta, ...] = (
        timedelta(seconds=10),
        timedelta(seconds=30),
        timedelta(minutes=2),
        timedelta(minutes=10),
        timedelta(minutes=30),
        timedelta(hours=1),
    )


@dataclass(frozen=True)
class TextPaymentRequest:
    customer: str
    phone: str
    amount_minor: int
    currency: str
    item: str
    agent: str


@dataclass(frozen=True)
class ReminderRequest:
    customer: str
    phone: str
    amount_minor: int
    currency: str
    due_date: date
    agent: str
    item: str = DEFAULT_REMINDER_ITEM
    time_zone: str | None = None
    offer_pay_by_text: bool = False
    send_now: bool = False
    """Send at the next moment within sending hours instead of the spread day and minute
    (an agent texting one customer now; bulk imports are spread)."""


@dataclass
class ImportReport:
    """A reminder CSV import: what was scheduled, already there, and refused (by line)."""

    scheduled: list[Reminder] = field(default_factory=list)
    already_scheduled: int = 0
    refused: list[tuple[int, str]] = field(default_factory=list)


@dataclass
class WorkDone:
    expired: int = 0
    reconciled: int = 0
    repaired: int = 0
    replies: int = 0
    reminders: int = 0
    messages: int = 0

    @property
    def total(self) -> int:
        return (
            self.expired
            + self.reconciled
            + self.repaired
            + self.replies
            + self.reminders
            + self.messages
        )


# ------------------------------------------------------------------ validation


def parse_amount(value: object, currency: str) -> int:
    """``"137.42"`` (or 137.42) in ``currency`` → minor units; raises :class:`SmsRefused`."""
    if currency not in CURRENCIES:
        raise SmsRefused(f"the currency must be one of {', '.join(sorted(CURRENCIES))}")
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise SmsRefused("the amount must be a number such as 137.42")
    text = repr(value) if isinstance(value, float) else str(value).strip()
    if not _AMOUNT.match(text):
        raise SmsRefused("the amount must be a number such as 137.42")
    try:
        minor = Decimal(text).scaleb(CURRENCIES[currency].exponent)
    except InvalidOperation:
        raise SmsRefused("the amount must be a number such as 137.42") from None
    if minor != minor.to_integral_value():
        raise SmsRefused(f"the amount has too many decimals for {currency}")
    if minor <= 0:
        raise SmsRefused("the amount must be more than zero")
    return int(minor)


def _phone(text: str) -> str:
    try:
        return parse_e164(text)
    except InvalidPhoneNumber as error:
        raise SmsRefused(str(error)) from None


def _customer(text: str) -> str:
    customer = text.strip() if isinstance(text, str) else ""
    if not 1 <= len(customer) <= MAX_CUSTOMER_LENGTH:
        raise SmsRefused(f"the customer reference must have 1 to {MAX_CUSTOMER_LENGTH} characters")
    if has_pan(customer):
        raise SmsRefused("the customer reference looks like a card number")
    return customer


def _item(text: str) -> str:
    item = text.strip() if isinstance(text, str) else ""
    if not 1 <= len(item) <= MAX_ITEM_LENGTH:
        raise SmsRefused(f"the item name must have 1 to {MAX_ITEM_LENGTH} characters")
    if has_digit_run(item):
        raise SmsRefused("the item name cannot contain 7 or more digits in a row")
    if has_card_data(item):
        # It goes into the texts, which the database refuses to keep with card data.
        raise SmsRefused("the item name looks like card data (an expiry date or a code)")
    return item


def _reason(text: str | None) -> str | None:
    return redact_card_data(text)[:500] if text else None


class SmsService:
    """Pay by text, reminders and opt-outs over one provider and one gateway.

    ``payments`` should be the process's :class:`PaymentStore` (the one configured with
    the CRM endpoints), so text payments reach the CRM like phone payments.
    """

    def __init__(
        self,
        store: SmsStore,
        provider: SmsProvider,
        gateway: Gateway,
        payments: PaymentStore,
        cards: CardsOnFile,
        *,
        settings: SmsSettings | None = None,
        verifier: WebhookVerifier | None = None,
        clock: Clock = utc_now,
    ) -> None:
        self.store = store
        self.provider = provider
        self.gateway = gateway
        self.payments = payments
        self.cards = cards
        self.settings = settings or SmsSettings()
        self.verifier = verifier
        self._clock = clock

    @property
    def texts(self) -> Texts:
        return self.settings.texts

    # ------------------------------------------------------------------ pay by text

    async def request_text_payment(
        self,
        request: TextPaymentRequest,
        *,
        origin: Origin | None = None,
        reminder_id: UUID | None = None,
    ) -> TextPayment:
        """Text the customer the question; raises :class:`SmsRefused` (no text sent)."""
        phone = _phone(request.phone)
        customer = _customer(request.customer)
        item = _item(request.item)
        self._check_amount(request.amount_minor, request.currency)
        if await self.store.is_opted_out(phone):
            raise SmsRefused("this number has opted out of texts (it replied STOP)", conflict=True)
        card = await self._usable_card(customer, phone, actor=request.agent, origin=origin)
        if card is None:
            raise SmsRefused(
                "there is no usable card on file for this customer; take the payment on a"
                " call and offer to keep the card",
                conflict=True,
            )
        await self.expire_requests(phone)
        waiting = await self.store.latest_text_payment(
            phone, self._clock() - self.settings.request_ttl
        )
        if waiting is not None and waiting.state is TextPaymentState.ASKED:
            raise SmsRefused(
                "a text payment is already waiting for this number's answer", conflict=True
            )
        payment_id = await self.payments.create_payment(
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
        await self.payments.record_card(
            payment_id, brand=card.brand.value, last_four=card.last_four
        )
        now = self._clock()
        body = self.texts.ask(request.amount_minor, request.currency, item, card.masked_card)
        try:
            async with self.store.db.pool.connection() as conn, conn.transaction():
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
                        now + self.settings.request_ttl,
                        now,
                        now,
                    ),
                )
                message_id = await self.store.queue(
                    conn, now, phone, MessageKind.ASK, body, text_payment_id=payment_id
                )
                await self.store.audit(
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
            await self.payments.record_outcome(
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
        await self._send(message_id)
        found = await self.store.text_payment(payment_id)
        assert found is not None
        return found

    def _check_amount(self, amount_minor: int, currency: str) -> None:
        problem = amount_problem(amount_minor, currency, self.settings.max_amount_minor)
        if problem is not None:
            raise SmsRefused(problem)

    async def card_for(
        self, customer: str, phone: str, *, actor: str, origin: Origin | None = None
    ) -> MaskedCard | None:
        """The card a text payment for this customer and mobile would charge (brand and last
        four), or None; raises :class:`SmsRefused` for a malformed customer or phone number
        and :class:`CardLookupsExhausted` for an agent probing."""
        card = await self._usable_card(_customer(customer), _phone(phone), actor=actor, origin=origin)
        return card.masked_card if card else None

    async def _usable_card(
        self,
        customer: str,
        phone: str,
        *,
        actor: str = "payivr",
        origin: Origin | None = None,
        limited: bool = True,
    ) -> CardOnFile | None:
        """The newest unexpired card kept for this customer *with* this mobile (both)."""
        now = self._clock()
        if limited:
            since = now - self.settings.card_lookup_window
            misses = await self.cards.lookups_finding_nothing(actor, since)
            if misses >= self.settings.card_lookup_misses:
                raise CardLookupsExhausted(
                    f"{misses} card-on-file lookups found nothing in the last"
                    f" {self.settings.card_lookup_window}; try again later"
                )
        cards = await self.cards.bound_to(customer, phone, actor=actor, origin=origin)
        return next((card for card in cards if not card.expired(now.date())), None)

    async def _charge(self, payment: TextPayment) -> None:
        now = self._clock()
        async with self.store.db.pool.connection() as conn, conn.transaction():
            confirmed = await self.store.move_text_payment(
                conn,
                payment.id,
                now,
                to=TextPaymentState.CHARGING,
                only_from=[TextPaymentState.ASKED],
                unexpired=True,
            )
            if confirmed:
                await self.store.audit(
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
        await self.payments.update_step(payment.id, Step.AMOUNT, StepStatus.DONE)
        await self.payments.mark_authorizing(payment.id)
        card = None
        if payment.card_on_file_id is not None:
            try:
                card = await self.cards.get(payment.card_on_file_id)
            except CardOnFileNotFound:
                card = None
        if card is None:
            await self._settle(payment, Error("the card on file was removed", retryable=False))
            return
        try:
            result: StatusResult = await self.gateway.sale_with_token(
                card.token, payment.amount_minor, payment.currency, str(payment.id)
            )
        except Exception:  # whatever happened, the charge may have gone: ask, never re-charge
            logger.exception("text_payment_charge_failed", payment_id=str(payment.id))
            result = Unknown()
        await self._settle(payment, result)

    async def _settle(self, payment: TextPayment, result: StatusResult) -> None:
        """Turn the gateway's answer into the payment's outcome and the customer's text."""
        texts = self.texts
        match result:
            case Approved(reference=reference):
                await self._finish(
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
                await self._finish(
                    payment,
                    TextPaymentState.DECLINED,
                    reason=reason,
                    text=(MessageKind.DECLINED, texts.declined(payment.card)),
                )
            case Error(reason=reason):
                await self._finish(
                    payment,
                    TextPaymentState.FAILED,
                    reason=reason,
                    text=(MessageKind.FAILED, texts.failed()),
                )
            case NotFound():
                await self._finish(
                    payment,
                    TextPaymentState.FAILED,
                    reason=NO_RECORD_REASON,
                    text=(MessageKind.FAILED, texts.failed()),
                )
            case Unknown(reason=reason):
                now = self._clock()
                async with self.store.db.pool.connection() as conn, conn.transaction():
                    moved = await self.store.move_text_payment(
                        conn,
                        payment.id,
                        now,
                        to=TextPaymentState.UNKNOWN,
                        only_from=[TextPaymentState.CHARGING],
                        reason=_reason(reason),
                    )
                    message_id = None
                    if moved:
                        message_id = await self.store.queue(
                            conn,
                            now,
                            payment.phone,
                            MessageKind.CONFIRMING,
                            texts.confirming(),
                            text_payment_id=payment.id,
                        )
                if moved:
                    await self.payments.mark_needs_reconciliation(payment.id, reason)
                    logger.warning("text_payment_outcome_unknown", payment_id=str(payment.id))
                if message_id is not None:
                    await self._send(message_id)

    async def _finish(
        self,
        payment: TextPayment,
        state: TextPaymentState,
        *,
        only_from: tuple[TextPaymentState, ...] = _OPEN,
        reason: str | None = None,
        reference: str | None = None,
        text: tuple[MessageKind, str] | None = None,
    ) -> bool:
        """Final state, its text (same transaction), then the payment's outcome."""
        now = self._clock()
        reason = _reason(reason)
        message_id = None
        async with self.store.db.pool.connection() as conn, conn.transaction():
            moved = await self.store.move_text_payment(
                conn,
                payment.id,
                now,
                to=state,
                only_from=only_from,
                reason=reason,
                gateway_reference=reference,
            )
            if not moved:
                return False
            if text is not None:
                message_id = await self.store.queue(
                    conn, now, payment.phone, text[0], text[1], text_payment_id=payment.id
                )
            await self.store.audit(
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
            await self._send(message_id)
        return True

    async def _record_outcome(
        self, payment_id: UUID, state: TextPaymentState, reason: str | None, reference: str | None
    ) -> None:
        with contextlib.suppress(PaymentAlreadyFinished):
            await self.payments.record_outcome(
                payment_id, _OUTCOMES[state], reason=reason, gateway_reference=reference
            )

    # ------------------------------------------------------------------ provider events

    async def handle_event(self, event: ProviderEvent) -> None:
        """Take one event from the provider (an :data:`EventHandler` for the simulator)."""
        if isinstance(event, InboundMessage):
            await self.receive(event)
        else:
            await self.delivery_report(event)

    async def receive_webhook(self, headers: Mapping[str, str], body: bytes) -> None:
        """A signed webhook from the provider. Raises InvalidSignature or BadWebhook (the
        provider broke it), :class:`WebhookReplayed` for an id seen before."""
        if self.verifier is None:
            raise RuntimeError("no webhook secret is configured")
        webhook_id, event = self.verifier.open(headers, body)
        if not await self.store.take_webhook_id(webhook_id, self._clock()):
            logger.warning("sms_webhook_replayed")
            raise WebhookReplayed(webhook_id)
        try:
            await self.handle_event(event)
        except BaseException:
            await self.store.release_webhook_id(webhook_id)
            raise

    async def receive(self, message: InboundMessage) -> None:
        """A customer's text: stored (digit runs removed), audited, then acted on."""
        now = self._clock()
        stored_id = await self.store.record_inbound(
            now, message.provider_message_id, message.from_number, redact_card_data(message.body)
        )
        if stored_id is None:
            logger.info("sms_inbound_duplicate")
            return
        text_payment_id = await self._act_on(message.from_number, message.body)
        await self.store.mark_processed(stored_id, text_payment_id)

    async def _act_on(self, phone: str, body: str) -> UUID | None:
        reply = classify(body)
        logger.info("sms_reply", reply=reply.value)
        now = self._clock()
        if reply is Reply.STOP:
            await self._opt_out(phone, stop_keyword(body))
            waiting = await self.store.latest_text_payment(phone, now - self.settings.request_ttl)
            if waiting is not None and waiting.state is TextPaymentState.ASKED:
                await self._finish(
                    waiting,
                    TextPaymentState.REFUSED,
                    only_from=(TextPaymentState.ASKED,),
                    reason="the customer opted out of texts",
                )
                return waiting.id
            return None
        if reply is Reply.START:
            await self._opt_in(phone)
            return None
        if reply is Reply.HELP:
            await self._say(phone, MessageKind.HELP, self.texts.help())
            return None
        if await self.store.is_opted_out(phone):
            return None
        payment = await self.store.latest_text_payment(phone, now - self.settings.late_reply_window)
        if payment is not None and payment.state is TextPaymentState.ASKED:
            if payment.expires_at > now:
                if reply is Reply.YES:
                    await self._charge(payment)
                else:
                    await self._finish(
                        payment,
                        TextPaymentState.REFUSED,
                        only_from=(TextPaymentState.ASKED,),
                        reason="the customer did not answer YES",
                        text=(MessageKind.REFUSED, self.texts.refused()),
                    )
                return payment.id
            await self._expire(payment)
            payment = await self.store.text_payment(payment.id)
        if payment is not None and payment.state is TextPaymentState.EXPIRED:
            if not payment.late_reply_answered:
                await self._answer_late_reply(payment)
            return payment.id
        if reply is Reply.PAY and (payment is None or not payment.state.open):
            return await self._pay_from_reminder(phone)
        return payment.id if payment is not None else None

    async def _answer_late_reply(self, payment: TextPayment) -> None:
        now = self._clock()
        async with self.store.db.pool.connection() as conn, conn.transaction():
            cursor = await conn.execute(
                "UPDATE text_payments SET late_reply_answered = true, updated_at = %s"
                " WHERE payment_id = %s AND NOT late_reply_answered",
                (now, payment.id),
            )
            message_id = None
            if cursor.rowcount == 1:
                message_id = await self.store.queue(
                    conn,
                    now,
                    payment.phone,
                    MessageKind.EXPIRED,
                    self.texts.expired(),
                    text_payment_id=payment.id,
                )
        if message_id is not None:
            await self._send(message_id)

    async def _pay_from_reminder(self, phone: str) -> UUID | None:
        reminder = await self.store.latest_pay_offer(
            phone, self._clock() - self.settings.pay_offer_window
        )
        if reminder is None:
            await self._say(phone, MessageKind.NO_PAYMENT, self.texts.no_payment())
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
            payment = await self.request_text_payment(
                request, origin=Origin.system("sms"), reminder_id=reminder.id
            )
        except (SmsRefused, psycopg.errors.UniqueViolation) as refused:
            logger.info("pay_from_reminder_refused", reason=str(refused))
            await self._say(phone, MessageKind.NO_PAYMENT, self.texts.no_payment())
            return None
        return payment.id

    async def delivery_report(self, report: DeliveryReport) -> None:
        status = {
            DeliveryStatus.SENT: MessageStatus.SENT,
            DeliveryStatus.DELIVERED: MessageStatus.DELIVERED,
            DeliveryStatus.FAILED: MessageStatus.FAILED,
        }[report.status]
        message = await self.store.record_report(
            self._clock(), report.provider_message_id, status, _reason(report.error)
        )
        if message is None:
            return
        logger.info("sms_delivery_report", message_id=str(message.id), status=status.value)
        if status is MessageStatus.FAILED and message.kind is MessageKind.ASK:
            await self._undelivered(message.text_payment_id)

    async def _undelivered(self, payment_id: UUID | None) -> None:
        payment = await self.store.text_payment(payment_id) if payment_id else None
        if payment is not None:
            await self._finish(
                payment,
                TextPaymentState.UNDELIVERED,
                only_from=(TextPaymentState.ASKED,),
                reason="the text could not be delivered to the customer",
            )

    # ------------------------------------------------------------------ opt-out

    async def _opt_out(self, phone: str, keyword: str) -> None:
        now = self._clock()
        async with self.store.db.pool.connection() as conn, conn.transaction():
            cursor = await conn.execute(
                "INSERT INTO sms_opt_outs (phone, keyword, opted_out_at) VALUES (%s, %s, %s)"
                " ON CONFLICT (phone) DO NOTHING",
                (phone, keyword, now),
            )
            message_id = None
            if cursor.rowcount == 1:
                await self.store.audit(
                    conn,
                    now,
                    actor="customer",
                    action="sms.opted_out",
                    resource="sms_opt_out",
                    detail=keyword,
                )
                message_id = await self.store.queue(
                    conn, now, phone, MessageKind.OPTED_OUT, self.texts.opted_out()
                )
        if message_id is not None:
            logger.info("sms_opted_out", keyword=keyword)
            await self._send(message_id)

    async def _opt_in(self, phone: str) -> None:
        now = self._clock()
        async with self.store.db.pool.connection() as conn, conn.transaction():
            cursor = await conn.execute("DELETE FROM sms_opt_outs WHERE phone = %s", (phone,))
            message_id = None
            if cursor.rowcount == 1:
                await self.store.audit(
                    conn, now, actor="customer", action="sms.opted_in", resource="sms_opt_out"
                )
                message_id = await self.store.queue(
                    conn, now, phone, MessageKind.OPTED_IN, self.texts.opted_in()
                )
        if message_id is not None:
            logger.info("sms_opted_in")
            await self._send(message_id)

    async def _say(self, phone: str, kind: MessageKind, body: str) -> None:
        async with self.store.db.pool.connection() as conn, conn.transaction():
            message_id = await self.store.queue(conn, self._clock(), phone, kind, body)
        await self._send(message_id)

    # ------------------------------------------------------------------ sending

    async def _send(self, message_id: UUID | None = None) -> bool:
        """Send one queued message (this one, or the oldest due); False if none was free."""
        now = self._clock()
        undelivered_ask: UUID | None = None
        async with self.store.db.pool.connection() as conn, conn.transaction():
            message = await self.store.claim_queued(conn, now, message_id)
            if message is None:
                return False
            resource = f"sms_message:{message.id}"
            if message.kind not in _ALWAYS_SENT and await self.store.opted_out(conn, message.phone):
                await self.store.set_status(conn, message.id, MessageStatus.SUPPRESSED, now=now)
                await self.store.audit(
                    conn,
                    now,
                    actor="payivr",
                    action="sms.suppressed",
                    resource=resource,
                    success=False,
                    payment_id=message.text_payment_id,
                    detail="opted out",
                )
                logger.info("sms_suppressed", message_id=str(message.id))
                if message.kind is MessageKind.ASK:
                    undelivered_ask = message.text_payment_id
            else:
                undelivered_ask = await self._attempt(
                    conn,
                    message.id,
                    message.phone,
                    message.body,
                    message.attempts,
                    message.kind,
                    message.text_payment_id,
                )
        if undelivered_ask is not None:
            await self._undelivered(undelivered_ask)
        return True

    async def _attempt(
        self,
        conn: Connection,
        message_id: UUID,
        phone: str,
        body: str,
        attempts: int,
        kind: MessageKind,
        text_payment_id: UUID | None,
    ) -> UUID | None:
        """One try at the provider; returns the text payment whose question failed for good."""
        resource = f"sms_message:{message_id}"
        try:
            provider_id = await self.provider.send(phone, body, str(message_id))
        except SendFailed as failed:
            error, retryable = failed.reason, failed.retryable
        except Exception as unexpected:  # a provider bug: try again later, as for an outage
            logger.exception("sms_provider_failed", message_id=str(message_id))
            error, retryable = f"provider error {type(unexpected).__name__}", True
        else:
            done = self._clock()
            await self.store.set_status(
                conn, message_id, MessageStatus.SENT, now=done, provider_message_id=provider_id
            )
            await self.store.audit(
                conn,
                done,
                actor="payivr",
                action="sms.sent",
                resource=resource,
                payment_id=text_payment_id,
                detail=kind.value,
            )
            logger.info("sms_sent", message_id=str(message_id), kind=kind.value)
            return None
        done = self._clock()
        delays = self.settings.retry_delays
        error = _reason(error) or "send failed"
        if retryable and attempts < len(delays):
            await self.store.set_status(
                conn,
                message_id,
                MessageStatus.QUEUED,
                now=done,
                error=error,
                retry_at=done + delays[attempts],
            )
            logger.warning("sms_send_retry", message_id=str(message_id), error=error)
            return None
        await self.store.set_status(conn, message_id, MessageStatus.FAILED, now=done, error=error)
        await self.store.audit(
            conn,
            done,
            actor="payivr",
            action="sms.failed",
            resource=resource,
            success=False,
            payment_id=text_payment_id,
            detail=error,
        )
        logger.error("sms_send_failed", message_id=str(message_id), error=error)
        return text_payment_id if kind is MessageKind.ASK else None

    # ------------------------------------------------------------------ reminders

    async def schedule_reminder(
        self, request: ReminderRequest, *, origin: Origin | None = None
    ) -> Reminder:
        """Plan the reminder's send day and time; raises :class:`SmsRefused`
        (:class:`ReminderExists` when this customer already has one for the due date)."""
        phone = _phone(request.phone)
        customer = _customer(request.customer)
        item = _item(request.item)
        self._check_amount(request.amount_minor, request.currency)
        policy = self.settings.reminders
        time_zone = request.time_zone or policy.time_zone
        try:
            tz = zone(time_zone)
        except ScheduleRefused as refused:
            raise SmsRefused(str(refused)) from None
        if await self.store.is_opted_out(phone):
            raise SmsRefused("this number has opted out of texts (it replied STOP)", conflict=True)
        now = self._clock()
        async with self.store.db.pool.connection() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEDULE_LOCK_KEY,))
            cursor = await conn.execute(
                "SELECT id FROM sms_reminders WHERE customer = %s AND due_date = %s",
                (customer, request.due_date),
            )
            existing = await cursor.fetchone()
            if existing is not None:
                found = await self.store.reminder(existing[0])
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
                        await self.store.reminder_counts(conn, days),
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
            await self.store.audit(
                conn,
                now,
                actor=request.agent,
                action="reminder.scheduled",
                resource=f"reminder:{reminder_id}",
                origin=origin,
                detail=f"send on {day.isoformat()} for due {request.due_date.isoformat()}",
            )
        reminder = await self.store.reminder(reminder_id)
        assert reminder is not None
        return reminder

    async def import_reminders(
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
                report.scheduled.append(await self.schedule_reminder(request, origin=origin))
            except ReminderExists:
                report.already_scheduled += 1
            except SmsRefused as refused:
                report.refused.append((line, refused.message))
        return report

    async def send_due_reminders(self) -> int:
        """Send every reminder whose time has come (several workers share the work)."""
        sent = 0
        while True:
            now = self._clock()
            message_id = None
            policy = self.settings.reminders
            async with self.store.db.pool.connection() as conn, conn.transaction():
                reminder = await self.store.claim_due_reminder(conn, now)
                if reminder is None:
                    return sent
                tz = zone(reminder.time_zone)
                resource = f"reminder:{reminder.id}"
                if await self.store.opted_out(conn, reminder.phone):
                    await self._set_reminder(conn, reminder.id, ReminderStatus.SUPPRESSED)
                    await self.store.audit(
                        conn,
                        now,
                        actor="payivr",
                        action="reminder.suppressed",
                        resource=resource,
                        success=False,
                        detail="opted out",
                    )
                    continue
                if not within_hours(now, tz, policy):
                    opening = next_opening(now, tz, policy)
                    if opening.astimezone(tz).date() > reminder.due_date:
                        await self._set_reminder(conn, reminder.id, ReminderStatus.MISSED)
                        await self.store.audit(
                            conn,
                            now,
                            actor="payivr",
                            action="reminder.missed",
                            resource=resource,
                            success=False,
                        )
                    else:
                        await conn.execute(
                            "UPDATE sms_reminders SET send_at = %s WHERE id = %s",
                            (opening, reminder.id),
                        )
                    continue
                card = None
                if reminder.offer_pay_by_text:
                    found = await self._usable_card(
                        reminder.customer, reminder.phone, limited=False
                    )
                    card = found.masked_card if found else None
                body = self.texts.reminder(
                    reminder.amount_minor,
                    reminder.currency,
                    reminder.item,
                    reminder.due_date,
                    card,
                )
                message_id = await self.store.queue(
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
                await self.store.audit(
                    conn,
                    now,
                    actor="payivr",
                    action="reminder.sent",
                    resource=resource,
                )
            sent += 1
            await self._send(message_id)

    @staticmethod
    async def _set_reminder(conn: Connection, reminder_id: UUID, status: ReminderStatus) -> None:
        await conn.execute(
            "UPDATE sms_reminders SET status = %s WHERE id = %s", (status.value, reminder_id)
        )

    # ------------------------------------------------------------------ housekeeping

    async def expire_requests(self, phone: str | None = None) -> int:
        """Requests past their expiry without an answer end as timed out (no text)."""
        now = self._clock()
        expired = 0
        for payment in await self.store.expired_requests(now):
            if phone is None or payment.phone == phone:
                expired += await self._expire(payment)
        return expired

    async def _expire(self, payment: TextPayment) -> bool:
        if payment.expires_at > self._clock():
            return False
        return await self._finish(
            payment,
            TextPaymentState.EXPIRED,
            only_from=(TextPaymentState.ASKED,),
            reason="the customer did not answer in time",
        )

    async def reconcile(self) -> int:
        """Charges whose answer was lost (or that a crash interrupted): ask the gateway by
        idempotency key and finish them; never charge again."""
        before = self._clock() - self.settings.reconcile_after
        settled = 0
        for payment in await self.store.text_payments_in(
            [TextPaymentState.CHARGING, TextPaymentState.UNKNOWN], before
        ):
            result = await self.gateway.status(str(payment.id))
            if isinstance(result, Unknown) or (isinstance(result, Error) and result.retryable):
                async with self.store.db.pool.connection() as conn:
                    await conn.execute(
                        "UPDATE text_payments SET updated_at = %s WHERE payment_id = %s",
                        (self._clock(), payment.id),
                    )
                continue
            await self._settle(payment, result)
            settled += 1
        return settled

    async def repair(self) -> int:
        """Finish what a crash left half done: final text payments without a payment
        outcome, and text payment rows never written after their payment was created."""
        repaired = 0
        for payment in await self.store.unsettled_text_payments():
            await self._record_outcome(
                payment.id, payment.state, payment.reason, payment.gateway_reference
            )
            repaired += 1
        async with self.store.db.pool.connection() as conn:
            cursor = await conn.execute(
                "SELECT p.id FROM payments p WHERE p.entry_kind = 'text' AND p.state <> 'finished'"
                " AND p.created_at < %s AND NOT EXISTS"
                " (SELECT 1 FROM text_payments t WHERE t.payment_id = p.id)",
                (self._clock() - timedelta(minutes=5),),
            )
            orphans = [row[0] for row in await cursor.fetchall()]
        for payment_id in orphans:
            try:
                await self.payments.record_outcome(
                    payment_id, Outcome.CANCELLED, reason="the request was never texted"
                )
            except PaymentAlreadyFinished:
                continue
            repaired += 1
        return repaired

    async def process_left_replies(self) -> int:
        """Replies stored but not acted on (a crash in between): act on them now."""
        done = 0
        for message in await self.store.unprocessed_inbound(self._clock() - timedelta(minutes=1)):
            # The stored body has digit runs removed; keywords and YES survive that.
            text_payment_id = await self._act_on(message.phone, message.body)
            await self.store.mark_processed(message.id, text_payment_id)
            done += 1
        return done

    async def send_due_messages(self) -> int:
        sent = 0
        while await self._send():
            sent += 1
        return sent

    async def run_once(self) -> WorkDone:
        """One round of everything time drives; safe to run in several workers at once."""
        work = WorkDone()
        work.expired = await self.expire_requests()
        work.reconciled = await self.reconcile()
        work.repaired = await self.repair()
        work.replies = await self.process_left_replies()
        work.reminders = await self.send_due_reminders()
        work.messages = await self.send_due_messages()
        if self.verifier is not None:
            keep = timedelta(seconds=2 * self.verifier.tolerance)
            await self.store.prune_webhook_ids(self._clock() - keep)
        return work
