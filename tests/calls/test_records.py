"""StoreRecords on the test database: three writes per payment, progress with the last two.

A payment's row is written when it opens (its idempotency key before anything is keyed);
the caller's steps, brand and last four stay in memory until the authorizing mark (before
the card leaves) and the outcome carry them.
"""

from __future__ import annotations

import uuid

import pytest

from payivr.calls.records import PaymentOpening, StoreRecords
from payivr.core.events import Finish, Outcome, Step, StepStatus
from payivr.core.request import EntryKind, PrivacyMode
from payivr.store import Database, PaymentState, PaymentStore

OPENING = PaymentOpening(
    call_key="call-1",
    agent="alice",
    agent_channel="PJSIP/1001-00000001",
    item="Invoice 1001",
    amount_minor=13742,
    currency="USD",
    entry=EntryKind.TAKEOVER,
    privacy_mode=PrivacyMode.HOLD,
    caller_number=None,
    crm_record_id=None,
)


@pytest.fixture
def store(database: Database) -> PaymentStore:
    return PaymentStore(database)


async def test_steps_are_stored_with_the_authorizing_mark_and_the_outcome(
    store: PaymentStore,
) -> None:
    records = StoreRecords(store)
    payment_id = await records.open(OPENING)
    opened = await store.get_payment(uuid.UUID(payment_id))

    await records.step(payment_id, Step.AMOUNT, StepStatus.DONE)
    await records.step(payment_id, Step.CARD_NUMBER, StepStatus.ENTERING)
    await records.card(payment_id, "visa", "4242")
    await records.step(payment_id, Step.CARD_NUMBER, StepStatus.DONE)
    keyed = await store.get_payment(uuid.UUID(payment_id))
    assert keyed == opened  # no write per step
    assert keyed.state is PaymentState.REQUESTED

    await records.authorizing(payment_id, payment_id)  # the first charge: its key
    authorizing = await store.get_payment(uuid.UUID(payment_id))
    assert authorizing.state is PaymentState.AUTHORIZING
    assert authorizing.steps[Step.AMOUNT] is StepStatus.DONE
    assert authorizing.steps[Step.CARD_NUMBER] is StepStatus.DONE
    assert authorizing.steps[Step.EXPIRY] is StepStatus.WAITING
    assert (authorizing.brand, authorizing.last_four) == ("visa", "4242")

    for step in (Step.EXPIRY, Step.SECURITY_CODE, Step.POSTAL_CODE):
        await records.step(payment_id, step, StepStatus.DONE)
    await records.finish(payment_id, Finish(Outcome.APPROVED, "approved", "ch_1"))
    await records.drain()
    finished = await store.get_payment(uuid.UUID(payment_id))
    assert finished.state is PaymentState.FINISHED
    assert finished.outcome is Outcome.APPROVED
    assert set(finished.steps.values()) == {StepStatus.DONE}
    assert (finished.brand, finished.last_four) == ("visa", "4242")


async def test_a_payment_that_fails_before_authorizing_keeps_its_steps_in_the_outcome(
    store: PaymentStore,
) -> None:
    records = StoreRecords(store)
    payment_id = await records.open(OPENING)
    await records.step(payment_id, Step.AMOUNT, StepStatus.DONE)
    await records.step(payment_id, Step.CARD_NUMBER, StepStatus.FAILED)
    await records.finish(payment_id, Finish(Outcome.ATTEMPTS_EXHAUSTED, "card number failed 3 times"))
    await records.drain()

    finished = await store.get_payment(uuid.UUID(payment_id))
    assert finished.outcome is Outcome.ATTEMPTS_EXHAUSTED
    assert finished.steps[Step.AMOUNT] is StepStatus.DONE
    assert finished.steps[Step.CARD_NUMBER] is StepStatus.FAILED
    assert finished.steps[Step.EXPIRY] is StepStatus.WAITING
