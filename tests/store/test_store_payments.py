from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from _store_helpers import new_payment

from payivr.core.events import Outcome, Step, StepStatus
from payivr.store import (
    CardDataRefused,
    Origin,
    OriginKind,
    PaymentAlreadyFinished,
    PaymentNotFound,
    PaymentState,
    PaymentStore,
    crm_list,
)


async def test_payment_lifecycle_is_stored(store: PaymentStore, clock):
    payment_id = await store.create_payment(new_payment())
    created = await store.get_payment(payment_id)
    assert created.state is PaymentState.REQUESTED
    assert created.idempotency_key == str(payment_id)
    assert set(created.steps.values()) == {StepStatus.WAITING}

    clock.advance(seconds=3)
    await store.update_step(payment_id, Step.AMOUNT, StepStatus.DONE)
    await store.update_step(payment_id, Step.CARD_NUMBER, StepStatus.ENTERING)
    await store.record_card(payment_id, brand="visa", last_four="4242")
    await store.update_step(payment_id, Step.CARD_NUMBER, StepStatus.DONE)
    await store.update_step(payment_id, Step.POSTAL_CODE, StepStatus.SKIPPED)
    await store.mark_authorizing(payment_id)

    authorizing = await store.get_payment(payment_id)
    assert authorizing.state is PaymentState.AUTHORIZING
    assert authorizing.steps[Step.AMOUNT] is StepStatus.DONE
    assert authorizing.steps[Step.POSTAL_CODE] is StepStatus.SKIPPED
    assert (authorizing.brand, authorizing.last_four) == ("visa", "4242")
    assert authorizing.updated_at == clock.now

    finished = await store.record_outcome(payment_id, Outcome.APPROVED, gateway_reference="ch_1")
    assert finished.state is PaymentState.FINISHED
    assert finished.outcome is Outcome.APPROVED
    assert finished.finished_at == clock.now
    assert await store.list_in_flight() == []


async def test_outcome_and_its_crm_activity_are_written_together(store, database, clock):
    payment_id = await store.create_payment(new_payment())
    payment = await store.record_outcome(payment_id, Outcome.APPROVED, gateway_reference="ch_9")

    [entry] = await crm_list(database)
    assert entry.payment_id == payment_id
    assert entry.activity == {
        "Agent": "Alice Agent",
        "Product Name": "Annual subscription",
        "Transaction ID": "ch_9",
        "Amount Charged": "$12.34",
        "Payment Status": "Success",
        "Timestamp": payment.finished_at.astimezone(UTC).isoformat(timespec="seconds"),
        "Amount Requested": "$12.34",
        "Payment ID": str(payment_id),
        "Call ID": "1732222222.42",
        "Caller Number": "+15551230000",
        "CRM Record ID": "0035g00000XyZ12AAB",
    }


async def test_failed_outcome_charged_nothing_and_has_no_transaction(store, database):
    payment_id = await store.create_payment(new_payment(crm_record_id=None, currency="EUR"))
    await store.record_outcome(payment_id, Outcome.TIMED_OUT, reason="no input for 60 s")

    [entry] = await crm_list(database)
    assert entry.activity["Payment Status"] == "Failed"
    assert entry.activity["Transaction ID"] == ""  # not payivr's own id: that is Payment ID
    assert entry.activity["Payment ID"] == str(payment_id)
    assert entry.activity["Amount Charged"] == "€0.00"
    assert entry.activity["Amount Requested"] == "€12.34"
    # ISO 8601 with its zone, so a CRM in another time zone reads the right moment.
    stamp = datetime.fromisoformat(entry.activity["Timestamp"])
    assert stamp.utcoffset() == timedelta(0)
    assert "CRM Record ID" not in entry.activity


async def test_outcome_is_recorded_once(store, database):
    payment_id = await store.create_payment(new_payment())
    await store.record_outcome(payment_id, Outcome.DECLINED, reason="card declined")

    with pytest.raises(PaymentAlreadyFinished):
        await store.record_outcome(payment_id, Outcome.APPROVED)
    with pytest.raises(PaymentAlreadyFinished):
        await store.update_step(payment_id, Step.AMOUNT, StepStatus.DONE)
    assert len(await crm_list(database)) == 1
    assert (await store.get_payment(payment_id)).outcome is Outcome.DECLINED


async def test_unknown_payment(store):
    payment = await store.create_payment(new_payment())
    unknown = type(payment)(int=payment.int ^ 1)
    with pytest.raises(PaymentNotFound):
        await store.get_payment(unknown)
    with pytest.raises(PaymentNotFound):
        await store.mark_authorizing(unknown)
    with pytest.raises(PaymentNotFound):
        await store.record_outcome(unknown, Outcome.APPROVED)


async def test_pending_needs_reconciliation_and_queues_no_activity(store, database, clock):
    collecting = await store.create_payment(new_payment())
    await store.update_step(collecting, Step.AMOUNT, StepStatus.ENTERING)
    clock.advance(seconds=1)
    unknown = await store.create_payment(new_payment())
    await store.mark_authorizing(unknown)
    await store.mark_needs_reconciliation(unknown, "gateway timeout")
    with pytest.raises(ValueError):
        await store.record_outcome(unknown, Outcome.PENDING)

    assert [p.id for p in await store.list_in_flight()] == [collecting, unknown]
    [pending] = await store.list_needing_reconciliation()
    assert (pending.id, pending.outcome, pending.state) == (
        unknown,
        Outcome.PENDING,
        PaymentState.AUTHORIZING,
    )
    assert await crm_list(database) == []

    resolved = await store.record_outcome(unknown, Outcome.APPROVED, gateway_reference="ch_5")
    assert not resolved.needs_reconciliation
    assert await store.list_needing_reconciliation() == []
    assert len(await crm_list(database)) == 1


async def test_history_filters_by_agent_and_time(store, clock):
    old = await store.create_payment(new_payment(agent="Bob"))
    clock.advance(hours=1)
    since = clock.now
    newer_bob = await store.create_payment(new_payment(agent="Bob"))
    clock.advance(seconds=1)
    newest_alice = await store.create_payment(new_payment(agent="Alice"))

    assert [p.id for p in await store.list_payments()] == [newest_alice, newer_bob, old]
    assert [p.id for p in await store.list_payments(agent="Bob")] == [newer_bob, old]
    assert [p.id for p in await store.list_payments(since=since)] == [newest_alice, newer_bob]
    assert [p.id for p in await store.list_payments(limit=1)] == [newest_alice]
    assert await store.list_payments(since=clock.now + timedelta(seconds=1)) == []


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"item_name": "card 4242424242424242"}, "item_name"),
        ({"item_name": "ref 1234567"}, "item_name"),
        ({"agent": "4111111"}, "agent"),
        ({"crm_record_id": "4242424242424242"}, "crm_record_id"),
        ({"call_id": "x-378282246310005"}, "call_id"),
    ],
)
async def test_store_refuses_values_that_look_like_card_data(store, overrides, field):
    with pytest.raises(CardDataRefused) as refused:
        await store.create_payment(new_payment(**overrides))
    assert refused.value.field == field
    assert "4242" not in str(refused.value) and "1234567" not in str(refused.value)
    assert await store.list_payments() == []


async def test_identifiers_with_long_digit_runs_that_are_not_cards_are_kept(store):
    payment_id = await store.create_payment(
        new_payment(
            call_id="1732222222.42", crm_record_id="51234567890", caller_number="+4915112345678"
        )
    )
    assert (await store.get_payment(payment_id)).crm_record_id == "51234567890"


async def test_digit_runs_in_a_reason_are_removed_and_the_outcome_kept(store, database):
    payment_id = await store.create_payment(new_payment())
    await store.mark_needs_reconciliation(payment_id, "timeout on 4000000000000002")
    assert (await store.get_payment(payment_id)).reason == "timeout on [removed]"

    payment = await store.record_outcome(
        payment_id, Outcome.DECLINED, reason="bad card 4000000000000002 (code 1234567)"
    )

    assert payment.outcome is Outcome.DECLINED
    assert payment.reason == "bad card [removed] (code [removed])"
    assert len(await crm_list(database)) == 1


async def test_a_numeric_gateway_reference_is_kept_with_its_approval(store):
    """A reference is the gateway's id: one in ten 16-digit numbers passes the Luhn check, and
    refusing it lost approved outcomes (migration 0007)."""
    payment_id = await store.create_payment(new_payment())
    await store.record_outcome(payment_id, Outcome.APPROVED, gateway_reference="1000000000000008")
    payment = await store.get_payment(payment_id)
    assert (payment.outcome, payment.gateway_reference) == (Outcome.APPROVED, "1000000000000008")


@pytest.mark.parametrize(
    "column, value",
    [
        ("item_name", "Widget 4242424242424242"),
        ("reason", "declined 5555555555554444"),
        ("agent", "agent 3782822"),
        ("crm_record_id", "6011111111111117"),
        ("call_id", "4242424242424242"),
    ],
)
async def test_database_check_refuses_pan_even_from_raw_sql(database_url, column, value):
    with psycopg.connect(database_url) as conn:
        row = {
            "id": "00000000-0000-4000-8000-000000000001",
            "call_id": "1.1",
            "agent": "A",
            "item_name": "I",
            "reason": None,
            "crm_record_id": None,
            "gateway_reference": None,
        }
        row[column] = value
        with pytest.raises(psycopg.errors.CheckViolation) as refused:
            conn.execute(
                "INSERT INTO payments (id, call_id, agent, item_name, reason, crm_record_id,"
                " gateway_reference, amount_minor, currency, privacy_mode, entry_kind, state,"
                " idempotency_key, created_at, updated_at) VALUES (%(id)s::uuid, %(call_id)s,"
                " %(agent)s, %(item_name)s, %(reason)s, %(crm_record_id)s,"
                " %(gateway_reference)s, 100, 'USD', 'hold', 'inbound', 'requested', %(id)s::text,"
                " now(), now())",
                row,
            )
    assert refused.value.diag.constraint_name.startswith(f"payments_{column}")


async def test_audit_trail_is_appended_and_listed(store, clock):
    payment_id = await store.create_payment(new_payment())
    requested = await store.append_audit(
        actor="Alice Agent",
        action="payment.requested",
        success=True,
        origin=Origin.ip("192.0.2.10"),
        resource=f"payment:{payment_id}",
        payment_id=payment_id,
    )
    clock.advance(seconds=30)
    await store.append_audit(
        actor="caller",
        action="payment.card_refused",
        success=False,
        origin=Origin.channel("1732222222.42"),
        resource=f"payment:{payment_id}",
        payment_id=payment_id,
        detail="Luhn check failed",
    )
    await store.append_audit(
        actor="payivr",
        action="system.started",
        success=True,
        origin=Origin.system(),
        resource="instance:a",
    )

    events = await store.list_audit(payment_id=payment_id)
    assert [(e.action, e.success, e.origin.kind) for e in events] == [
        ("payment.requested", True, OriginKind.IP),
        ("payment.card_refused", False, OriginKind.CHANNEL),
    ]
    assert events[0] == requested
    assert events[0].occurred_at.utcoffset() == timedelta(0)
    assert [e.action for e in await store.list_audit(since=clock.now)] == [
        "payment.card_refused",
        "system.started",
    ]
    assert [e.action for e in await store.list_audit(actor="payivr")] == ["system.started"]
    with pytest.raises(CardDataRefused):
        await store.append_audit(
            actor="caller",
            action="payment.card_refused",
            success=False,
            origin=Origin.system(),
            resource="x",
            detail="typed 4242424242424242",
        )


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_events SET success = NOT success",
        "UPDATE audit_events SET detail = 'rewritten' WHERE id = 1",
        "DELETE FROM audit_events",
        "DELETE FROM audit_events WHERE id = 1",
        "TRUNCATE audit_events",
    ],
)
async def test_database_refuses_to_change_or_remove_audit_events(store, database_url, statement):
    await store.append_audit(
        actor="Alice Agent",
        action="payment.requested",
        success=True,
        origin=Origin.ip("192.0.2.10"),
        resource="payment:1",
    )
    with (
        psycopg.connect(database_url) as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"),
    ):
        conn.execute(statement)
    assert len(await store.list_audit()) == 1
