"""Which delivery errors are worth another attempt, and how long to wait: pure."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


def recoverable_status(status: int) -> bool:
    """5xx, 408 and 429 may succeed later; any other 4xx never will."""
    return status >= 500 or status in (408, 429)


def retry_after_s(value: str | None, *, now: datetime) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # "-0000" means UTC with no claim about local time (RFC 5322)
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def backoff_s(
    attempt: int, *, base: float, cap: float = 30.0, rng: random.Random | None = None
) -> float:
    """Exponential backoff with full jitter, for attempt 1, 2, ..."""
    ceiling = min(cap, base * 2 ** (attempt - 1))
    return (rng or random).uniform(ceiling / 2, ceiling)
