"""Campaigns (caller ID, calling hours) and whether a customer may be called now. Pure.

A campaign is written as one line, so it fits a TOML list and an environment variable::

    "collections | Acme Collections <+15550199> | 09:00-20:00 | mon-fri"
    "weekend | +15550198 | 10:00-16:00 | sat sun"

Calling hours are the customer's wall-clock time (their IANA time zone, given with each call),
not the contact centre's: laws such as the TCPA (8am-9pm) count in the called party's time.
The window opens at its first time and closes at its second (exclusive; ``24:00`` is midnight),
on the days given.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from payivr.core.errors import PayivrError

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
_CALLER_ID = re.compile(r'^(?:"?([^"<>]{1,40}?)"?\s*<(\+?[0-9]{3,15})>|(\+?[0-9]{3,15}))$')
_HOURS = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])-([01][0-9]|2[0-3]|24):([0-5][0-9])$")
END_OF_DAY = time.max  # "24:00": the window closes at midnight


class CampaignError(PayivrError, ValueError):
    """A campaign line cannot be read; the message says which part and why."""


class OutsideCallingHours(PayivrError):
    """The customer may not be called now; the message says when they may."""

    def __init__(self, message: str, opens_at: datetime) -> None:
        super().__init__(message)
        self.opens_at = opens_at


class UnknownTimeZone(PayivrError, ValueError):
    """Not an IANA time zone name."""


@dataclass(frozen=True)
class CallingHours:
    opens: time
    closes: time
    days: frozenset[int]  # 0 = Monday

    def __str__(self) -> str:
        closes = "24:00" if self.closes == END_OF_DAY else f"{self.closes:%H:%M}"
        return f"{self.opens:%H:%M}-{closes} {_days_text(self.days)}"

    def allows(self, local: datetime) -> bool:
        return local.weekday() in self.days and self.opens <= local.time() < self.closes


@dataclass(frozen=True)
class Campaign:
    name: str
    caller_name: str | None
    caller_number: str
    hours: CallingHours

    @property
    def caller_id(self) -> str:
        """As ARI's ``callerId`` takes it: ``"Name" <number>`` or the number alone."""
        if self.caller_name:
            return f'"{self.caller_name}" <{self.caller_number}>'
        return self.caller_number


def parse_campaign(line: str) -> Campaign:
    """``name | caller ID | HH:MM-HH:MM | days``; raises :class:`CampaignError`."""
    parts = [part.strip() for part in line.split("|")]
    if len(parts) != 4:
        raise CampaignError(
            f"{line!r}: expected 'name | caller ID | HH:MM-HH:MM | days' (4 parts, got "
            f"{len(parts)})"
        )
    name, caller_id, hours, days = parts
    if not _NAME.match(name):
        raise CampaignError(f"{name!r}: a campaign name is lowercase letters, digits, - and _")
    found = _CALLER_ID.match(caller_id)
    if found is None:
        raise CampaignError(
            f"{name}: caller ID {caller_id!r} is not 'Name <+15550199>' or '+15550199'"
        )
    window = _HOURS.match(hours)
    if window is None:
        raise CampaignError(f"{name}: calling hours {hours!r} are not HH:MM-HH:MM")
    opens = time(int(window[1]), int(window[2]))
    if window[3] == "24" and window[4] != "00":
        raise CampaignError(f"{name}: calling hours {hours!r}: 24:00 is the latest closing time")
    closes = END_OF_DAY if window[3] == "24" else time(int(window[3]), int(window[4]))
    if opens >= closes:
        raise CampaignError(f"{name}: calling hours {hours!r} must open before they close")
    return Campaign(
        name,
        found[1].strip() if found[1] else None,
        found[2] or found[3],
        CallingHours(opens, closes, parse_days(days, name)),
    )


def parse_days(text: str, campaign: str = "") -> frozenset[int]:
    """``mon-fri``, ``sat sun``, ``mon-wed fri``, ``daily``."""
    if text.strip().lower() == "daily":
        return frozenset(range(7))
    days: set[int] = set()
    for item in text.lower().replace(",", " ").split():
        first, _, last = item.partition("-")
        if first not in DAY_NAMES or (last and last not in DAY_NAMES):
            raise CampaignError(
                f"{campaign}: days {text!r}: use mon tue wed thu fri sat sun, ranges like "
                "mon-fri, or daily"
            )
        start, end = DAY_NAMES.index(first), DAY_NAMES.index(last or first)
        if end < start:
            raise CampaignError(f"{campaign}: days {item!r} run backwards")
        days.update(range(start, end + 1))
    if not days:
        raise CampaignError(f"{campaign}: no calling days")
    return frozenset(days)


def _days_text(days: frozenset[int]) -> str:
    if days == frozenset(range(7)):
        return "daily"
    ordered = sorted(days)
    runs: list[list[int]] = []
    for day in ordered:
        if runs and runs[-1][-1] == day - 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    return " ".join(
        DAY_NAMES[run[0]].title() + (f"-{DAY_NAMES[run[-1]].title()}" if len(run) > 1 else "")
        for run in runs
    )


def customer_zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name`` (``America/New_York``); raises :class:`UnknownTimeZone`."""
    if not isinstance(name, str) or not 1 <= len(name) <= 64 or name.startswith("/"):
        raise UnknownTimeZone("the time zone must be an IANA name like America/New_York")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise UnknownTimeZone(
            f"unknown time zone {name!r}; use an IANA name like America/New_York"
        ) from None


def check_calling_hours(campaign: Campaign, zone: ZoneInfo, now: datetime) -> None:
    """Raise :class:`OutsideCallingHours` unless ``now`` (aware) is within the campaign's
    hours in the customer's time zone ``zone``."""
    local = now.astimezone(zone)
    if campaign.hours.allows(local):
        return
    opens_at = next_opening(campaign.hours, zone, now)
    opens_local = opens_at.astimezone(zone)
    raise OutsideCallingHours(
        f"campaign {campaign.name} calls {campaign.hours} in the customer's time; it is "
        f"{local:%a %H:%M} in {zone.key}; calls open again {opens_local:%a %H:%M}",
        opens_at,
    )


def next_opening(hours: CallingHours, zone: ZoneInfo, now: datetime) -> datetime:
    """The first moment at or after ``now`` within ``hours`` in ``zone`` (in UTC).

    An opening time that does not exist on a day clocks go forward (02:30 on the spring-forward
    night) is taken as the instant the clock jumps over, read as standard time by zoneinfo.
    """
    local = now.astimezone(zone)
    if hours.allows(local):
        return now.astimezone(UTC)
    for offset in range(8):
        day = local.date() + timedelta(days=offset)
        if day.weekday() not in hours.days:
            continue
        opens = datetime.combine(day, hours.opens, zone)
        closes = datetime.combine(day, hours.closes, zone)
        if local < closes:
            return max(opens, local).astimezone(UTC)
    raise AssertionError("calling hours always open within a week")  # days is never empty
