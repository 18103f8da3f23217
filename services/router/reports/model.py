"""The report as data: what every format shows, and its JSON form."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Count(_Frozen):
    key: str
    count: int
    previous: int
    change: int


class DayCount(_Frozen):
    day: date
    count: int


class CaseTiming(_Frozen):
    """One crisis case: how long until someone acknowledged it, against its deadline."""

    case_id: str
    opened_at: datetime
    severity: str
    route: str
    acknowledged_at: datetime | None
    time_to_ack_s: float | None
    deadline_s: float | None  # None: its route follows no named chain
    breached: bool | None  # None: no deadline


class Crisis(_Frozen):
    cases: int
    acknowledged: int
    median_ack_s: float | None
    p90_ack_s: float | None
    timings: tuple[CaseTiming, ...]


class AckBreach(_Frozen):
    case_id: str
    severity: str
    route: str
    deadline_s: float
    late_by_s: float | None  # None: still not acknowledged


class AnswerBreach(_Frozen):
    case_id: str
    answer_due_at: datetime
    answered_at: datetime | None  # None: still waiting


class Questions(_Frozen):
    queued: int
    answered: int
    answered_late: int
    pending: int
    pending_overdue: int


class Topic(_Frozen):
    term: str
    count: int
    previous: int
    change: int


class Report(_Frozen):
    period: str  # week or month
    first_day: date
    last_day: date
    time_zone: str
    start: datetime
    end: datetime
    previous_start: datetime
    generated_at: datetime
    comments: Count
    by_platform: tuple[Count, ...]
    by_label: tuple[Count, ...]
    daily: tuple[DayCount, ...]
    cases_opened: int
    crisis: Crisis
    ack_breaches: tuple[AckBreach, ...]
    answer_breaches: tuple[AnswerBreach, ...]
    questions: Questions
    topics: tuple[Topic, ...]
    rising: tuple[Topic, ...]
    praise: tuple[str, ...]
