"""Silences: a moderator mutes the pages of comments matching some matchers for a while
(a known pile-on, a planned campaign). Cases still open; critical ones still page."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.router.policy.matchers import Facts, parse_matcher
from services.router.policy.schema import MatcherText


class Silence(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1, max_length=64)
    matchers: tuple[MatcherText, ...] = Field(min_length=1)
    starts_at: datetime
    ends_at: datetime
    created_by: str = Field(min_length=1, max_length=128)
    comment: str = Field(min_length=1, max_length=1000, description="Why: required.")

    @model_validator(mode="after")
    def _time_box(self) -> Silence:
        if self.starts_at.tzinfo is None or self.ends_at.tzinfo is None:
            raise ValueError("starts_at and ends_at carry a time zone")
        if self.ends_at <= self.starts_at:
            raise ValueError("a silence ends after it starts")
        return self

    def active(self, at: datetime) -> bool:
        return self.starts_at <= at < self.ends_at

    def silences(self, facts: Facts, at: datetime) -> bool:
        return self.active(at) and all(parse_matcher(m).matches(facts) for m in self.matchers)


def silencing(silences: Iterable[Silence], facts: Facts, at: datetime) -> Silence | None:
    """The first silence that covers these facts at ``at``, if any."""
    return next((s for s in silences if s.silences(facts, at)), None)
