"""Payments a stopped payivr left unfinished, settled at the next start (payivr.calls.recovery).

Real store on the test database, the in-process sandbox gateway; the end-to-end version, with
a real SIGKILL in every state, is tests/e2e/test_restarts.py.
"""

from __future__ import annotations

import asyncio
from uuid import UUID

import pytest

from payivr.calls.notifier import Notifier, PaymentEvent, PaymentFinished
from payivr.calls.recovery import (
    RESTARTED_BEFORE_CHARGING,
    RESTARTED_BEFORE_GATEWAY,
    RESTARTED_UNKNOWN,
    PaymentRecovery,
)
from payivr.core.events import Outcome, Step, StepStatus
from payivr.core.request import EntryKind
from payivr.gateway.inprocess import InProcessGateway
from payivr.gateway.interface import NO_RECORD_REASON, RequestNotFound
from payivr.store import Database, NewPayment, PaymentState, PaymentStore
from tests.gateway._gateway_helpers import card

APPROVED_CARD = "4242424242424242"
DECLINED_CARD = "4000000000009995"  # insufficient funds


@pytest.fixture
def store(database: Database) -> PaymentStore:
    return PaymentStore(database)


@pytest.fixture
def gateway() -> InProcessGateway:
    return InProcessGateway()


@pytest.fixture
async def finished_events() -> asyncio.Queue[PaymentFinished]:
    return asyncio.Queue()


@pytest.fixture
async def recovery(
    store: PaymentStore, gateway: InProcessGateway, finished_events: asyncio.Queue[PaymentFinished]
) -> PaymentRecovery:
    notifier = Notifier()

    async def listen(event: PaymentEvent) -> None:
        if isinstance(event, PaymentFinished):
            finished_events.put_nowait(event)

    notifier.subscribe(listen)
    return PaymentRecovery(store, gateway, notifier)


async def new_payment(
    store: PaymentStore, *, entry: EntryKind = EntryKind.TAKEOVER, charging: bool = False
) -> UUID:
    payment_id = await store.create_payment(
        NewPayment("call-1795290000.1", "alice", "Annual plan", 13742, "USD", entry)
    )
    await store.update_step(payment_id, Step.CARD_NUMBER, StepStatus.DONE)
    if charging:
        await store.mark_authorizing(payment_id)
    return payment_id


async def test_a_payment_stopped_while_keying_is_cancelled_and_the_agent_told(
    store: PaymentStore,
    recovery: PaymentRecovery,
    gateway: InProcessGateway,
    finished_events: asyncio.Queue[PaymentFinished],
) -> None:
    payment_id = await new_payment(store)
    settled = await recovery.settle(await recovery.interrupted())
    payment = await store.get_payment(payment_id)
    assert (payment.outcome, payment.reason) == (Outcome.CANCELLED, RESTARTED_BEFORE_CHARGING)
    assert [s.payment_id for s in settled] == [str(payment_id)]
    told = await asyncio.wait_for(finished_events.get(), 5)
    assert (told.payment_id, told.call_key, told.agent) == (
        str(payment_id),
        "call-1795290000.1",
        "alice",
    )
    assert told.finish.outcome is Outcome.CANCELLED
    assert gateway.processor.ledger.charges() == 0
    audit = await store.list_audit(payment_id=payment_id)
    assert [(a.action, a.detail) for a in audit] == [("payment.recovered", "cancelled")]


async def test_a_charge_the_gateway_made_is_recorded_as_approved(
    store: PaymentStore, recovery: PaymentRecovery, gateway: InProcessGateway
) -> None:
    payment_id = await new_payment(store, charging=True)
    sale = await gateway.sale(card(APPROVED_CARD), 13742, "USD", str(payment_id))
    await recovery.settle(await recovery.interrupted())
    payment = await store.get_payment(payment_id)
    assert payment.outcome is Outcome.APPROVED
    assert payment.gateway_reference == getattr(sale, "reference", None) is not None
    assert gateway.processor.ledger.charges(str(payment_id)) == 1


async def test_a_charge_never_marked_as_charging_is_still_found(
    store: PaymentStore, recovery: PaymentRecovery, gateway: InProcessGateway
) -> None:
    """The database was away when the charge was sent (the mark is best effort): the
    gateway is asked anyway, and the money it moved is not reported as 'nothing charged'."""
    payment_id = await new_payment(store)
    await gateway.sale(card(APPROVED_CARD), 13742, "USD", str(payment_id))
    await recovery.settle(await recovery.interrupted())
    assert (await store.get_payment(payment_id)).outcome is Outcome.APPROVED


async def test_a_charge_the_gateway_declined_is_recorded_as_declined(
    store: PaymentStore, recovery: PaymentRecovery, gateway: InProcessGateway
) -> None:
    payment_id = await new_payment(store, charging=True)
    await gateway.sale(card(DECLINED_CARD), 13742, "USD", str(payment_id))
    await recovery.settle(await recovery.interrupted())
    payment = await store.get_payment(payment_id)
    assert payment.outcome is Outcome.DECLINED
    assert payment.reason and "insufficient funds" in payment.reason


async def test_a_charge_that_never_reached_the_gateway_charged_nothing(
    store: PaymentStore, recovery: PaymentRecovery, gateway: InProcessGateway
) -> None:
    payment_id = await new_payment(store, charging=True)
    await recovery.settle(await recovery.interrupted())
    payment = await store.get_payment(payment_id)
    assert (payment.outcome, payment.reason) == (Outcome.CANCELLED, RESTARTED_BEFORE_GATEWAY)
    assert gateway.processor.ledger.charges() == 0


async def test_a_gateway_that_cannot_say_yet_is_asked_again_until_it_does(
    store: PaymentStore, recovery: PaymentRecovery, gateway: InProcessGateway
) -> None:
    """The charge is still being processed when payivr starts again (the sale was sent just
    before the kill): pending, then approved once the gateway has finished."""
    payment_id = await new_payment(store, charging=True)
    gateway.faults.latency = 0.5
    sale = asyncio.create_task(gateway.sale(card(APPROVED_CARD), 13742, "USD", str(payment_id)))
    for _ in range(500):  # until the sale has reached the gateway
        if not isinstance(await gateway.status(str(payment_id)), RequestNotFound):
            break
        await asyncio.sleep(0.01)
    assert await recovery.settle(await recovery.interrupted()) == []
    pending = await store.get_payment(payment_id)
    assert pending.state is not PaymentState.FINISHED
    assert pending.needs_reconciliation
    assert (pending.outcome, pending.reason) == (Outcome.PENDING, RESTARTED_UNKNOWN)
    await sale
    settled = await recovery.reconcile_pending()
    assert [s.finish.outcome for s in settled] == [Outcome.APPROVED]
    assert gateway.processor.ledger.charges(str(payment_id)) == 1


async def test_text_and_finished_payments_are_left_alone_and_a_second_start_does_nothing(
    store: PaymentStore, recovery: PaymentRecovery
) -> None:
    text = await new_payment(store, entry=EntryKind.TEXT, charging=True)
    done = await new_payment(store)
    await store.record_outcome(done, Outcome.TIMED_OUT, reason="no input")
    keyed = await new_payment(store)
    first = await recovery.settle(await recovery.interrupted())
    second = await recovery.settle(await recovery.interrupted())
    assert [s.payment_id for s in first] == [str(keyed)]
    assert second == []
    assert (await store.get_payment(text)).state is PaymentState.AUTHORIZING
    assert (await store.get_payment(done)).outcome is Outcome.TIMED_OUT


async def test_a_lost_answer_the_gateway_never_got_is_no_charge_not_a_restart(
    store: PaymentStore, recovery: PaymentRecovery
) -> None:
    """While payivr runs: the gateway did not answer (pending), and later has no record."""
    payment_id = await new_payment(store, charging=True)
    await store.mark_needs_reconciliation(payment_id, "the gateway did not answer")
    (settled,) = await recovery.reconcile_pending()
    payment = await store.get_payment(payment_id)
    assert (payment.outcome, payment.reason) == (Outcome.GATEWAY_ERROR, NO_RECORD_REASON)
    assert settled.finish.outcome is Outcome.GATEWAY_ERROR


async def test_run_settles_the_interrupted_in_the_background_then_keeps_reconciling(
    store: PaymentStore, recovery: PaymentRecovery, gateway: InProcessGateway
) -> None:
    keyed = await new_payment(store)
    interrupted = await recovery.interrupted()
    charging = await new_payment(store, charging=True)  # this run's own, after the start
    await store.mark_needs_reconciliation(charging, "the gateway did not answer")
    await gateway.sale(card(APPROVED_CARD), 13742, "USD", str(charging))
    running = asyncio.create_task(recovery.run(interrupted, interval=0.05))
    try:
        for _ in range(500):
            if (await store.get_payment(charging)).outcome is Outcome.APPROVED:
                break
            await asyncio.sleep(0.02)
    finally:
        running.cancel()
    assert (await store.get_payment(charging)).outcome is Outcome.APPROVED
    assert (await store.get_payment(keyed)).outcome is Outcome.CANCELLED
