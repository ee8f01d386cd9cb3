"""When a person may be messaged: their time zone, working days and quiet hours.

Every proactive message is checked twice: when it is enqueued (is it due yet, in the person's local
time?) and when it is sent (is it quiet hours there now?). All arithmetic happens in the person's IANA
zone, so a Monday 09:00 nudge stays at 09:00 across daylight-saving changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def zone(name: str | None) -> ZoneInfo:
    """The person's zone; an unknown or empty name falls back to UTC rather than failing a send."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def parse_hhmm(text: str) -> time:
    hours, _, minutes = text.partition(":")
    return time(int(hours), int(minutes or 0))


def parse_days(text: str) -> frozenset[int]:
    """ "mon,tue,wed" -> {0, 1, 2} (Monday is 0, as in datetime.weekday())."""
    days = {DAYS.index(d.strip().lower()[:3]) for d in text.split(",") if d.strip().lower()[:3] in DAYS}
    return frozenset(days)


def local_at(day: date, at: time, tz: ZoneInfo) -> datetime:
    """The UTC instant of a local wall-clock time.

    A time skipped by spring-forward (02:30 on that Sunday) maps to the instant after the gap, and a
    repeated one (fall-back) to its first occurrence: Python's fold=0 rule (PEP 495).
    """
    return datetime.combine(day, at, tzinfo=tz).astimezone(UTC)


@lru_cache(maxsize=512)
def public_holidays(country: str | None, region: str | None = None) -> Any:
    """The public holidays of a country (ISO code, e.g. "DE") and optional region ("BY"), from the
    `holidays` library; None when no country is set or it is unknown (then no day is a holiday)."""
    if not country:
        return None
    import holidays

    try:
        return holidays.country_holidays(country.upper(), subdiv=region or None)
    except (NotImplementedError, KeyError, ValueError):
        return None


def holidays_of(person) -> Any:
    prefs = getattr(person, "preferences", None) or {}
    return public_holidays(prefs.get("country"), prefs.get("region"))


@dataclass(frozen=True)
class Availability:
    """A person's messaging window: working days that are not public holidays where they work, and quiet
    hours [quiet_start, quiet_end) each day. Every proactive message (knowledge checks, coaching nudges,
    digests) is held by it when it is sent."""

    tz: ZoneInfo
    working_days: frozenset[int]
    quiet_start: time
    quiet_end: time
    holidays: Any = None  # a holidays.HolidayBase (date in it: a public holiday), or None

    @classmethod
    def of(cls, person) -> Availability:
        return cls(
            zone(person.timezone),
            parse_days(person.working_days) or frozenset(range(5)),
            parse_hhmm(person.quiet_start),
            parse_hhmm(person.quiet_end),
            holidays_of(person),
        )

    def working(self, day: date) -> bool:
        """A working day of the person's week that is not a public holiday where they are."""
        return day.weekday() in self.working_days and not (self.holidays is not None and day in self.holidays)

    def _quiet(self, local: time) -> bool:
        if self.quiet_start == self.quiet_end:
            return False
        if self.quiet_start < self.quiet_end:
            return self.quiet_start <= local < self.quiet_end
        return local >= self.quiet_start or local < self.quiet_end  # quiet hours span midnight

    def allows(self, now: datetime) -> bool:
        local = now.astimezone(self.tz)
        return self.working(local.date()) and not self._quiet(local.time())

    def next_allowed(self, now: datetime) -> datetime:
        """`now` if a message may go out now, else the first instant it may (in UTC)."""
        if self.allows(now):
            return now
        today = now.astimezone(self.tz).date()
        for offset in range(22):  # long enough for a week of holidays around a weekend
            day = today + timedelta(days=offset)
            if not self.working(day):
                continue
            for start_of_window in (time(0), self.quiet_end):
                start = local_at(day, start_of_window, self.tz)
                if start >= now and self.allows(start):
                    return start
        return now + timedelta(days=1)  # no working day configured at all: look again tomorrow


def weekly_slot(tz: ZoneInfo, weekday: int, at: time, now: datetime) -> tuple[str, datetime]:
    """This ISO week's slot (e.g. Monday 09:00 local) as (period key like "2026-W48", UTC instant).

    A job that runs late (restart, outage) still finds the same key, so it neither skips nor repeats.
    """
    local = now.astimezone(tz)
    year, week, _ = local.isocalendar()
    monday = local.date() - timedelta(days=local.weekday())
    return f"{year}-W{week:02d}", local_at(monday + timedelta(days=weekday), at, tz)


def daily_slot(tz: ZoneInfo, at: time, now: datetime) -> tuple[str, datetime]:
    """Today's local slot as (period key like "2026-11-23", UTC instant)."""
    local = now.astimezone(tz)
    return local.date().isoformat(), local_at(local.date(), at, tz)
