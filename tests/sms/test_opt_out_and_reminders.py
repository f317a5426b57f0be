"""STOP and START, reminders through the worker (spread, hours, restart-safe, shared), PAY."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from _sms_helpers import AGENT, CUSTOMER, PHONE, Rig

from payivr.core.events import Outcome
from payivr.core.reminders import ReminderPolicy
from payivr.sms import (
    MessageStatus,
    ReminderExists,
    ReminderRequest,
    ReminderStatus,
    SmsRefused,
    TextPaymentRequest,
    TextPaymentState,
)

NEW_YORK = ZoneInfo("America/New_York")
DUE = date(2025, 6, 10)  # the rig's clock: Monday 2 June 2025, 10:00 in New York


def reminder(customer: str = CUSTOMER, phone: str = PHONE, **extra: object) -> ReminderRequest:
    values: dict[str, object] = {
        "customer": customer,
        "phone": phone,
        "amount_minor": 13700,
        "currency": "USD",
        "due_date": DUE,
        "agent": AGENT,
        "item": "Unit 12 rent",
        **extra,
    }
    return ReminderRequest(**values)  # type: ignore[arg-type]


def number(n: int) -> str:
    return f"+1555{n:07d}"


@pytest.mark.parametrize("word", ["STOP", "stop", "Unsubscribe", "CANCEL", "end", "QUIT."])
async def test_stop_opts_out_and_nothing_more_is_sent(rig: Rig, word: str) -> None:
    await rig.keep_card()
    await rig.service.schedule_reminder(reminder())
    await rig.phone().reply(word)
    assert rig.phone().inbox == [
        "Acme Storage: You are unsubscribed and will get no more texts from us."
        " Reply START to subscribe again."
    ]
    assert await rig.service.store.is_opted_out(PHONE)
    with pytest.raises(SmsRefused, match="opted out") as refused:
        await rig.service.request_text_payment(
            TextPaymentRequest(CUSTOMER, PHONE, 100, "USD", "Rent", AGENT)
        )
    assert refused.value.conflict
    (planned,) = await rig.service.store.list_reminders(agent=None, limit=10)
    rig.clock.now = planned.send_at
    await rig.service.run_once()
    (sent,) = await rig.service.store.list_reminders(agent=None, limit=10)
    assert sent.status is ReminderStatus.SUPPRESSED
    await rig.phone().reply("YES")
    await rig.phone().reply("STOP")  # already out: no second confirmation
    assert len(rig.phone().inbox) == 1
    actions = [event.action for event in await rig.payments.list_audit()]
    assert actions.count("sms.opted_out") == 1 and "reminder.suppressed" in actions


async def test_start_subscribes_again(rig: Rig) -> None:
    await rig.keep_card()
    await rig.phone().reply("STOP")
    await rig.phone().reply("START")
    assert rig.phone().last == "Acme Storage: You are subscribed again. Reply STOP to opt out."
    assert not await rig.service.store.is_opted_out(PHONE)
    await rig.service.request_text_payment(
        TextPaymentRequest(CUSTOMER, PHONE, 100, "USD", "Rent", AGENT)
    )
    assert "Reply YES to pay" in (rig.phone().last or "")


async def test_stop_while_asked_declines_the_payment_without_charging(rig: Rig) -> None:
    await rig.keep_card()
    request = await rig.service.request_text_payment(
        TextPaymentRequest(CUSTOMER, PHONE, 100, "USD", "Rent", AGENT)
    )
    await rig.phone().reply("STOP")
    await rig.phone().reply("YES")
    assert rig.charges() == 0
    done = await rig.service.store.text_payment(request.id)
    assert done is not None and done.state is TextPaymentState.REFUSED
    assert (await rig.payments.get_payment(request.id)).outcome is Outcome.DECLINED_BY_CALLER


async def test_a_queued_text_is_suppressed_if_the_number_opts_out_first(rig: Rig) -> None:
    rig.carrier.outages = 1
    await rig.keep_card()
    request = await rig.service.request_text_payment(
        TextPaymentRequest(CUSTOMER, PHONE, 100, "USD", "Rent", AGENT)
    )
    assert rig.phone().inbox == []  # the carrier was down: queued for a retry
    await rig.phone().reply("STOP")
    rig.clock.advance(minutes=1)
    await rig.service.run_once()
    ask = (await rig.service.store.messages_for(request.id))[0]
    assert ask.status is MessageStatus.SUPPRESSED
    assert not any("Reply YES" in text for text in rig.phone().inbox)
    assert rig.charges() == 0


async def test_reminders_go_out_within_hours_spread_over_the_window(rig: Rig) -> None:
    for n in range(70):
        await rig.service.schedule_reminder(reminder(f"CUST-{n}", number(n)))
    planned = await rig.service.store.list_reminders(agent=None, limit=100)
    by_day = Counter(r.send_on for r in planned)
    window = {date(2025, 6, 3) + timedelta(days=n) for n in range(7)}  # 3rd..9th
    assert set(by_day) <= window and len(by_day) >= 6
    assert max(by_day.values()) <= 20
    # A prompt worker: a round at each send time.
    for when in sorted({r.send_at for r in planned}):
        rig.clock.now = when
        await rig.service.run_once()
    assert len(rig.carrier.accepted) == 70
    for message in rig.carrier.accepted:
        local = message.accepted_at.astimezone(NEW_YORK)
        assert time(9) <= local.time() < time(19)
        assert local.date() < DUE
        assert message.body.startswith("Acme Storage: Reminder: $137.00 for Unit 12 rent is due")
    sent_days = Counter(m.accepted_at.astimezone(NEW_YORK).date() for m in rig.carrier.accepted)
    assert sent_days == by_day


async def test_the_daily_cap_moves_reminders_to_other_days_then_refuses(rig: Rig) -> None:
    rig.service.settings = type(rig.service.settings)(
        texts=rig.service.settings.texts,
        reminders=ReminderPolicy(window_days=2, daily_cap=3, time_zone="America/New_York"),
    )
    for n in range(6):
        await rig.service.schedule_reminder(reminder(f"CUST-{n}", number(n)))
    days = Counter(r.send_on for r in await rig.service.store.list_reminders(agent=None, limit=9))
    assert days == {date(2025, 6, 8): 3, date(2025, 6, 9): 3}
    with pytest.raises(SmsRefused, match="already has 3 reminders") as refused:
        await rig.service.schedule_reminder(reminder("CUST-7", number(7)))
    assert refused.value.conflict
    with pytest.raises(ReminderExists):
        await rig.service.schedule_reminder(reminder("CUST-1", number(1)))
    with pytest.raises(SmsRefused, match="too close"):
        await rig.service.schedule_reminder(
            reminder("CUST-8", number(8), due_date=date(2025, 6, 2))
        )


async def test_two_workers_never_send_one_reminder_twice(rig: Rig) -> None:
    for n in range(40):
        await rig.service.schedule_reminder(reminder(f"CUST-{n}", number(n)))
    others = [rig.another_service() for _ in range(2)]
    rig.clock.now = datetime(2025, 6, 9, 23, tzinfo=UTC)  # every send time has passed...
    rig.clock.now = datetime(2025, 6, 9, 22, 59, tzinfo=UTC)  # ...18:59 in New York: in hours
    await asyncio.gather(rig.service.run_once(), *(other.run_once() for other in others))
    assert len(rig.carrier.accepted) == 40
    assert len({m.to for m in rig.carrier.accepted}) == 40
    reminders = await rig.service.store.list_reminders(agent=None, limit=100)
    assert {r.status for r in reminders} == {ReminderStatus.SENT}


async def test_a_carrier_outage_is_retried_with_the_same_key(rig: Rig) -> None:
    await rig.service.schedule_reminder(reminder())
    (planned,) = await rig.service.store.list_reminders(agent=None, limit=1)
    rig.clock.now = planned.send_at
    rig.carrier.outages = 2
    await rig.service.run_once()
    assert rig.phone().inbox == []
    rig.clock.advance(seconds=10)
    await rig.service.run_once()
    assert rig.phone().inbox == []
    rig.clock.advance(seconds=30)
    await rig.service.run_once()
    assert len(rig.phone().inbox) == 1
    await rig.service.run_once()
    assert len(rig.carrier.accepted) == 1


async def test_a_reminder_missed_while_down_waits_for_the_hours_or_is_dropped(rig: Rig) -> None:
    await rig.service.schedule_reminder(reminder(due_date=date(2025, 6, 4)))
    (planned,) = await rig.service.store.list_reminders(agent=None, limit=1)
    rig.clock.now = datetime(2025, 6, 4, 1, tzinfo=UTC)  # 21:00 on the 3rd in New York
    await rig.service.run_once()
    (moved,) = await rig.service.store.list_reminders(agent=None, limit=1)
    assert moved.status is ReminderStatus.SCHEDULED
    assert moved.send_at == datetime(2025, 6, 4, 13, tzinfo=UTC)  # 09:00 on the due date
    assert planned.send_at < moved.send_at
    rig.clock.now = datetime(2025, 6, 5, 1, tzinfo=UTC)  # 21:00 on the due date
    await rig.service.run_once()
    (missed,) = await rig.service.store.list_reminders(agent=None, limit=1)
    assert missed.status is ReminderStatus.MISSED
    assert rig.phone().inbox == []


async def test_reply_pay_to_a_reminder_starts_a_text_payment(rig: Rig) -> None:
    await rig.keep_card()
    await rig.service.schedule_reminder(reminder(offer_pay_by_text=True))
    (planned,) = await rig.service.store.list_reminders(agent=None, limit=1)
    rig.clock.now = planned.send_at
    await rig.service.run_once()
    assert "Reply PAY to pay with your Visa ending 4242." in (rig.phone().last or "")
    await rig.phone().reply("PAY")
    assert "Pay $137.00 for Unit 12 rent with your Visa ending 4242?" in (rig.phone().last or "")
    await rig.phone().reply("yes")
    assert rig.charges() == 1
    assert "Paid $137.00" in (rig.phone().last or "")
    await rig.phone().reply("PAY")  # the reminder was paid: nothing more to pay by text
    assert rig.charges() == 1
    assert "no payment to make by text" in (rig.phone().last or "")
    (payment,) = await rig.payments.list_payments()
    assert payment.agent == AGENT and payment.outcome is Outcome.APPROVED


async def test_csv_import(rig: Rig) -> None:
    text = (
        "customer,phone,amount,due_date,item,time_zone,offer_pay_by_text\n"
        "CUST-1,+15551230001,137.42,2025-06-10,Unit 12,America/Chicago,yes\n"
        "CUST-2,+1 555 123 0002,99,2025-06-10,,,\n"
        "CUST-3,5551230003,10,2025-06-10,,,\n"
        "CUST-4,+15551230004,ten,2025-06-10,,,\n"
        "CUST-5,+15551230005,10,June 10,,,\n"
        "CUST-6,+15551230006,10,2025-06-10,,Mars/Base,\n"
        "CUST-1,+15551230001,137.42,2025-06-10,Unit 12,,\n"
    )
    report = await rig.service.import_reminders(text, agent=AGENT, currency="USD")
    assert [r.customer for r in report.scheduled] == ["CUST-1", "CUST-2"]
    assert report.scheduled[0].time_zone == "America/Chicago"
    assert report.scheduled[0].offer_pay_by_text and report.scheduled[1].item == "your bill"
    assert report.already_scheduled == 1
    assert [line for line, _ in report.refused] == [4, 5, 6, 7]
    assert "E.164" in report.refused[0][1] and "time zone" in report.refused[3][1]
    with pytest.raises(SmsRefused, match="lacks"):
        await rig.service.import_reminders("name,phone\n", agent=AGENT, currency="USD")
