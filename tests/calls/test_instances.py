"""Several payivr instances on one database (issue 16 §1).

Each instance's sessions carry its identity (instance name, Asterisk entity id), so what it
inserts records them; the restart recovery settles its own Asterisk's payments only; an
outcome arriving for a payment another instance already settled is never dropped silently.
Real stores on the test database, the in-process sandbox gateway.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from uuid import UUID

import pytest

from payivr.calls.notifier import Notifier
from payivr.calls.records import StoreRecords
from payivr.calls.recovery import RESTARTED_BEFORE_GATEWAY, PaymentRecovery
from payivr.core.events import Finish, Outcome, Step, StepStatus
from payivr.core.request import EntryKind
from payivr.gateway.inprocess import InProcessGateway
from payivr.gateway.interface import Approved
from payivr.store import Database, NewPayment, PaymentStore
from payivr.store.cluster import Identity
from tests.gateway._gateway_helpers import card

FIRST = Identity("pay-a1", "02:fc:00:00:00:01")
SECOND = Identity("pay-b", "02:fc:00:00:00:02")


async def _open(url: str, identity: Identity) -> Database:
    return await Database.connect(
        url, max_size=2, migrate=False, settings=identity.session_settings
    )


@pytest.fixture
async def first_db(database_url: str) -> AsyncIterator[Database]:
    db = await _open(database_url, FIRST)
    yield db
    await db.close()


@pytest.fixture
async def second_db(database_url: str) -> AsyncIterator[Database]:
    db = await _open(database_url, SECOND)
    yield db
    await db.close()


async def keying(store: PaymentStore, *, charging: bool = False) -> UUID:
    payment_id = await store.create_payment(
        NewPayment("call-1795290000.1", "alice", "Annual plan", 13742, "USD", EntryKind.TAKEOVER)
    )
    await store.update_step(payment_id, Step.CARD_NUMBER, StepStatus.DONE)
    if charging:
        await store.mark_authorizing(payment_id)
    return payment_id


async def test_payments_record_the_instance_and_the_asterisk(first_db: Database) -> None:
    store = PaymentStore(first_db)
    payment = await store.get_payment(await keying(store))
    assert (payment.instance, payment.asterisk_id) == (FIRST.instance, FIRST.asterisk_id)


async def test_a_restart_settles_its_own_asterisks_payments_only(
    first_db: Database, second_db: Database
) -> None:
    first, second = PaymentStore(first_db), PaymentStore(second_db)
    live_on_first = await keying(first)
    left_on_second = await keying(second)
    gateway = InProcessGateway()
    recovery = PaymentRecovery(second, gateway, Notifier(), SECOND.asterisk_id)

    interrupted = await recovery.interrupted()
    assert [p.id for p in interrupted] == [left_on_second]
    await recovery.settle(interrupted)

    assert (await second.get_payment(left_on_second)).outcome is Outcome.CANCELLED
    untouched = await first.get_payment(live_on_first)
    assert untouched.outcome is None and untouched.state.value == "collecting"


async def test_an_approval_after_another_instance_settled_the_payment_wins_and_is_audited(
    first_db: Database, database_url: str
) -> None:
    """The standby took the Asterisk over while the old active still charged: the standby's
    recovery asked the gateway first (no record: cancelled), then the charge went through."""
    store = PaymentStore(first_db, crm_endpoints=["crm"])
    payment_id = await keying(store, charging=True)
    gateway = InProcessGateway()
    standby_db = await _open(database_url, Identity("pay-a2", FIRST.asterisk_id))
    try:
        standby_store = PaymentStore(standby_db, crm_endpoints=["crm"])
        recovery = PaymentRecovery(standby_store, gateway, Notifier(), FIRST.asterisk_id)
        await recovery.settle(await recovery.interrupted())
    finally:
        await standby_db.close()
    settled = await store.get_payment(payment_id)
    assert (settled.outcome, settled.reason) == (Outcome.CANCELLED, RESTARTED_BEFORE_GATEWAY)

    approval = await gateway.sale(card("4242424242424242"), 13742, "USD", str(payment_id))
    assert isinstance(approval, Approved)
    records = StoreRecords(store)
    await records.finish(str(payment_id), Finish(Outcome.APPROVED, "approved", approval.reference))
    await records.drain()

    payment = await store.get_payment(payment_id)
    assert payment.outcome is Outcome.APPROVED
    assert payment.gateway_reference == approval.reference
    audit = [
        e for e in await store.list_audit(payment_id=payment_id) if e.action != "payment.recovered"
    ]
    assert [(e.action, e.detail) for e in audit] == [
        ("payment.outcome_corrected", "approved arrived after cancelled")
    ]
    async with first_db.pool.connection() as conn:
        cursor = await conn.execute(
            "SELECT activity->>'Payment Status' FROM crm_outbox WHERE payment_id = %s ORDER BY created_at",
            (payment_id,),
        )
        assert [row[0] for row in await cursor.fetchall()] == ["Failed", "Success"]


async def test_a_late_outcome_where_no_money_moved_changes_nothing_but_is_audited(
    first_db: Database,
) -> None:
    store = PaymentStore(first_db)
    payment_id = await keying(store, charging=True)
    await store.record_outcome(payment_id, Outcome.APPROVED, gateway_reference="ch_1")
    records = StoreRecords(store)
    await records.finish(str(payment_id), Finish(Outcome.APPROVED, "approved", "ch_1"))
    await records.finish(str(payment_id), Finish(Outcome.DECLINED, "insufficient funds"))
    await records.drain()

    payment = await store.get_payment(payment_id)
    assert (payment.outcome, payment.gateway_reference) == (Outcome.APPROVED, "ch_1")
    assert [(e.action, e.detail) for e in await store.list_audit(payment_id=payment_id)] == [
        ("payment.outcome_late", "declined arrived after approved")
    ]
