"""Events out: what call control tells the console, the store and anyone listening.

Events carry only what an agent may see: step statuses, digit counts, brand and last four,
outcomes and references. Listeners are called in order; one failing never stops the others
or the call.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

import structlog

from payivr.aio import cancel_and_wait
from payivr.core.events import AgentUpdate, Finish, PaymentMethod
from payivr.core.request import EntryKind, PrivacyMode

log = structlog.get_logger(__name__)


def _now() -> datetime:
    """When a payment event happened (``at``: the console shows how long each step took)."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class CallStarted:
    call_key: str
    agent: str | None
    caller_number: str | None
    entry: EntryKind
    agent_endpoint: str | None = None


@dataclass(frozen=True)
class CallEnded:
    call_key: str
    agent: str | None


@dataclass(frozen=True)
class PaymentStarted:
    payment_id: str
    call_key: str
    agent: str
    item: str
    amount_minor: int
    currency: str
    privacy_mode: PrivacyMode
    entry: EntryKind
    method: PaymentMethod = PaymentMethod.CARD
    language: str = "en"  # the prompts' language
    at: datetime = field(default_factory=_now, compare=False)


@dataclass(frozen=True)
class PaymentStepChanged:
    payment_id: str
    call_key: str
    agent: str
    update: AgentUpdate
    at: datetime = field(default_factory=_now, compare=False)


@dataclass(frozen=True)
class PaymentAuthorizing:
    """Every step is done: the payment is with the gateway."""

    payment_id: str
    call_key: str
    agent: str
    at: datetime = field(default_factory=_now, compare=False)


@dataclass(frozen=True)
class PaymentFinished:
    payment_id: str
    call_key: str
    agent: str
    finish: Finish
    at: datetime = field(default_factory=_now, compare=False)


@dataclass(frozen=True)
class PaymentFormRequested:
    """The agent keyed ``*7`` without an amount (or one that could not start): their console
    opens the payment request form for this call (None: the call ``Dial()`` bridged, not in
    payivr's hands), with ``amount_minor`` filled in when keyed and ``reason`` saying why it
    did not start."""

    call_key: str | None
    agent: str | None
    amount_minor: int | None
    currency: str
    reason: str | None = None


@dataclass(frozen=True)
class OutboundCallChanged:
    """An outbound call's progress: ``status`` (ringing-agent, ringing-customer, detecting,
    connected, ended) and, once ended, its ``outcome`` (answered, busy, no-answer...)."""

    outbound_id: str
    call_key: str
    agent: str
    campaign: str
    phone: str
    status: str
    outcome: str | None
    detail: str | None


PaymentEvent = (
    CallStarted
    | CallEnded
    | PaymentStarted
    | PaymentStepChanged
    | PaymentAuthorizing
    | PaymentFinished
    | OutboundCallChanged
    | PaymentFormRequested
)
Listener = Callable[[PaymentEvent], Awaitable[None]]
BatchListener = Callable[[list[PaymentEvent]], Awaitable[None]]
"""Given every event waiting for it at once (in order): one database round trip can carry
them all when events come faster than the round trips."""


def event_json(event: PaymentEvent) -> dict[str, Any]:
    """The event as the console and the bus show it (nothing an agent may not see)."""
    if isinstance(event, CallStarted):
        return {
            "type": "call_started",
            "call": event.call_key,
            "agent": event.agent,
            "caller_number": event.caller_number,
            "entry": event.entry.value,
        }
    if isinstance(event, CallEnded):
        return {"type": "call_ended", "call": event.call_key, "agent": event.agent}
    if isinstance(event, PaymentFormRequested):
        return {
            "type": "request_form",
            "call": event.call_key,
            "agent": event.agent,
            "amount_minor": event.amount_minor,
            "currency": event.currency,
            "reason": event.reason,
        }
    if isinstance(event, OutboundCallChanged):
        return {
            "type": "outbound",
            "outbound": event.outbound_id,
            "call": event.call_key,
            "agent": event.agent,
            "campaign": event.campaign,
            "phone": event.phone,
            "status": event.status,
            "outcome": event.outcome,
            "detail": event.detail,
        }
    if isinstance(event, PaymentStarted):
        return {
            "type": "payment_started",
            "payment": event.payment_id,
            "call": event.call_key,
            "agent": event.agent,
            "item": event.item,
            "amount_minor": event.amount_minor,
            "currency": event.currency,
            "privacy_mode": event.privacy_mode.value,
            "entry": event.entry.value,
            "method": event.method.value,
            "language": event.language,
            "at": event.at.isoformat(),
        }
    if isinstance(event, PaymentStepChanged):
        update = event.update
        brand = update.masked_card.brand if update.masked_card else update.brand
        return {
            "type": "step",
            "payment": event.payment_id,
            "call": event.call_key,
            "agent": event.agent,
            "step": update.step.value,
            "status": update.status.value,
            "digits_entered": update.digits_entered,
            "card": str(update.masked_card) if update.masked_card else None,
            "bank_account": (
                str(update.masked_bank_account) if update.masked_bank_account else None
            ),
            "detail": update.detail,
            "brand": brand.display_name if brand else None,
            "last_four": update.masked_card.last_four if update.masked_card else None,
            "confirming": update.confirming,
            "at": event.at.isoformat(),
        }
    if isinstance(event, PaymentAuthorizing):
        return {
            "type": "authorizing",
            "payment": event.payment_id,
            "call": event.call_key,
            "agent": event.agent,
            "at": event.at.isoformat(),
        }
    finish = event.finish
    return {
        "type": "payment_finished",
        "payment": event.payment_id,
        "call": event.call_key,
        "agent": event.agent,
        "outcome": finish.outcome.value,
        "succeeded": finish.outcome.succeeded,
        "reason": finish.reason,
        "reference": finish.reference,
        "card": str(finish.masked_card) if finish.masked_card else None,
        "bank_account": str(finish.masked_bank_account) if finish.masked_bank_account else None,
        "brand": finish.masked_card.brand.display_name if finish.masked_card else None,
        "last_four": finish.masked_card.last_four if finish.masked_card else None,
        "at": event.at.isoformat(),
    }


class _Subscription(NamedTuple):
    queue: asyncio.Queue[PaymentEvent]
    task: asyncio.Task[None]
    only: tuple[type[PaymentEvent], ...] | None


class Notifier:
    """Fans events out to listeners without making a call wait for any of them.

    Each listener has its own queue and task, so it sees every event in order, and a slow
    one (the console bus does a database round trip per batch) delays neither the calls nor
    the other listeners. A listener that falls :data:`MAX_BACKLOG` events behind loses the
    oldest ones, logged: a live view can catch up, a call must not stall.
    """

    MAX_BACKLOG = 10_000
    MAX_BATCH = 500

    def __init__(self) -> None:
        self._listeners: dict[Listener | BatchListener, _Subscription] = {}

    def subscribe(
        self, listener: Listener, only: tuple[type[PaymentEvent], ...] | None = None
    ) -> Callable[[], None]:
        """Add a listener, called with each event (of the types ``only`` names, when given);
        returns the function that removes it."""
        queue: asyncio.Queue[PaymentEvent] = asyncio.Queue()
        return self._add(listener, queue, self._deliver(listener, queue), only)

    def subscribe_batches(
        self,
        listener: BatchListener,
        linger: float = 0.0,
        only: tuple[type[PaymentEvent], ...] | None = None,
    ) -> Callable[[], None]:
        """Add a listener, called with all the events waiting for it (up to
        :data:`MAX_BATCH`; of the types ``only`` names, when given); returns the function
        that removes it.

        ``linger``: seconds to wait after an event for more to join its batch (a database
        round trip per batch rather than per event, however slowly events come)."""
        queue: asyncio.Queue[PaymentEvent] = asyncio.Queue()
        return self._add(listener, queue, self._deliver_batches(listener, queue, linger), only)

    def _add(
        self,
        listener: Listener | BatchListener,
        queue: asyncio.Queue[PaymentEvent],
        delivery: Coroutine[Any, Any, None],
        only: tuple[type[PaymentEvent], ...] | None,
    ) -> Callable[[], None]:
        self._listeners[listener] = _Subscription(queue, asyncio.create_task(delivery), only)

        def unsubscribe() -> None:
            entry = self._listeners.pop(listener, None)
            if entry is not None:
                entry.task.cancel()

        return unsubscribe

    async def publish(self, event: PaymentEvent) -> None:
        for queue, _, only in self._listeners.values():
            if only is not None and not isinstance(event, only):
                continue  # not even a wake-up of its task
            if queue.qsize() >= self.MAX_BACKLOG:
                dropped = queue.get_nowait()
                queue.task_done()  # or drain() would wait for it forever
                log.warning("listener_behind_event_dropped", dropped=type(dropped).__name__)
            queue.put_nowait(event)

    async def drain(self) -> None:
        """Wait until every listener has taken every event published so far."""
        for queue, _, _ in list(self._listeners.values()):
            await queue.join()

    async def aclose(self) -> None:
        tasks = [subscription.task for subscription in self._listeners.values()]
        self._listeners.clear()
        await cancel_and_wait(tasks)

    @staticmethod
    async def _deliver(listener: Listener, queue: asyncio.Queue[PaymentEvent]) -> None:
        while True:
            event = await queue.get()
            try:
                await listener(event)
            except Exception:
                log.exception("listener_failed", failed=type(event).__name__)
            finally:
                queue.task_done()

    async def _deliver_batches(
        self, listener: BatchListener, queue: asyncio.Queue[PaymentEvent], linger: float
    ) -> None:
        while True:
            batch = [await queue.get()]
            if linger:
                await asyncio.sleep(linger)
            while not queue.empty() and len(batch) < self.MAX_BATCH:
                batch.append(queue.get_nowait())
            try:
                await listener(batch)
            except Exception:
                log.exception("listener_failed", events=len(batch))
            finally:
                for _ in batch:
                    queue.task_done()
