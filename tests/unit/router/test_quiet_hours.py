"""Time windows (weekdays x times in a zone) and the quiet hours built on them."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from services.router.policy.quiet import DeferredPage, deferred_page
from services.router.policy.schema import ReceiverConfig
from services.router.policy.timewindows import TimeWindow, first_moment_outside
from shared.events import Channel, Severity

PARIS = "Europe/Paris"
OFFICE = TimeWindow(
    name="office", time_zone=PARIS, weekdays=("monday:friday",), times=("09:00-18:00",)
)
NIGHTS = TimeWindow(name="nights", time_zone=PARIS, times=("22:00-07:00",))
FRIDAY_NIGHTS = TimeWindow(
    name="fri", time_zone=PARIS, weekdays=("friday",), times=("22:00-07:00",)
)
WEEKEND = TimeWindow(name="weekend", weekdays=("saturday:sunday",))


def paris(day: int, hour: int, minute: int = 0) -> datetime:
    """January 2026 in Paris (UTC+1): the 5th is a Monday."""
    return datetime(2026, 1, day, hour, minute, tzinfo=ZoneInfo(PARIS))


@pytest.mark.parametrize(
    ("window", "at", "inside"),
    [
        (OFFICE, paris(5, 9), True),  # start included
        (OFFICE, paris(5, 17, 59), True),
        (OFFICE, paris(5, 18), False),  # end excluded
        (OFFICE, paris(5, 8, 59), False),
        (OFFICE, paris(10, 12), False),  # Saturday
        (NIGHTS, paris(5, 23), True),
        (NIGHTS, paris(6, 6, 59), True),
        (NIGHTS, paris(6, 7), False),
        (NIGHTS, paris(6, 21, 59), False),
        (FRIDAY_NIGHTS, paris(9, 23), True),  # Friday evening
        (FRIDAY_NIGHTS, paris(10, 3), True),  # ...into Saturday morning
        (FRIDAY_NIGHTS, paris(10, 23), False),  # Saturday evening is not a Friday night
        (FRIDAY_NIGHTS, paris(9, 3), False),  # Friday morning belongs to Thursday night
        (WEEKEND, datetime(2026, 1, 10, 0, 0, tzinfo=UTC), True),
        (WEEKEND, datetime(2026, 1, 11, 23, 59, tzinfo=UTC), True),
        (WEEKEND, datetime(2026, 1, 12, 0, 0, tzinfo=UTC), False),
    ],
)
def test_a_window_contains_its_weekdays_and_times_in_its_zone(
    window: TimeWindow, at: datetime, inside: bool
) -> None:
    assert window.contains(at) is inside


def test_a_window_follows_daylight_saving_time() -> None:
    summer_nine = datetime(2026, 7, 6, 7, 0, tzinfo=UTC)  # 09:00 in Paris (UTC+2)

    assert OFFICE.contains(summer_nine)
    assert not OFFICE.contains(datetime(2026, 7, 6, 16, 0, tzinfo=UTC))  # 18:00 in Paris


@pytest.mark.parametrize(
    ("windows", "at", "until"),
    [
        ((NIGHTS,), paris(5, 23), paris(6, 7)),
        ((NIGHTS,), paris(5, 12), paris(5, 12)),  # not quiet: at once
        ((NIGHTS, WEEKEND), paris(9, 23), datetime(2026, 1, 12, 6, 0, tzinfo=UTC)),
        ((TimeWindow(name="always"),), paris(5, 12), None),
    ],
    ids=["night", "day", "night-then-weekend", "never-ends"],
)
def test_the_first_moment_outside_the_windows(
    windows: tuple[TimeWindow, ...], at: datetime, until: datetime | None
) -> None:
    assert first_moment_outside(windows, at) == until


MODERATORS = ReceiverConfig(
    name="moderators", channel=Channel.WEBHOOK, url="http://r.test/m", quiet_hours=("nights",)
)


@pytest.mark.parametrize(
    ("severity", "at", "deferred"),
    [
        (Severity.HIGH, paris(5, 12), None),
        (Severity.HIGH, paris(5, 23), DeferredPage("moderators", paris(6, 7))),
        (Severity.LOW, paris(6, 3), DeferredPage("moderators", paris(6, 7))),
        (Severity.CRITICAL, paris(5, 23), None),
    ],
    ids=["day", "night", "small-hours", "critical-never-sleeps"],
)
def test_quiet_hours_defer_pages_until_they_end(
    severity: Severity, at: datetime, deferred: DeferredPage | None
) -> None:
    assert deferred_page(MODERATORS, {"nights": NIGHTS}, severity=severity, at=at) == deferred


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("weekdays", ("mon:fri",), "not a weekday"),
        ("times", ("25:00-26:00",), "not a time of day"),
        ("times", ("09:00-09:00",), "empty time range"),
        ("time_zone", "Mars/Olympus", "unknown time zone"),
    ],
)
def test_a_bad_window_is_refused(field: str, value: object, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        TimeWindow.model_validate({"name": "w", field: value})
