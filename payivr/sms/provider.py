"""What an SMS provider offers payivr, and what it tells payivr back.

payivr sends with :meth:`SmsProvider.send`; the provider tells payivr about texts the
customer sent (:class:`InboundMessage`) and about the fate of payivr's texts
(:class:`DeliveryReport`) by signed webhook (see :mod:`payivr.sms.http`), or directly in
process (the simulator).
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from payivr.core.errors import PayivrError


class SendFailed(PayivrError):
    """The provider did not take the text. ``retryable``: the same send later may work."""

    def __init__(self, reason: str, *, retryable: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable


class SmsProvider(Protocol):
    async def send(self, to: str, body: str, idempotency_key: str) -> str:
        """Send one text to the E.164 number ``to``; return the provider's message id.

        The same ``idempotency_key`` never sends twice (payivr retries with it after a
        timeout). Raises :class:`SendFailed`.
        """
        ...

    async def close(self) -> None: ...


@dataclass(frozen=True)
class InboundMessage:
    """A text from a customer. ``provider_message_id`` makes redelivery harmless."""

    provider_message_id: str
    from_number: str
    to_number: str | None
    body: str = field(repr=False)
    received_at: datetime | None = None


class DeliveryStatus(enum.Enum):
    SENT = "sent"
    DELIVERED = "delivered"
    FAILED = "failed"


@dataclass(frozen=True)
class DeliveryReport:
    """What became of one of payivr's texts."""

    provider_message_id: str
    status: DeliveryStatus
    error: str | None = None


ProviderEvent = InboundMessage | DeliveryReport
EventHandler = Callable[[ProviderEvent], Awaitable[None]]
