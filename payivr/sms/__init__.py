"""SMS: pay by text with a card on file, payment reminders, opt-outs (issue 9, seed 001).

- :class:`SmsProvider`: what a provider offers; :class:`HttpSmsProvider` (generic JSON
  API with signed inbound webhooks); ``payivr.sim.sms`` has a simulated carrier (tests, demo).
- :class:`SmsService`: the conversation (ask, YES charges once, receipt; reminders; STOP).
- :class:`SmsWorker`: sends queued texts and due reminders, expires and reconciles.
"""

from payivr.core.reminders import ReminderPolicy
from payivr.sms.http import BadWebhook, HttpSmsProvider, WebhookVerifier
from payivr.sms.phone import InvalidPhoneNumber, parse_e164
from payivr.sms.provider import (
    DeliveryReport,
    DeliveryStatus,
    InboundMessage,
    SendFailed,
    SmsProvider,
)
from payivr.sms.replies import ReplyKind, Texts, classify
from payivr.sms.service import (
    ImportReport,
    ReminderExists,
    ReminderRequest,
    SmsRefused,
    SmsService,
    SmsSettings,
    TextPaymentRequest,
    WebhookReplayed,
    parse_amount,
)
from payivr.sms.store import (
    MessageKind,
    MessageStatus,
    Reminder,
    ReminderStatus,
    SmsMessage,
    SmsStore,
    TextPayment,
    TextPaymentState,
)
from payivr.sms.worker import SmsWorker

__all__ = [
    "BadWebhook",
    "DeliveryReport",
    "DeliveryStatus",
    "HttpSmsProvider",
    "ImportReport",
    "InboundMessage",
    "InvalidPhoneNumber",
    "MessageKind",
    "MessageStatus",
    "Reminder",
    "ReminderExists",
    "ReminderPolicy",
    "ReminderRequest",
    "ReminderStatus",
    "ReplyKind",
    "SendFailed",
    "SmsMessage",
    "SmsProvider",
    "SmsRefused",
    "SmsService",
    "SmsSettings",
    "SmsStore",
    "SmsWorker",
    "TextPayment",
    "TextPaymentRequest",
    "TextPaymentState",
    "Texts",
    "WebhookReplayed",
    "WebhookVerifier",
    "classify",
    "parse_amount",
    "parse_e164",
]
