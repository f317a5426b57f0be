"""Building the service from options; what a crash leaves half done is finished later."""

from __future__ import annotations

from pathlib import Path

import pytest
from _sms_helpers import AGENT, CUSTOMER, PHONE, Rig

from payivr.config import SmsOptions
from payivr.core.events import Outcome
from payivr.sim.sms import SimulatedCarrier
from payivr.sms import TextPaymentRequest, TextPaymentState
from payivr.sms.setup import describe_import, open_sms, remind_from_csv
from payivr.sms.store import MessageStatus


def test_option_problems_are_explained() -> None:
    assert SmsOptions().problems() == []
    problems = SmsOptions(
        provider="http",
        url="ftp://x",
        webhook_secret="nope",
        send_from="9am",
        request_ttl_minutes=1,
    ).problems()
    assert any("sms.url" in p for p in problems)
    assert any("sms.token" in p for p in problems)
    assert any("whsec_" in p for p in problems)
    assert any("times like 09:00" in p for p in problems)
    assert any("request_ttl_minutes" in p for p in problems)
    assert SmsOptions(provider="carrier-pigeon").problems() == [
        "sms.provider must be one of http, simulator"
    ]
    assert "unknown time zone" in SmsOptions(time_zone="Atlantis").problems()[0]


async def test_open_sms_with_the_simulator_and_a_csv_import(rig: Rig, tmp_path: Path) -> None:
    service, worker = open_sms(
        rig.db, rig.gateway, rig.payments, SmsOptions(time_zone="UTC"), max_amount_minor=100_000
    )
    assert isinstance(service.provider, SimulatedCarrier)
    csv_file = tmp_path / "reminders.csv"
    csv_file.write_text(
        "\ufeffcustomer,phone,amount,due_date\nC-1,+15551230001,10,2099-01-10\nC-2,bad,1,2099-01-10\n",
        encoding="utf-8",
    )
    report = await remind_from_csv(service, csv_file, agent=AGENT, currency="USD")
    summary = describe_import(report)
    assert summary.startswith("1 reminders scheduled, 0 already scheduled, 1 refused")
    assert "line 3:" in summary and "+15551230001," not in summary
    assert (await worker.run_once()).total == 0
    with pytest.raises(ValueError, match=r"sms\.url"):
        open_sms(
            rig.db, rig.gateway, rig.payments, SmsOptions(provider="http"), max_amount_minor=100_000
        )


async def test_a_reply_stored_before_a_crash_is_acted_on_by_the_worker(rig: Rig) -> None:
    await rig.keep_card()
    request = await rig.service.request_text_payment(
        TextPaymentRequest(CUSTOMER, PHONE, 500, "USD", "Rent", AGENT)
    )
    # The reply was stored, then the process died before acting on it.
    await rig.service.store.record_inbound(rig.clock(), "prov-9", PHONE, "yes")
    assert rig.charges() == 0
    rig.clock.advance(minutes=2)
    assert (await rig.service.run_once()).replies == 1
    assert rig.charges(str(request.id)) == 1
    (reply,) = [m for m in await rig.service.store.messages_to(PHONE) if m.direction == "in"]
    assert reply.status is MessageStatus.PROCESSED
    assert (await rig.service.run_once()).replies == 0


async def test_a_final_state_without_its_payment_outcome_is_completed(rig: Rig) -> None:
    await rig.keep_card()
    request = await rig.service.request_text_payment(
        TextPaymentRequest(CUSTOMER, PHONE, 500, "USD", "Rent", AGENT)
    )
    async with rig.db.pool.connection() as conn:  # a crash between the two writes
        await conn.execute(
            "UPDATE text_payments SET state = 'refused', reason = 'the customer said no'"
        )
    assert (await rig.service.run_once()).repaired == 1
    payment = await rig.payments.get_payment(request.id)
    assert payment.outcome is Outcome.DECLINED_BY_CALLER
    assert payment.reason == "the customer said no"
    assert (await rig.service.run_once()).repaired == 0


async def test_a_payment_row_never_texted_is_cancelled(rig: Rig) -> None:
    from payivr.core.request import EntryKind
    from payivr.store.models import NewPayment

    payment_id = await rig.payments.create_payment(
        NewPayment("text", AGENT, "Rent", 500, "USD", EntryKind.TEXT, caller_number=PHONE)
    )
    assert (await rig.service.run_once()).repaired == 0  # it may still be on its way
    rig.clock.advance(minutes=6)
    assert (await rig.service.run_once()).repaired == 1
    assert (await rig.payments.get_payment(payment_id)).outcome is Outcome.CANCELLED


async def test_a_question_left_queued_by_a_crash_is_sent_by_the_worker(rig: Rig) -> None:
    await rig.keep_card()
    rig.carrier.outages = 1  # stands in for the process dying before the send
    request = await rig.service.request_text_payment(
        TextPaymentRequest(CUSTOMER, PHONE, 500, "USD", "Rent", AGENT)
    )
    assert rig.phone().inbox == []
    rig.clock.advance(seconds=10)
    other = rig.another_service()  # another instance picks it up
    assert (await other.run_once()).messages == 1
    assert "Reply YES" in (rig.phone().last or "")
    await rig.phone().reply("YES")
    done = await rig.service.store.text_payment(request.id)
    assert done is not None and done.state is TextPaymentState.PAID
