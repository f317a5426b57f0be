"""When each reminder is sent: spread over the days before the due date, within hours.

Invoices sent on the 1st bring a wave of payment calls from the 3rd to the 10th (seed
001). Reminders flatten it: each customer gets a send day from a stable hash of their
reference across a window of days before the due date (so the same customer lands on the
same day month after month, and customers spread evenly), moved to the next day with room
when a day already holds the daily cap, and a send time within the sending hours in the
customer's time zone. Pure: the caller gives today's counts and the time.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from payivr.core.errors import PayivrError


class ScheduleRefused(PayivrError, ValueError):
    """The reminder cannot be scheduled; the message says why, for a person."""


@dataclass(frozen=True)
class ReminderPolicy:
    """``window_days`` days ending ``lead_days`` before the due date; at most ``daily_cap``
    reminders a day; sent between ``send_from`` and ``send_until`` local time."""

    window_days: int = 7
    lead_days: int = 1
    daily_cap: int = 1000
    send_from: time = time(9, 0)
    send_until: time = time(19, 0)
    time_zone: str = "UTC"

    def __post_init__(self) -> None:
        if not 1 <= self.window_days <= 28:
            raise ValueError("the reminder window must be 1 to 28 days")
        if not 0 <= self.lead_days <= 28:
            raise ValueError("the reminder lead must be 0 to 28 days")
        if self.daily_cap < 1:
            raise ValueError("the daily reminder cap must be at least 1")
        if self.send_from >= self.send_until:
            raise ValueError("sending hours must start before they end")
        zone(self.time_zone)


def zone(name: str) -> ZoneInfo:
    """The time zone called ``name`` (IANA, like ``America/New_York``)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleRefused(
            f"unknown time zone {name!r}; use an IANA name like America/New_York"
        ) from None


def _hash(customer: str, salt: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{salt}:{customer}".encode()).digest()[:8], "big")


def window(due: date, policy: ReminderPolicy) -> list[date]:
    """Every day of the reminder window for ``due``, earliest first."""
    last = due - timedelta(days=policy.lead_days)
    return [last - timedelta(days=offset) for offset in reversed(range(policy.window_days))]


def open_days(due: date, now: datetime, tz: ZoneInfo, policy: ReminderPolicy) -> list[date]:
    """The window's days on which a text can still go out (today only before ``send_until``)."""
    local = now.astimezone(tz)
    days = [day for day in window(due, policy) if day >= local.date()]
    if days and days[0] == local.date() and local.time() >= policy.send_until:
        days = days[1:]
    return days


def choose_day(customer: str, days: list[date], counts: Mapping[date, int], cap: int) -> date:
    """The customer's day: the hash's pick, or the next day with room (wrapping round)."""
    if not days:
        raise ScheduleRefused("the due date is too close: no day is left to send a reminder")
    start = _hash(customer, "day") % len(days)
    for step in range(len(days)):
        day = days[(start + step) % len(days)]
        if counts.get(day, 0) < cap:
            return day
    raise ScheduleRefused(
        f"every day from {days[0]} to {days[-1]} already has {cap} reminders;"
        " raise the daily cap or widen the window"
    )


def send_time(
    customer: str, day: date, now: datetime, tz: ZoneInfo, policy: ReminderPolicy
) -> datetime:
    """A stable minute within the sending hours of ``day`` (not before ``now``), in UTC."""
    opens = datetime.combine(day, policy.send_from, tz)
    closes = datetime.combine(day, policy.send_until, tz)
    minutes = int((closes - opens).total_seconds() // 60)
    planned = opens + timedelta(minutes=_hash(customer, "minute") % max(minutes, 1))
    return max(planned, now).astimezone(UTC)


def within_hours(when: datetime, tz: ZoneInfo, policy: ReminderPolicy) -> bool:
    local = when.astimezone(tz).time()
    return policy.send_from <= local < policy.send_until


def next_opening(when: datetime, tz: ZoneInfo, policy: ReminderPolicy) -> datetime:
    """The next moment, at or after ``when``, inside the sending hours (in UTC)."""
    local = when.astimezone(tz)
    if within_hours(when, tz, policy):
        return when.astimezone(UTC)
    day = local.date() if local.time() < policy.send_from else local.date() + timedelta(days=1)
    return datetime.combine(day, policy.send_from, tz).astimezone(UTC)
