"""The pure parts: what a reply means, phone numbers, and when reminders go out."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from _sms_helpers import POLICY

from payivr.core.cards import Brand, MaskedCard
from payivr.core.reminders import (
    ReminderPolicy,
    ScheduleRefused,
    choose_day,
    next_opening,
    open_days,
    send_time,
    window,
    within_hours,
)
from payivr.sms import InvalidPhoneNumber, ReplyKind, Texts, classify, parse_e164
from payivr.sms.store import MOVES, OPEN_STATES, TextPaymentState
from payivr.sms.text_payments import OUTCOMES

NEW_YORK = ZoneInfo("America/New_York")


@pytest.mark.parametrize(
    ("body", "meaning"),
    [
        ("YES", ReplyKind.YES),
        ("yes please", ReplyKind.YES),
        ("YES ", ReplyKind.YES),
        ("Yes", ReplyKind.YES),
        ("  yes!", ReplyKind.YES),
        ("no", ReplyKind.NO),
        ("Y E S", ReplyKind.NO),
        ("", ReplyKind.NO),
        ("y", ReplyKind.NO),
        ("yesterday", ReplyKind.NO),
        ("STOP", ReplyKind.STOP),
        ("stop", ReplyKind.STOP),
        ("Stop.", ReplyKind.STOP),
        ("unsubscribe", ReplyKind.STOP),
        ("CANCEL", ReplyKind.STOP),
        ("end", ReplyKind.STOP),
        ("Quit", ReplyKind.STOP),
        ("STOPALL", ReplyKind.STOP),
        ("opt out", ReplyKind.STOP),
        ("please stop texting me about the unit", ReplyKind.NO),
        ("START", ReplyKind.START),
        ("unstop", ReplyKind.START),
        ("HELP", ReplyKind.HELP),
        ("info", ReplyKind.HELP),
        ("PAY", ReplyKind.PAY),
        ("pay.", ReplyKind.PAY),
    ],
)
def test_replies(body: str, meaning: ReplyKind) -> None:
    assert classify(body) is meaning


@pytest.mark.parametrize(
    ("typed", "number"),
    [
        ("+15551230001", "+15551230001"),
        ("+1 (555) 123-0001", "+15551230001"),
        ("+44 20 7946 0958", "+442079460958"),
    ],
)
def test_phone_numbers_in_e164(typed: str, number: str) -> None:
    assert parse_e164(typed) == number


@pytest.mark.parametrize("typed", ["5551230001", "+0555123", "+1555", "+1234567890123456", "tel"])
def test_phone_numbers_that_are_not_e164(typed: str) -> None:
    with pytest.raises(InvalidPhoneNumber):
        parse_e164(typed)


def test_texts_name_the_card_by_brand_and_last_four_only() -> None:
    texts = Texts()
    card = MaskedCard(Brand.AMEX, "0005")
    assert texts.ask(13742, "USD", "Unit 12 rent", card) == (
        "Pay $137.42 for Unit 12 rent with your American Express ending 0005? Reply YES to"
        " pay, anything else to decline. Reply STOP to opt out."
    )
    assert texts.reminder(13742, "USD", "Unit 12", date(2025, 7, 1), card) == (
        "Reminder: $137.42 for Unit 12 is due on Tuesday 1 July. Reply PAY to pay with your"
        " American Express ending 0005. Reply STOP to opt out."
    )
    assert "PAY" not in texts.reminder(13742, "USD", "Unit 12", date(2025, 7, 1), None)


def test_reminders_spread_evenly_and_stably_over_the_window() -> None:
    due = date(2025, 7, 1)
    now = datetime(2025, 6, 1, 12, tzinfo=UTC)
    days = open_days(due, now, NEW_YORK, POLICY)
    assert days == [date(2025, 6, 24) + timedelta(days=n) for n in range(7)]
    counts: Counter[date] = Counter()
    for n in range(7000):
        counts[choose_day(f"CUST-{n}", days, counts, cap=10_000)] += 1
    assert set(counts) == set(days)
    assert all(900 <= count <= 1100 for count in counts.values()), counts
    assert choose_day("CUST-7", days, {}, 10) == choose_day("CUST-7", days, {}, 10)


def test_a_full_day_passes_its_customers_to_the_next_day_with_room() -> None:
    days = [date(2025, 6, 28), date(2025, 6, 29), date(2025, 6, 30)]
    counts: Counter[date] = Counter()
    for n in range(30):
        counts[choose_day(f"C{n}", days, counts, cap=10)] += 1
    assert counts == {day: 10 for day in days}
    with pytest.raises(ScheduleRefused, match="already has 10 reminders"):
        choose_day("C31", days, counts, cap=10)


def test_send_times_fall_within_the_hours_in_the_customers_time_zone() -> None:
    day = date(2025, 6, 27)
    now = datetime(2025, 6, 1, tzinfo=UTC)
    for n in range(500):
        when = send_time(f"CUST-{n}", day, now, NEW_YORK, POLICY)
        local = when.astimezone(NEW_YORK)
        assert local.date() == day and time(9) <= local.time() < time(19)
    tokyo = ZoneInfo("Asia/Tokyo")
    local = send_time("CUST-1", day, now, tokyo, POLICY).astimezone(tokyo)
    assert time(9) <= local.time() < time(19)


def test_today_counts_only_before_the_hours_end_and_sends_are_never_in_the_past() -> None:
    due = date(2025, 6, 5)
    evening = datetime(2025, 6, 3, 23, 30, tzinfo=UTC)  # 19:30 in New York
    assert open_days(due, evening, NEW_YORK, POLICY) == [date(2025, 6, 4)]
    morning = datetime(2025, 6, 3, 18, 59, tzinfo=UTC)  # 14:59 in New York
    assert open_days(due, morning, NEW_YORK, POLICY)[0] == date(2025, 6, 3)
    assert send_time("C", date(2025, 6, 3), morning, NEW_YORK, POLICY) >= morning
    assert open_days(date(2025, 6, 3), morning, NEW_YORK, POLICY) == []


def test_next_opening() -> None:
    night = datetime(2025, 6, 3, 2, tzinfo=UTC)  # 22:00 the 2nd in New York
    assert not within_hours(night, NEW_YORK, POLICY)
    assert next_opening(night, NEW_YORK, POLICY) == datetime(2025, 6, 3, 13, tzinfo=UTC)
    early = datetime(2025, 6, 3, 11, tzinfo=UTC)  # 07:00
    assert next_opening(early, NEW_YORK, POLICY) == datetime(2025, 6, 3, 13, tzinfo=UTC)


def test_policy_and_window_checks() -> None:
    assert window(date(2025, 7, 1), ReminderPolicy(window_days=2, lead_days=0)) == [
        date(2025, 6, 30),
        date(2025, 7, 1),
    ]
    with pytest.raises(ValueError, match="window"):
        ReminderPolicy(window_days=0)
    with pytest.raises(ValueError, match="start before"):
        ReminderPolicy(send_from=time(20), send_until=time(8))
    with pytest.raises(ScheduleRefused, match="unknown time zone"):
        ReminderPolicy(time_zone="Mars/Olympus")


def test_a_text_payment_moves_only_out_of_open_states_and_every_final_state_has_an_outcome():
    assert set(MOVES) == set(TextPaymentState) - {TextPaymentState.ASKED}
    assert all(set(sources) <= set(OPEN_STATES) for sources in MOVES.values())
    assert set(OUTCOMES) == set(TextPaymentState) - set(OPEN_STATES)
    # A YES charges only a question still asked; nothing goes back to asked.
    assert MOVES[TextPaymentState.CHARGING] == (TextPaymentState.ASKED,)
