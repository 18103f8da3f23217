"""Console sessions' lifetime and CSRF check: pure, the clock is passed in.

A session ends at its absolute expiry (``ttl`` after login) or after ``idle`` without a
request, whichever comes first. Activity is written back at most once per ``touch_every``,
so that reading pages does not write a row per request.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class SessionState(StrEnum):
    LIVE = "live"
    EXPIRED = "expired"
    IDLE = "idle"


@dataclass(frozen=True, slots=True)
class SessionPolicy:
    ttl: timedelta = timedelta(hours=12)
    idle: timedelta = timedelta(minutes=30)
    touch_every: timedelta = timedelta(minutes=1)

    def expires_at(self, login_at: datetime) -> datetime:
        return login_at + self.ttl

    def state(self, *, expires_at: datetime, last_seen_at: datetime, now: datetime) -> SessionState:
        if now >= expires_at:
            return SessionState.EXPIRED
        if now - last_seen_at >= self.idle:
            return SessionState.IDLE
        return SessionState.LIVE

    def needs_touch(self, *, last_seen_at: datetime, now: datetime) -> bool:
        return now - last_seen_at >= self.touch_every


def csrf_matches(expected: str, given: str | None) -> bool:
    """The request's CSRF token is the session's (constant-time)."""
    if not given:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())
