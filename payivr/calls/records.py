"""Where call control keeps payments: PostgreSQL through the store, or memory (rehearsals).

An outcome is never lost: when the database does not answer, :class:`StoreRecords` keeps
retrying in the background (with backoff) while the call goes on; the caller is reconnected
without waiting for it. Progress (step statuses, brand and last four) goes in the same
write, so the finished row says what the caller keyed. A payivr stopped before the
database came back leaves the payment unfinished: the restart recovery settles it from the
gateway (:mod:`payivr.calls.recovery`).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

import psycopg
import psycopg_pool
import structlog

from payivr.core.bank import MaskedBankAccount
from payivr.core.events import Finish, Outcome, PaymentMethod, Step, StepStatus
from payivr.core.request import EntryKind, PrivacyMode
from payivr.store.errors import PaymentAlreadyFinished
from payivr.store.models import NewPayment, Progress
from payivr.store.payments import PaymentStore

log = structlog.get_logger(__name__)

RETRY_DELAYS = (0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
AUTHORIZING_MARK_SECONDS = 2.0
_DATABASE_AWAY = (OSError, psycopg.OperationalError, psycopg_pool.PoolTimeout)


@dataclass(frozen=True)
class PaymentOpening:
    call_key: str
    agent: str
    agent_channel: str | None
    item: str
    amount_minor: int
    currency: str
    entry: EntryKind
    privacy_mode: PrivacyMode
    caller_number: str | None
    crm_record_id: str | None
    method: PaymentMethod = PaymentMethod.CARD


class PaymentRecords(Protocol):
    async def open(self, opening: PaymentOpening) -> str:
        """Store the payment before anything is keyed; its id is the idempotency key."""

    async def step(self, payment_id: str, step: Step, status: StepStatus) -> None: ...

    async def card(self, payment_id: str, brand: str, last_four: str) -> None: ...

    async def bank_account(self, payment_id: str, account: MaskedBankAccount) -> None: ...

    async def authorizing(self, payment_id: str, idempotency_key: str) -> None:
        """The charge keyed ``idempotency_key`` is about to be sent."""

    async def finish(self, payment_id: str, finish: Finish) -> None:
        """Record the outcome (and queue its CRM activity). Must not lose it."""

    async def drain(self) -> None:
        """Wait until every outcome handed to :meth:`finish` is stored."""


class StoreRecords:
    """Three writes per payment: the payment at its start, its progress with the
    authorizing mark, and its progress with the outcome.

    Progress (step statuses, brand and last four, bank account type and last two) is kept
    in memory between them: the console sees each step from the notifier, not from the
    row, and a payment a crash leaves unfinished is settled from the gateway whatever its
    row says of the steps (:mod:`payivr.calls.recovery`). What the restart guarantees need
    is written before the charge: the payment and its idempotency key at the start, the
    authorizing mark before the card leaves. Outcomes are written with retries until
    stored, in the background, so the caller never waits on the database after the start.
    """

    def __init__(self, store: PaymentStore) -> None:
        self._store = store
        self._writes: set[asyncio.Task[None]] = set()
        self._progress: dict[str, Progress] = {}

    async def open(self, opening: PaymentOpening) -> str:
        payment_id = await self._store.create_payment(
            NewPayment(
                call_id=opening.call_key,
                agent=opening.agent,
                item_name=opening.item,
                amount_minor=opening.amount_minor,
                currency=opening.currency,
                entry_kind=opening.entry,
                privacy_mode=opening.privacy_mode,
                agent_channel=opening.agent_channel,
                caller_number=opening.caller_number,
                crm_record_id=opening.crm_record_id,
                payment_method=opening.method,
            )
        )
        self._progress[str(payment_id)] = Progress()
        return str(payment_id)

    async def step(self, payment_id: str, step: Step, status: StepStatus) -> None:
        self._progress_of(payment_id).steps[step] = status

    async def card(self, payment_id: str, brand: str, last_four: str) -> None:
        progress = self._progress_of(payment_id)
        progress.brand, progress.last_four = brand, last_four

    async def bank_account(self, payment_id: str, account: MaskedBankAccount) -> None:
        progress = self._progress_of(payment_id)
        progress.bank_account_type = account.account_type
        progress.bank_account_last_two = account.last_two

    async def authorizing(self, payment_id: str, idempotency_key: str) -> None:
        """Awaited, so that a crash once the charge may be sent finds it marked; bounded, so
        that a database away does not hold the caller in silence (the restart recovery asks
        the gateway about every unfinished payment, marked or not)."""
        try:
            async with asyncio.timeout(AUTHORIZING_MARK_SECONDS):
                await self._store.mark_authorizing(
                    uuid.UUID(payment_id),
                    self._progress_of(payment_id),
                    None if idempotency_key == payment_id else idempotency_key,
                )
        except (TimeoutError, *_DATABASE_AWAY) as error:
            log.warning("authorizing_not_marked", payment_id=payment_id, error=type(error).__name__)

    async def finish(self, payment_id: str, finish: Finish) -> None:
        progress = self._progress.pop(payment_id, None)
        task = asyncio.create_task(self._write_outcome(uuid.UUID(payment_id), finish, progress))
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def drain(self) -> None:
        while self._writes:
            await asyncio.gather(*list(self._writes))

    def _progress_of(self, payment_id: str) -> Progress:
        return self._progress.setdefault(payment_id, Progress())

    async def _write_outcome(
        self, payment_id: uuid.UUID, finish: Finish, progress: Progress | None
    ) -> None:
        async def write() -> None:
            if finish.outcome is Outcome.PENDING:
                await self._store.mark_needs_reconciliation(payment_id, finish.reason, progress)
            else:
                await self._store.record_outcome(
                    payment_id,
                    finish.outcome,
                    reason=finish.reason,
                    gateway_reference=finish.reference,
                    progress=progress,
                )

        async def write_late() -> None:
            await self._store.record_late_outcome(
                payment_id, finish.outcome, reason=finish.reason, gateway_reference=finish.reference
            )

        try:
            try:
                await self._until_stored(write, "outcome", payment_id=str(payment_id))
            except PaymentAlreadyFinished:
                # An earlier attempt was stored and its answer lost, or another instance
                # settled the payment meanwhile: if money moved, this outcome wins.
                await self._until_stored(write_late, "outcome", payment_id=str(payment_id))
        except Exception:
            log.exception("outcome_refused", payment_id=str(payment_id))

    @staticmethod
    async def _until_stored(
        write: Callable[[], Awaitable[None]], what: str, **context: str
    ) -> None:
        """Run ``write`` until the database takes it; other errors are raised."""
        attempt = 0
        while True:
            try:
                await write()
                return
            except _DATABASE_AWAY as error:
                delay = RETRY_DELAYS[min(attempt, len(RETRY_DELAYS) - 1)]
                log.warning(
                    f"{what}_not_stored_yet", error=type(error).__name__, retry_in=delay, **context
                )
            attempt += 1
            await asyncio.sleep(delay)
