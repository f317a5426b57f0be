"""Pay by text and payment reminders: the SMS conversation with the customer.

:class:`SmsService` is the one object the console, the worker and the CLI hold; the work is
done by its parts, each in its own module: :mod:`~payivr.sms.text_payments` (ask, charge once
on YES, settle), :mod:`~payivr.sms.inbound` (replies, STOP/START/HELP, delivery reports),
:mod:`~payivr.sms.outbox` (queued texts sent and retried) and :mod:`~payivr.sms.reminders`.

Every text in and out is an ``sms_messages`` row; outbound ones are queued in the same
transaction as the state change that calls for them and sent with their id as the
provider's idempotency key, so a crash never loses or doubles a text (the worker sends
what is left queued).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from uuid import UUID

from payivr.core.cards import MaskedCard
from payivr.gateway.interface import Gateway
from payivr.sms.http import WebhookVerifier
from payivr.sms.inbound import Inbound
from payivr.sms.outbox import Outbox
from payivr.sms.provider import ProviderEvent, SmsProvider
from payivr.sms.reminders import Reminders
from payivr.sms.replies import Texts
from payivr.sms.requests import (
    CardLookupsExhausted,
    ImportReport,
    ReminderExists,
    ReminderRequest,
    SmsContext,
    SmsRefused,
    SmsSettings,
    TextPaymentRequest,
    WebhookReplayed,
    WorkDone,
    parse_amount,
)
from payivr.sms.store import Reminder, SmsStore, TextPayment
from payivr.sms.text_payments import TextPayments
from payivr.store.cards_on_file import CardsOnFile
from payivr.store.models import Clock, Origin, utc_now
from payivr.store.payments import PaymentStore

__all__ = [
    "CardLookupsExhausted",
    "ImportReport",
    "ReminderExists",
    "ReminderRequest",
    "SmsRefused",
    "SmsService",
    "SmsSettings",
    "TextPaymentRequest",
    "WebhookReplayed",
    "WorkDone",
    "parse_amount",
]


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
        self.ctx = SmsContext(
            store, provider, gateway, payments, cards, settings or SmsSettings(), verifier, clock
        )
        self.outbox = Outbox(self.ctx, undelivered=self._undelivered)
        self.text_payments = TextPayments(self.ctx, self.outbox)
        self.inbound = Inbound(self.ctx, self.outbox, self.text_payments)
        self.reminders = Reminders(self.ctx, self.outbox, self.text_payments)

    async def _undelivered(self, payment_id: UUID) -> None:
        await self.text_payments.undelivered(payment_id)

    # ------------------------------------------------------------------ what the parts share

    @property
    def store(self) -> SmsStore:
        return self.ctx.store

    @property
    def provider(self) -> SmsProvider:
        return self.ctx.provider

    @property
    def gateway(self) -> Gateway:
        return self.ctx.gateway

    @gateway.setter
    def gateway(self, gateway: Gateway) -> None:
        self.ctx.gateway = gateway

    @property
    def payments(self) -> PaymentStore:
        return self.ctx.payments

    @property
    def cards(self) -> CardsOnFile:
        return self.ctx.cards

    @property
    def settings(self) -> SmsSettings:
        return self.ctx.settings

    @settings.setter
    def settings(self, settings: SmsSettings) -> None:
        self.ctx.settings = settings

    @property
    def verifier(self) -> WebhookVerifier | None:
        return self.ctx.verifier

    @property
    def texts(self) -> Texts:
        return self.ctx.settings.texts

    # ------------------------------------------------------------------ the public API

    async def request_text_payment(
        self, request: TextPaymentRequest, *, origin: Origin | None = None
    ) -> TextPayment:
        """Text the customer the question; raises :class:`SmsRefused` (no text sent)."""
        return await self.text_payments.request(request, origin=origin)

    async def card_for(
        self, customer: str, phone: str, *, actor: str, origin: Origin | None = None
    ) -> MaskedCard | None:
        """The card a text payment would charge (see :meth:`TextPayments.card_for`)."""
        return await self.text_payments.card_for(customer, phone, actor=actor, origin=origin)

    async def handle_event(self, event: ProviderEvent) -> None:
        """Take one event from the provider (an ``EventHandler`` for a carrier)."""
        await self.inbound.handle_event(event)

    async def receive_webhook(self, headers: Mapping[str, str], body: bytes) -> None:
        """A signed webhook from the provider (see :meth:`Inbound.receive_webhook`)."""
        await self.inbound.receive_webhook(headers, body)

    async def schedule_reminder(
        self, request: ReminderRequest, *, origin: Origin | None = None
    ) -> Reminder:
        """Plan the reminder's send day and time; raises :class:`SmsRefused`
        (:class:`ReminderExists` when this customer already has one for the due date)."""
        return await self.reminders.schedule(request, origin=origin)

    async def import_reminders(
        self, text: str, *, agent: str, currency: str, origin: Origin | None = None
    ) -> ImportReport:
        """Schedule a reminder per CSV row (see :meth:`Reminders.import_csv`)."""
        return await self.reminders.import_csv(text, agent=agent, currency=currency, origin=origin)

    async def send_due_reminders(self) -> int:
        """Send every reminder whose time has come (several workers share the work)."""
        return await self.reminders.send_due()

    async def run_once(self) -> WorkDone:
        """One round of everything time drives; safe to run in several workers at once."""
        work = WorkDone()
        work.expired = await self.text_payments.expire_requests()
        work.reconciled = await self.text_payments.reconcile()
        work.repaired = await self.text_payments.repair()
        work.replies = await self.inbound.process_left_replies()
        work.reminders = await self.reminders.send_due()
        work.messages = await self.outbox.send_due_messages()
        if self.ctx.verifier is not None:
            keep = timedelta(seconds=2 * self.ctx.verifier.tolerance)
            await self.ctx.store.prune_webhook_ids(self.ctx.clock() - keep)
        return work
