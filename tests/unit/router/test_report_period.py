"""Report periods and schedules: which days a report covers and when it goes out."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest
from pydantic import ValidationError

from services.router.reports.period import PeriodError, PeriodKind, ending, last_complete
from services.router.reports.schedule import ScheduleError, parse, parse_one
from services.router.settings import RouterSettings

WEEK, MONTH = PeriodKind.WEEK, PeriodKind.MONTH


@pytest.mark.parametrize(
    ("kind", "last_day", "first_day", "previous"),
    [
        (WEEK, date(2026, 11, 15), date(2026, 11, 9), (date(2026, 11, 2), date(2026, 11, 8))),
        (MONTH, date(2026, 10, 31), date(2026, 10, 1), (date(2026, 9, 1), date(2026, 9, 30))),
        (MONTH, date(2026, 11, 15), date(2026, 10, 16), (date(2026, 9, 16), date(2026, 10, 15))),
        # The day before 31 March is 30 March; one month before 31 March, 28 February.
        (MONTH, date(2026, 3, 30), date(2026, 2, 28), (date(2026, 1, 28), date(2026, 2, 27))),
        (MONTH, date(2026, 1, 31), date(2026, 1, 1), (date(2025, 12, 1), date(2025, 12, 31))),
    ],
)
def test_a_period_ends_on_its_last_day_and_follows_the_previous_one(
    kind: PeriodKind, last_day: date, first_day: date, previous: tuple[date, date]
) -> None:
    period = ending(kind, last_day)
    assert (period.first_day, period.last_day) == (first_day, last_day)
    assert (period.previous().first_day, period.previous().last_day) == previous
    assert period.previous().end == period.start
    assert len(period.days) == (last_day - first_day).days + 1


def test_local_midnights_bound_a_period_across_a_clock_change() -> None:
    # Paris leaves summer time on 25 October 2026: that week lasts 7 days and an hour.
    period = ending(WEEK, date(2026, 10, 25), "Europe/Paris")
    assert period.start.astimezone(UTC) == datetime(2026, 10, 18, 22, 0, tzinfo=UTC)
    assert period.end.astimezone(UTC) == datetime(2026, 10, 25, 23, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("kind", "today", "last_day"),
    [
        (WEEK, date(2026, 11, 16), date(2026, 11, 15)),  # Monday: the week to yesterday
        (WEEK, date(2026, 11, 15), date(2026, 11, 8)),  # Sunday: this week is not over
        (WEEK, date(2026, 11, 21), date(2026, 11, 15)),
        (MONTH, date(2026, 11, 21), date(2026, 10, 31)),
        (MONTH, date(2026, 1, 1), date(2025, 12, 31)),
    ],
)
def test_the_last_complete_period(kind: PeriodKind, today: date, last_day: date) -> None:
    assert last_complete(kind, today).last_day == last_day


def test_an_unknown_time_zone_is_refused() -> None:
    with pytest.raises(PeriodError, match="Mars/Base"):
        ending(WEEK, date(2026, 11, 15), "Mars/Base")


@pytest.mark.parametrize(
    ("text", "kind", "day", "at", "tz", "key"),
    [
        ("weekly:mon 08:00 Europe/Paris", WEEK, 1, time(8), "Europe/Paris", None),
        ("WEEKLY:Sun 7:30 America/New_York", WEEK, 7, time(7, 30), "America/New_York", None),
        ("monthly:1 08:00", MONTH, 1, time(8), "UTC", "monthly:1 08:00 UTC"),
        ("  monthly:28 23:59 UTC ", MONTH, 28, time(23, 59), "UTC", "monthly:28 23:59 UTC"),
    ],
)
def test_schedules_parse(
    text: str, kind: PeriodKind, day: int, at: time, tz: str, key: str | None
) -> None:
    schedule = parse_one(text)
    assert (schedule.kind, schedule.day, schedule.at, schedule.tz) == (kind, day, at, tz)
    assert parse_one(schedule.key) == schedule
    if key is not None:
        assert schedule.key == key


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("daily:08:00", "expected weekly"),
        ("weekly:xyz 08:00", "one of"),
        ("weekly:1 08:00", "one of"),
        ("monthly:29 08:00", "1 to 28"),
        ("monthly:0 08:00", "1 to 28"),
        ("weekly:mon 24:00", "not a time of day"),
        ("weekly:mon 08:00 Mars/Base", "unknown time zone"),
    ],
)
def test_bad_schedules_say_what_is_wrong(text: str, says: str) -> None:
    with pytest.raises(ScheduleError, match=says):
        parse_one(text)


def test_several_schedules_and_none() -> None:
    both = parse("weekly:mon 08:00 Europe/Paris; monthly:1 09:00 Europe/Paris")
    assert [s.kind for s in both] == [WEEK, MONTH]
    assert parse("") == ()
    assert parse(" ; ") == ()


def test_the_setting_is_checked_at_start_up() -> None:
    with pytest.raises(ValidationError, match="report_schedule"):
        RouterSettings(report_schedule="weekly:someday 08:00")


@pytest.mark.parametrize(
    ("spec", "after", "due", "first_day", "last_day"),
    [
        # Saturday noon: next Monday 08:00 in Paris (07:00 UTC), for the week to Sunday.
        (
            "weekly:mon 08:00 Europe/Paris",
            datetime(2026, 11, 21, 12, tzinfo=UTC),
            datetime(2026, 11, 23, 7, tzinfo=UTC),
            date(2026, 11, 16),
            date(2026, 11, 22),
        ),
        # Exactly at a due time: that one is over, the next is a week later.
        (
            "weekly:mon 08:00 Europe/Paris",
            datetime(2026, 11, 23, 7, tzinfo=UTC),
            datetime(2026, 11, 30, 7, tzinfo=UTC),
            date(2026, 11, 23),
            date(2026, 11, 29),
        ),
        # Summer time: 08:00 in Paris is 06:00 UTC.
        (
            "weekly:mon 08:00 Europe/Paris",
            datetime(2026, 6, 1, 5, tzinfo=UTC),
            datetime(2026, 6, 1, 6, tzinfo=UTC),
            date(2026, 5, 25),
            date(2026, 5, 31),
        ),
        (
            "monthly:1 08:00 Europe/Paris",
            datetime(2026, 11, 21, 12, tzinfo=UTC),
            datetime(2026, 12, 1, 7, tzinfo=UTC),
            date(2026, 11, 1),
            date(2026, 11, 30),
        ),
    ],
)
def test_when_a_report_goes_out_and_what_it_covers(
    spec: str, after: datetime, due: datetime, first_day: date, last_day: date
) -> None:
    schedule = parse_one(spec)
    assert schedule.next_after(after) == due
    period = schedule.period(due)
    assert (period.first_day, period.last_day, period.tz) == (first_day, last_day, schedule.tz)
