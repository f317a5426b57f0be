"""Store errors. None of them carries the offending values: they might be card data."""

from __future__ import annotations

from uuid import UUID

from payivr.core.errors import PayivrError


class StoreError(PayivrError):
    """Base class for errors raised by payivr.store."""


class PaymentNotFound(StoreError):
    def __init__(self, payment_id: UUID) -> None:
        super().__init__(f"no payment {payment_id}")
        self.payment_id = payment_id


class PaymentAlreadyFinished(StoreError):
    def __init__(self, payment_id: UUID) -> None:
        super().__init__(f"payment {payment_id} already has its outcome")
        self.payment_id = payment_id


class CardDataRefused(StoreError):
    """A value looked like card data and was not stored (the value is not repeated here)."""

    def __init__(self, field: str) -> None:
        super().__init__(f"refused to store {field}: it looks like card data")
        self.field = field


class EventTooLarge(StoreError):
    """A console event does not fit in a PostgreSQL NOTIFY payload."""
