"""What the store keeps: payments (brand + last four, never card data), audit events."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from uuid import UUID

from payivr.core.bank import AccountType
from payivr.core.events import Outcome, PaymentMethod, Step, StepStatus
from payivr.core.request import EntryKind, PrivacyMode

Clock = Callable[[], datetime]
"""Returns the current time as an aware UTC datetime; injected so tests can move time."""


def utc_now() -> datetime:
    return datetime.now(UTC)


class PaymentState(enum.Enum):
    """Where a payment is in its life; finer progress is in the step statuses."""

    REQUESTED = "requested"
    COLLECTING = "collecting"
    AUTHORIZING = "authorizing"
    FINISHED = "finished"


class OriginKind(enum.Enum):
    IP = "ip"
    CHANNEL = "channel"
    SYSTEM = "system"


STEP_COLUMNS: dict[Step, str] = {
    Step.AMOUNT: "step_amount",
    Step.CARD_NUMBER: "step_card_number",
    Step.EXPIRY: "step_expiry",
    Step.SECURITY_CODE: "step_security_code",
    Step.POSTAL_CODE: "step_postal_code",
    Step.ROUTING_NUMBER: "step_routing_number",
    Step.ACCOUNT_NUMBER: "step_account_number",
    Step.ACCOUNT_TYPE: "step_account_type",
}


@dataclass
class Progress:
    """What a call payment's row says of the caller's entries so far: each step's status,
    what may be kept of the card (brand, last four) or bank account (type, last two).

    Call control keeps it in memory while the caller keys and writes it with the payment's
    next state (authorizing, then the outcome): one write each rather than one per step.
    """

    steps: dict[Step, StepStatus] = field(default_factory=dict)
    brand: str | None = None
    last_four: str | None = None
    bank_account_type: AccountType | None = None
    bank_account_last_two: str | None = None


@dataclass(frozen=True)
class Origin:
    """Where an audited action came from (PCI DSS 10.2.2)."""

    kind: OriginKind
    value: str

    @classmethod
    def ip(cls, address: str) -> Origin:
        return cls(OriginKind.IP, address)

    @classmethod
    def channel(cls, channel_id: str) -> Origin:
        return cls(OriginKind.CHANNEL, channel_id)

    @classmethod
    def system(cls, component: str = "payivr") -> Origin:
        return cls(OriginKind.SYSTEM, component)


@dataclass(frozen=True)
class NewPayment:
    """A payment request as the call-control code knows it before the caller keys anything."""

    call_id: str
    agent: str
    item_name: str
    amount_minor: int
    currency: str
    entry_kind: EntryKind
    privacy_mode: PrivacyMode = PrivacyMode.HOLD
    agent_channel: str | None = None
    caller_number: str | None = None
    crm_record_id: str | None = None
    payment_method: PaymentMethod = PaymentMethod.CARD


@dataclass(frozen=True)
class Payment:
    id: UUID
    call_id: str
    agent_channel: str | None
    agent: str
    item_name: str
    amount_minor: int
    currency: str
    privacy_mode: PrivacyMode
    entry_kind: EntryKind
    state: PaymentState
    steps: dict[Step, StepStatus]
    brand: str | None
    last_four: str | None
    gateway_reference: str | None
    idempotency_key: str
    outcome: Outcome | None
    reason: str | None
    needs_reconciliation: bool
    crm_record_id: str | None
    caller_number: str | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    payment_method: PaymentMethod = PaymentMethod.CARD
    bank_account_type: AccountType | None = None
    bank_account_last_two: str | None = None
    instance: str | None = None  # the payivr instance that took it (migration 0010)
    asterisk_id: str | None = None  # the entity id of the Asterisk its call ran on


@dataclass(frozen=True)
class AuditEntry:
    """An audit event still to be written: the table adds its id and the time."""

    actor: str
    action: str
    success: bool
    origin: Origin
    resource: str
    payment_id: UUID | None = None
    detail: str | None = None


@dataclass(frozen=True)
class AuditEvent:
    id: int
    occurred_at: datetime
    actor: str
    action: str
    success: bool
    origin: Origin
    resource: str
    payment_id: UUID | None
    detail: str | None
