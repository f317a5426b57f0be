"""PostgreSQL store: payments, audit trail, CRM outbox, console bus, migrations.

A CRM adapter implements :class:`payivr.store.crm.CrmAdapter` (the webhook adapter is one)."""

from payivr.store.activity import build_activity, format_amount
from payivr.store.bus import ConsoleBus, Subscription
from payivr.store.cards_on_file import (
    CardOnFile,
    CardOnFileNotFound,
    CardsOnFile,
    Customer,
    GatewayToken,
    NoCustomerReference,
)
from payivr.store.database import Database
from payivr.store.errors import (
    CardDataRefused,
    EventTooLarge,
    PaymentAlreadyFinished,
    PaymentNotFound,
    StoreError,
)
from payivr.store.migrations import Migration, MigrationError, migrate, shipped_migrations
from payivr.store.models import (
    AuditEvent,
    Clock,
    NewPayment,
    Origin,
    OriginKind,
    Payment,
    PaymentState,
    utc_now,
)
from payivr.store.outbox import (
    RETRY_SCHEDULE,
    EndpointState,
    OutboxEntry,
    OutboxStatus,
    OutboxWorker,
    crm_endpoints,
    crm_list,
    crm_replay,
)
from payivr.store.payments import PaymentStore
from payivr.store.roles import DatabaseSetupError
from payivr.store.webhook import (
    InvalidSignature,
    WebhookAdapter,
    WebhookRequest,
    WebhookResponse,
    aiohttp_send,
    sign,
    verify,
)

__all__ = [
    "RETRY_SCHEDULE",
    "AuditEvent",
    "CardDataRefused",
    "CardOnFile",
    "CardOnFileNotFound",
    "CardsOnFile",
    "Clock",
    "ConsoleBus",
    "Customer",
    "Database",
    "DatabaseSetupError",
    "EndpointState",
    "EventTooLarge",
    "GatewayToken",
    "InvalidSignature",
    "Migration",
    "MigrationError",
    "NewPayment",
    "NoCustomerReference",
    "Origin",
    "OriginKind",
    "OutboxEntry",
    "OutboxStatus",
    "OutboxWorker",
    "Payment",
    "PaymentAlreadyFinished",
    "PaymentNotFound",
    "PaymentState",
    "PaymentStore",
    "StoreError",
    "Subscription",
    "WebhookAdapter",
    "WebhookRequest",
    "WebhookResponse",
    "aiohttp_send",
    "build_activity",
    "crm_endpoints",
    "crm_list",
    "crm_replay",
    "format_amount",
    "migrate",
    "shipped_migrations",
    "sign",
    "utc_now",
    "verify",
]
