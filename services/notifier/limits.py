"""Per-receiver rate limits (token buckets) and circuit breakers. Pure: time is passed in.

A bucket says how long to wait before the next send to a receiver; a breaker opens after
``failures`` consecutive failed deliveries and then refuses sends for ``cooldown_s`` so a
dead receiver fails fast (to its fallback) instead of holding every action through its
retries; after the cooldown one trial send decides whether it closes again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass
class TokenBucket:
    rate_per_s: float
    burst: float
    tokens: float = 0.0
    updated: float | None = None  # None: never used, the bucket starts full

    def reserve(self, now: float) -> float:
        """Take one token; the seconds to wait before using it (0 if available now).
        Tokens may go negative: waiting callers queue up behind each other."""
        if self.updated is None:
            self.tokens, self.updated = self.burst, now
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate_per_s)
        self.updated = now
        self.tokens -= 1
        return 0.0 if self.tokens >= 0 else -self.tokens / self.rate_per_s


@dataclass
class CircuitBreaker:
    failures: int
    cooldown_s: float
    consecutive: int = 0
    opened_at: float | None = None
    trial: bool = False

    def allow(self, now: float) -> bool:
        if self.opened_at is None:
            return True
        if now - self.opened_at >= self.cooldown_s and not self.trial:
            self.trial = True  # half-open: one send decides
            return True
        return False

    def record(self, ok: bool, now: float) -> None:
        self.trial = False
        if ok:
            self.consecutive, self.opened_at = 0, None
            return
        self.consecutive += 1
        if self.consecutive >= self.failures:
            self.opened_at = now


@dataclass
class Limits:
    """The buckets and breakers of every receiver, created on first use."""

    rate_per_s: float
    burst: float
    failures: int
    cooldown_s: float
    channel_rates: Mapping[str, float] = field(default_factory=dict)
    buckets: dict[str, TokenBucket] = field(default_factory=dict)
    breakers: dict[str, CircuitBreaker] = field(default_factory=dict)

    def bucket(self, key: str, channel: str | None = None) -> TokenBucket:
        """The bucket of one receiver; its rate is its channel's, else ``rate_per_s``."""
        if key not in self.buckets:
            rate = self.channel_rates.get(channel, self.rate_per_s) if channel else self.rate_per_s
            self.buckets[key] = TokenBucket(rate, self.burst)
        return self.buckets[key]

    def breaker(self, key: str) -> CircuitBreaker:
        if key not in self.breakers:
            self.breakers[key] = CircuitBreaker(self.failures, self.cooldown_s)
        return self.breakers[key]
