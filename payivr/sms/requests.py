"""What the SMS service is asked and why it refuses: requests, settings, errors and the
checks every entry (console, CSV import, a customer's PAY) runs before anything is stored."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation

from payivr.calls.requests import MAX_ITEM_LENGTH
from payivr.core.errors import PayivrError
from payivr.core.prompts import CURRENCIES
from payivr.core.redact import has_card_data, has_digit_run, has_pan, redact_card_data
from payivr.core.reminders import ReminderPolicy
from payivr.gateway.interface import Gateway
from payivr.sms.http import WebhookVerifier
from payivr.sms.phone import InvalidPhoneNumber, parse_e164
from payivr.sms.provider import SmsProvider
from payivr.sms.replies import Texts
from payivr.sms.store import Reminder, SmsStore
from payivr.store.cards_on_file import CardsOnFile
from payivr.store.models import Clock
from payivr.store.payments import PaymentStore

TEXT_CALL_ID = "text"
"""The payments row's call id for a text payment: there is no call."""
MAX_CUSTOMER_LENGTH = 200
DEFAULT_REMINDER_ITEM = "your bill"
_AMOUNT = re.compile(r"^[0-9]{1,12}(\.[0-9]{1,3})?$")


class SmsRefused(PayivrError):
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


class WebhookReplayed(PayivrError):
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


@dataclass
class SmsContext:
    """What every part of the SMS service shares. :class:`~payivr.sms.service.SmsService`'s
    attributes read and write it, so a part always sees the service's current gateway and
    settings."""

    store: SmsStore
    provider: SmsProvider
    gateway: Gateway
    payments: PaymentStore
    cards: CardsOnFile
    settings: SmsSettings
    verifier: WebhookVerifier | None
    clock: Clock


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


def valid_phone(text: str) -> str:
    try:
        return parse_e164(text)
    except InvalidPhoneNumber as error:
        raise SmsRefused(str(error)) from None


def valid_customer(text: str) -> str:
    customer = text.strip() if isinstance(text, str) else ""
    if not 1 <= len(customer) <= MAX_CUSTOMER_LENGTH:
        raise SmsRefused(f"the customer reference must have 1 to {MAX_CUSTOMER_LENGTH} characters")
    if has_pan(customer):
        raise SmsRefused("the customer reference looks like a card number")
    return customer


def valid_item(text: str) -> str:
    item = text.strip() if isinstance(text, str) else ""
    if not 1 <= len(item) <= MAX_ITEM_LENGTH:
        raise SmsRefused(f"the item name must have 1 to {MAX_ITEM_LENGTH} characters")
    if has_digit_run(item):
        raise SmsRefused("the item name cannot contain 7 or more digits in a row")
    if has_card_data(item):
        # It goes into the texts, which the database refuses to keep with card data.
        raise SmsRefused("the item name looks like card data (an expiry date or a code)")
    return item


def redacted_reason(text: str | None) -> str | None:
    return redact_card_data(text)[:500] if text else None
