"""Report periods: a week or a month of local calendar days, ending on a given day.

A period ending on day D covers the days up to and including D in its time zone: a week is
D-6 .. D, a month is the day after the same day of the previous month .. D (ending on
31 October: 1 .. 31 October). The previous period is the one just before, of the same kind.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


class PeriodKind(StrEnum):
    WEEK = "week"
    MONTH = "month"


class PeriodError(ValueError):
    pass


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise PeriodError(f"unknown time zone {name!r} (e.g. Europe/Paris, UTC)") from exc


def _month_before(day: date) -> date:
    """The same day one month earlier, clamped to that month's last day."""
    year, month = (day.year, day.month - 1) if day.month > 1 else (day.year - 1, 12)
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


@dataclass(frozen=True, slots=True)
class Period:
    kind: PeriodKind
    first_day: date
    last_day: date
    tz: str

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first_day, time(), zone(self.tz))

    @property
    def end(self) -> datetime:
        """Exclusive: midnight after the last day."""
        return datetime.combine(self.last_day + timedelta(days=1), time(), zone(self.tz))

    @property
    def days(self) -> list[date]:
        count = (self.last_day - self.first_day).days + 1
        return [self.first_day + timedelta(days=n) for n in range(count)]

    @property
    def label(self) -> str:
        return f"{self.first_day.isoformat()} – {self.last_day.isoformat()}"

    def previous(self) -> Period:
        return ending(self.kind, self.first_day - timedelta(days=1), self.tz)


def ending(kind: PeriodKind, last_day: date, tz: str = "UTC") -> Period:
    zone(tz)
    after = last_day + timedelta(days=1)
    first = after - timedelta(days=7) if kind is PeriodKind.WEEK else _month_before(after)
    return Period(kind, first, last_day, tz)


def last_complete(kind: PeriodKind, today: date, tz: str = "UTC") -> Period:
    """The latest period over before ``today``: the week to last Sunday, or last month."""
    if kind is PeriodKind.WEEK:
        return ending(kind, today - timedelta(days=today.isoweekday()), tz)
    return ending(kind, today.replace(day=1) - timedelta(days=1), tz)
