"""Campaign lines and calling hours in the customer's time zone, across DST changes."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest

from payivr.core.campaigns import (
    CampaignError,
    OutsideCallingHours,
    UnknownTimeZone,
    check_calling_hours,
    customer_zone,
    next_opening,
    parse_campaign,
)

COLLECTIONS = parse_campaign("collections | Acme Collections <+15550199> | 09:00-20:00 | mon-fri")
NEW_YORK = customer_zone("America/New_York")


def test_a_campaign_line_gives_caller_id_hours_and_days() -> None:
    assert COLLECTIONS.name == "collections"
    assert COLLECTIONS.caller_id == '"Acme Collections" <+15550199>'
    assert (COLLECTIONS.hours.opens, COLLECTIONS.hours.closes) == (time(9), time(20))
    assert COLLECTIONS.hours.days == frozenset(range(5))
    assert str(COLLECTIONS.hours) == "09:00-20:00 Mon-Fri"
    weekend = parse_campaign("weekend|+15550198|10:00-16:00|sat sun")
    assert weekend.caller_id == "+15550198"
    assert str(weekend.hours) == "10:00-16:00 Sat-Sun"
    assert str(parse_campaign("x | 5550 | 08:00-21:00 | daily").hours) == "08:00-21:00 daily"
    assert str(parse_campaign("y | 5550 | 08:00-21:00 | mon-wed, fri").hours) == (
        "08:00-21:00 Mon-Wed Fri"
    )
    whole_day = parse_campaign("z | 5550 | 00:00-24:00 | daily")
    assert str(whole_day.hours) == "00:00-24:00 daily"
    check_calling_hours(whole_day, NEW_YORK, _at("2024-03-11T03:59:59"))  # 23:59:59 EDT


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("collections | +15550199 | 09:00-20:00", "4 parts"),
        ("Collections! | +15550199 | 09:00-20:00 | mon", "campaign name"),
        ("c | call us | 09:00-20:00 | mon", "caller ID"),
        ("c | +15550199 | 9-20 | mon", "HH:MM-HH:MM"),
        ("c | +15550199 | 20:00-09:00 | mon", "open before they close"),
        ("c | +15550199 | 09:00-24:30 | mon", "latest closing time"),
        ("c | +15550199 | 09:00-20:00 | weekdays", "use mon tue"),
        ("c | +15550199 | 09:00-20:00 | fri-mon", "backwards"),
    ],
)
def test_bad_campaign_lines_say_what_is_wrong(line: str, message: str) -> None:
    with pytest.raises(CampaignError, match=message):
        parse_campaign(line)


def test_time_zones_are_iana_names() -> None:
    assert customer_zone("Europe/Paris").key == "Europe/Paris"
    for bad in ("Mars/Olympus", "", "../../etc/passwd", "/etc/localtime", "x" * 65):
        with pytest.raises(UnknownTimeZone):
            customer_zone(bad)


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("utc", "allowed"),
    [
        ("2024-03-08T13:30", False),  # Fri 08:30 EST (UTC-5): before 09:00
        ("2024-03-08T14:00", True),  # Fri 09:00 EST: opens (inclusive)
        ("2024-03-11T13:30", True),  # Mon after spring forward: 09:30 EDT (UTC-4)
        ("2024-03-11T12:59", False),  # 08:59 EDT
        ("2024-03-12T00:00", False),  # Mon 20:00 EDT: closes (exclusive)
        ("2024-03-11T23:59", True),  # 19:59 EDT
        ("2024-11-01T13:30", True),  # Fri 09:30 EDT, before fall back
        ("2024-11-04T13:30", False),  # Mon after fall back: 08:30 EST
        ("2024-11-04T14:00", True),  # 09:00 EST
        ("2024-03-09T15:00", False),  # Saturday
    ],
)
def test_hours_are_the_customers_wall_clock_across_dst(utc: str, allowed: bool) -> None:
    now = _at(utc)
    if allowed:
        check_calling_hours(COLLECTIONS, NEW_YORK, now)
    else:
        with pytest.raises(OutsideCallingHours):
            check_calling_hours(COLLECTIONS, NEW_YORK, now)


def test_the_same_instant_is_inside_for_one_customer_and_outside_for_another() -> None:
    now = _at("2024-06-03T13:30")  # Mon 09:30 in New York, 06:30 in Los Angeles
    check_calling_hours(COLLECTIONS, NEW_YORK, now)
    with pytest.raises(OutsideCallingHours) as refused:
        check_calling_hours(COLLECTIONS, customer_zone("America/Los_Angeles"), now)
    assert str(refused.value) == (
        "campaign collections calls 09:00-20:00 Mon-Fri in the customer's time; it is Mon 06:30"
        " in America/Los_Angeles; calls open again Mon 09:00"
    )
    assert refused.value.opens_at == _at("2024-06-03T16:00")


def test_the_next_opening_skips_closed_days_and_the_rest_of_today() -> None:
    friday_night = _at("2024-03-09T02:00")  # Fri 21:00 EST
    assert next_opening(COLLECTIONS.hours, NEW_YORK, friday_night) == _at("2024-03-11T13:00")
    # Monday 09:00 after the spring-forward weekend is 13:00 UTC (EDT), not 14:00.


def test_an_opening_time_skipped_by_spring_forward_still_opens_that_day() -> None:
    night = parse_campaign("night | +15550199 | 02:30-05:00 | daily")
    sunday_early = _at("2024-03-10T06:00")  # 01:00 EST; 02:00-03:00 does not exist that night
    opens = next_opening(night.hours, NEW_YORK, sunday_early)
    assert opens.date() == sunday_early.date()
    assert opens.astimezone(NEW_YORK).hour == 3  # the clock jumped over 02:30
    check_calling_hours(night, NEW_YORK, _at("2024-03-10T07:30"))  # 03:30 EDT
