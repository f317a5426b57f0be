"""Call payments a stopped payivr left unfinished, settled from the database and the gateway.

The digits of a payment live only in the process that collected them, so after a crash
(SIGKILL, power loss) no payment can resume where it was. At start, every unfinished call
payment in the database ends from what the gateway says, asked in the background by the
payment's idempotency key (also those never marked as charging: that mark is best effort
while the database is away). Approved and declined are stored as it says; a key it never
saw means nothing was charged (cancelled); no answer leaves the payment pending (needs
reconciliation), asked again every ``interval`` until it is settled, like the payments
whose answer was lost while payivr ran. Nothing is ever charged again.

The calls themselves are taken back by :meth:`StasisApplication.reconcile`. Text payments
belong to the SMS service (``payivr.sms.service``: ``reconcile``/``repair``).

Several payivr instances may share the database (README "Running several PBXs"): each
settles only the payments taken on the Asterisk it serves (by its entity id), at start or
when it takes that Asterisk over from an instance that stopped. An outcome that the instance
running the call stores after all is never dropped (:meth:`PaymentStore.record_late_outcome`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

import structlog

from payivr.calls.notifier import Notifier, PaymentFinished
from payivr.core.events import Finish, Outcome
from payivr.core.request import EntryKind
from payivr.gateway.interface import (
    NO_RECORD_REASON,
    Approved,
    Declined,
    Error,
    Gateway,
    RequestNotFound,
    Unknown,
)
from payivr.store import (
    Origin,
    Payment,
    PaymentAlreadyFinished,
    PaymentState,
    PaymentStore,
)

log = structlog.get_logger(__name__)

RECONCILE_INTERVAL_SECONDS = 60.0
RESTARTED_BEFORE_CHARGING = "payivr restarted during the payment; nothing was charged"
RESTARTED_BEFORE_GATEWAY = (
    "payivr restarted before the charge reached the gateway; nothing was charged"
)
RESTARTED_UNKNOWN = "payivr restarted; the gateway will be asked again whether it charged"


@dataclass(frozen=True)
class Settlement:
    """What became of one unfinished payment."""

    payment_id: str
    finish: Finish


class PaymentRecovery:
    """``asterisk_id``: the entity id of the Asterisk this payivr serves; None: every one."""

    def __init__(
        self,
        store: PaymentStore,
        gateway: Gateway,
        notifier: Notifier,
        asterisk_id: str | None = None,
    ) -> None:
        self.store = store
        self.gateway = gateway
        self.notifier = notifier
        self.asterisk_id = asterisk_id

    async def interrupted(self) -> list[Payment]:
        """The unfinished call payments a previous run on this Asterisk left. Ask before
        this run takes any call: afterwards the list would hold this run's live payments too."""
        payments = await self.store.list_in_flight(self.asterisk_id)
        return [p for p in payments if p.entry_kind is not EntryKind.TEXT]

    async def settle(self, interrupted: Sequence[Payment]) -> list[Settlement]:
        """End each of the ``interrupted`` payments from what the gateway says."""
        settled = []
        for payment in interrupted:
            settlement = await self._ask_gateway(payment, restarted=True)
            if settlement is not None:
                settled.append(settlement)
        if settled:
            log.info("interrupted_payments_settled", count=len(settled))
        return settled

    async def reconcile_pending(self) -> list[Settlement]:
        """Ask the gateway about call payments whose outcome is still unknown."""
        settled = []
        for payment in await self.store.list_needing_reconciliation(self.asterisk_id):
            if payment.entry_kind is EntryKind.TEXT:
                continue
            settlement = await self._ask_gateway(payment, restarted=False)
            if settlement is not None:
                settled.append(settlement)
        return settled

    async def run(
        self, interrupted: Sequence[Payment], interval: float = RECONCILE_INTERVAL_SECONDS
    ) -> None:
        """Settle ``interrupted``, then reconcile pending payments every ``interval`` seconds,
        for ever. In the background: a slow gateway never holds up the calls."""
        unsettled = list(interrupted)
        while True:
            try:
                if unsettled:
                    await self.settle(unsettled)
                    unsettled = []
                await self.reconcile_pending()
            except Exception as error:  # the database or the gateway is away: next round
                log.warning("reconciliation_failed", error=type(error).__name__)
            await asyncio.sleep(interval)

    async def _ask_gateway(self, payment: Payment, *, restarted: bool) -> Settlement | None:
        result = await self.gateway.status(payment.idempotency_key)
        match result:
            case Approved():
                finish = Finish(Outcome.APPROVED, "approved", result.reference)
            case Declined():
                finish = Finish(Outcome.DECLINED, result.reason)
            case RequestNotFound() if not restarted:
                finish = Finish(Outcome.GATEWAY_ERROR, NO_RECORD_REASON)
            case RequestNotFound() if payment.state is PaymentState.AUTHORIZING:
                finish = Finish(Outcome.CANCELLED, RESTARTED_BEFORE_GATEWAY)
            case RequestNotFound():
                finish = Finish(Outcome.CANCELLED, RESTARTED_BEFORE_CHARGING)
            case Error() | Unknown():
                if not payment.needs_reconciliation:
                    await self.store.mark_needs_reconciliation(payment.id, RESTARTED_UNKNOWN)
                log.info("payment_still_unknown", payment_id=str(payment.id))
                return None
        return await self._finish(payment, finish)

    async def _finish(self, payment: Payment, finish: Finish) -> Settlement | None:
        try:
            await self.store.record_outcome(
                payment.id, finish.outcome, reason=finish.reason, gateway_reference=finish.reference
            )
        except PaymentAlreadyFinished:
            return None
        await self.store.append_audit(
            actor="payivr",
            action="payment.recovered",
            success=finish.outcome is Outcome.APPROVED,
            origin=Origin.system(),
            resource=f"payment:{payment.id}",
            payment_id=payment.id,
            detail=finish.outcome.value,
        )
        log.info("payment_recovered", payment_id=str(payment.id), outcome=finish.outcome.value)
        await self.notifier.publish(
            PaymentFinished(str(payment.id), payment.call_id, payment.agent, finish)
        )
        return Settlement(str(payment.id), finish)
