"""The CRM adapter interface: how one outbox row reaches one CRM.

The outbox worker owns ordering, retries and locking; an adapter only turns a
:class:`Delivery` into one attempt and says what happened. A Salesforce or HubSpot
adapter implements the same Protocol without touching the flow.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID


@dataclass(frozen=True)
class Delivery:
    """One attempt to deliver one activity. ``message_id`` is stable across retries."""

    message_id: UUID
    payment_id: UUID
    activity: dict[str, Any]
    created_at: datetime
    attempt: int


@dataclass(frozen=True)
class Delivered:
    status: int


@dataclass(frozen=True)
class RetryLater:
    """Not delivered; try again on the schedule, or after ``retry_after`` seconds if the
    CRM said when."""

    reason: str
    retry_after: float | None = None


@dataclass(frozen=True)
class EndpointGone:
    """The CRM says this endpoint no longer exists (HTTP 410): stop sending to it."""

    reason: str


DeliveryResult = Delivered | RetryLater | EndpointGone


class CrmAdapter(Protocol):
    @property
    def name(self) -> str:
        """The endpoint name outbox rows are queued under."""
        ...

    async def deliver(self, delivery: Delivery) -> DeliveryResult:
        """Make one attempt. Transport failures are returned as RetryLater, not raised."""
        ...
