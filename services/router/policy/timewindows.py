"""Named weekly time windows (office hours, nights) in a time zone, as routes and quiet hours
use them. Pure: the instant to test is always passed in."""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_RANGE = re.compile(r"^\s*(\d{2}):(\d{2})\s*-\s*(\d{2}):(\d{2})\s*$")


def _weekdays(spec: str) -> frozenset[int]:
    first, _, last = spec.strip().lower().partition(":")
    if first not in WEEKDAYS or (last and last not in WEEKDAYS):
        raise ValueError(f"not a weekday or range of weekdays: {spec!r} (e.g. monday:friday)")
    start, end = WEEKDAYS.index(first), WEEKDAYS.index(last or first)
    return (
        frozenset(range(start, end + 1))
        if start <= end
        else frozenset([*range(start, 7), *range(end + 1)])
    )


def _minutes(spec: str) -> tuple[int, int]:
    found = _RANGE.match(spec)
    if not found:
        raise ValueError(f"not a time range: {spec!r} (write HH:MM-HH:MM, e.g. 22:00-07:00)")
    h1, m1, h2, m2 = (int(g) for g in found.groups())
    if h1 > 23 or m1 > 59 or m2 > 59 or h2 > 24 or (h2 == 24 and m2):
        raise ValueError(f"not a time of day in {spec!r}")
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if start == end:
        raise ValueError(f"an empty time range: {spec!r}")
    return start, end


class TimeWindow(BaseModel):
    """Weekdays x times of day, in one time zone. A range whose end comes before its start
    runs past midnight into the next day (``22:00-07:00``); ranges are half-open."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    time_zone: str = "UTC"
    weekdays: tuple[str, ...] = Field(default=(), description="Empty: every day.")
    times: tuple[str, ...] = Field(default=(), description="Empty: all day.")

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r} (use an IANA name)") from exc
        return value

    @field_validator("weekdays")
    @classmethod
    def _days(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for spec in value:
            _weekdays(spec)
        return value

    @field_validator("times")
    @classmethod
    def _times(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for spec in value:
            _minutes(spec)
        return value

    def _days_set(self) -> frozenset[int]:
        days: frozenset[int] = frozenset()
        for spec in self.weekdays:
            days |= _weekdays(spec)
        return days or frozenset(range(7))

    def contains(self, at: datetime) -> bool:
        """Whether the (aware) instant ``at`` falls in the window."""
        local = at.astimezone(ZoneInfo(self.time_zone))
        days = self._days_set()
        minute = local.hour * 60 + local.minute
        today, yesterday = local.weekday(), (local.weekday() - 1) % 7
        if not self.times:
            return today in days
        for spec in self.times:
            start, end = _minutes(spec)
            if start < end and today in days and start <= minute < end:
                return True
            if start > end and (
                (minute >= start and today in days) or (minute < end and yesterday in days)
            ):
                return True
        return False

    def boundaries(self, after: datetime, *, days: int = 8) -> list[datetime]:
        """Every instant after ``after`` (within ``days``) at which the window may open or
        close: the starts and ends of its ranges, and midnights."""
        zone = ZoneInfo(self.time_zone)
        local = after.astimezone(zone)
        marks = {0}
        for spec in self.times:
            start, end = _minutes(spec)
            marks.update((start, end % 1440))
        found = []
        for offset in range(days + 1):
            day = local.date() + timedelta(days=offset)
            for minute in sorted(marks):
                moment = datetime.combine(day, time(minute // 60, minute % 60), tzinfo=zone)
                if moment > after:
                    found.append(moment)
        return found


def in_any(windows: tuple[TimeWindow, ...], at: datetime) -> bool:
    return any(window.contains(at) for window in windows)


def first_moment_outside(windows: tuple[TimeWindow, ...], at: datetime) -> datetime | None:
    """The earliest instant at or after ``at`` that no window contains; ``None`` when the
    windows cover the whole next week (a window that never ends)."""
    if not in_any(windows, at):
        return at
    candidates = sorted({b for window in windows for b in window.boundaries(at)})
    return next((c for c in candidates if not in_any(windows, c)), None)
