"""Which delivery failures deserve another attempt, and how long to wait."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from services.notifier.retry import backoff_s, recoverable_status, retry_after_s

NOW = datetime(2015, 10, 21, 7, 27, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("status", "recoverable"),
    [
        (500, True),
        (502, True),
        (503, True),
        (504, True),
        (429, True),
        (408, True),
        (400, False),
        (401, False),
        (403, False),
        (404, False),
        (409, False),
        (410, False),
        (413, False),
        (422, False),
        (301, False),
    ],
)
def test_recoverable_status(status: int, recoverable: bool) -> None:
    assert recoverable_status(status) is recoverable


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (None, None),
        ("", None),
        ("0", 0.0),
        ("120", 120.0),
        (" 7 ", 7.0),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 60.0),
        ("Wed, 21 Oct 2015 07:27:00 GMT", 0.0),
        # A date in the past means "now", never a negative wait.
        ("Wed, 21 Oct 2015 07:00:00 GMT", 0.0),
        ("Wed, 21 Oct 2015 09:28:00 +0200", 60.0),
        ("soon", None),
        ("-5", None),
        ("1.5", None),
    ],
)
def test_retry_after(value: str | None, seconds: float | None) -> None:
    assert retry_after_s(value, now=NOW) == seconds


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("Wed, 21 Oct 2015 07:28:00 -0000"),
        pytest.param("²"),
    ],
)
def test_an_odd_retry_after_never_raises(value: str) -> None:
    wait = retry_after_s(value, now=NOW)

    assert wait is None or wait >= 0


@pytest.mark.parametrize(
    ("attempt", "base", "cap", "low", "high"),
    [
        (1, 0.5, 30.0, 0.25, 0.5),
        (2, 0.5, 30.0, 0.5, 1.0),
        (3, 0.5, 30.0, 1.0, 2.0),
        (4, 0.5, 30.0, 2.0, 4.0),
        (10, 0.5, 30.0, 15.0, 30.0),
        (20, 0.5, 30.0, 15.0, 30.0),
        (3, 1.0, 3.0, 1.5, 3.0),
        (1, 0.0, 30.0, 0.0, 0.0),
    ],
)
def test_backoff_is_full_jitter_between_half_and_the_capped_ceiling(
    attempt: int, base: float, cap: float, low: float, high: float
) -> None:
    rng = random.Random(attempt)

    waits = [backoff_s(attempt, base=base, cap=cap, rng=rng) for _ in range(500)]

    assert all(low <= w <= high for w in waits)
    if high > low:
        # Jitter: the waits spread over the interval instead of all being the same.
        assert max(waits) - min(waits) > (high - low) / 2


def test_backoff_is_reproducible_with_a_seeded_rng() -> None:
    first = [backoff_s(a, base=0.5, rng=random.Random(7)) for a in range(1, 6)]
    again = [backoff_s(a, base=0.5, rng=random.Random(7)) for a in range(1, 6)]

    assert first == again


def test_backoff_without_rng_stays_in_bounds() -> None:
    assert all(1.0 <= backoff_s(3, base=0.5) <= 2.0 for _ in range(100))


def test_retry_after_in_the_future_relative_to_now() -> None:
    later = NOW + timedelta(minutes=2)
    header = later.strftime("%a, %d %b %Y %H:%M:%S GMT")

    assert retry_after_s(header, now=NOW) == 120.0
