"""When scheduled reports go out: ``weekly:mon 08:00 Europe/Paris``, ``monthly:1 08:00 UTC``.

Several schedules are separated by ``;``. A report that goes out on local day D covers the
period ending the day before (a Monday report: the week to Sunday; a report on the 1st: the
previous month). Pure: times are passed in.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from services.router.reports.period import Period, PeriodError, PeriodKind, ending, zone

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_SPEC = re.compile(
    r"^(?P<kind>weekly|monthly):(?P<day>[a-z]{3}|\d{1,2})\s+(?P<hh>\d{1,2}):(?P<mm>\d{2})"
    r"(?:\s+(?P<tz>\S+))?$"
)


class ScheduleError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Schedule:
    kind: PeriodKind
    day: int  # weekly: ISO weekday 1..7; monthly: day of the month 1..28
    at: time
    tz: str

    @property
    def key(self) -> str:
        every = "weekly" if self.kind is PeriodKind.WEEK else "monthly"
        day = DAYS[self.day - 1] if self.kind is PeriodKind.WEEK else str(self.day)
        return f"{every}:{day} {self.at.strftime('%H:%M')} {self.tz}"

    def _runs_on(self, day: date) -> bool:
        if self.kind is PeriodKind.WEEK:
            return day.isoweekday() == self.day
        return day.day == self.day

    def occurrences(self, after: datetime) -> Iterator[datetime]:
        """Every time a report goes out, strictly after ``after``, in order (aware UTC)."""
        tz = zone(self.tz)
        day = after.astimezone(tz).date()
        while True:
            if self._runs_on(day):
                at = datetime.combine(day, self.at, tz)
                if at > after:
                    yield at.astimezone(zone("UTC"))
            day += timedelta(days=1)

    def next_after(self, after: datetime) -> datetime:
        return next(self.occurrences(after))

    def period(self, occurrence: datetime) -> Period:
        """The period the report going out at ``occurrence`` covers."""
        local = occurrence.astimezone(zone(self.tz)).date()
        return ending(self.kind, local - timedelta(days=1), self.tz)


def parse_one(text: str) -> Schedule:
    found = _SPEC.match(text.strip().lower())
    if found is None:
        raise ScheduleError(
            f"{text.strip()!r}: expected weekly:<mon..sun> HH:MM [TZ] or monthly:<1..28> HH:MM [TZ]"
        )
    kind = PeriodKind.WEEK if found["kind"] == "weekly" else PeriodKind.MONTH
    raw_day = found["day"]
    if kind is PeriodKind.WEEK:
        if raw_day not in DAYS:
            raise ScheduleError(f"{text.strip()!r}: the day of a weekly report is one of {DAYS}")
        day = DAYS.index(raw_day) + 1
    else:
        if not raw_day.isdigit() or not 1 <= int(raw_day) <= 28:
            raise ScheduleError(f"{text.strip()!r}: the day of a monthly report is 1 to 28")
        day = int(raw_day)
    hours, minutes = int(found["hh"]), int(found["mm"])
    if hours > 23 or minutes > 59:
        raise ScheduleError(f"{text.strip()!r}: not a time of day")
    # The zone keeps its spelling (Europe/Paris), which lower() above changed.
    tz = text.strip().split()[-1] if found["tz"] else "UTC"
    try:
        zone(tz)
    except PeriodError as exc:
        raise ScheduleError(f"{text.strip()!r}: {exc}") from exc
    return Schedule(kind, day, time(hours, minutes), tz)


def parse(text: str) -> tuple[Schedule, ...]:
    """Every schedule in ``text`` (``;``-separated); empty: none."""
    return tuple(parse_one(part) for part in text.split(";") if part.strip())
