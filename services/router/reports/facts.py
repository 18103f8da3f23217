"""What a report is computed from: plain rows, read from the database by ``fetch`` or made
by hand in tests. Texts and author names are here only to find topics and excerpts and to
keep names out of them; a report never carries them as such."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class CommentFact:
    """A new comment (its first revision) and the latest verdict on it."""

    platform: str
    received_at: datetime
    text: str
    labels: tuple[str, ...] = ()
    severity: str = "none"
    praise_score: float = 0.0


@dataclass(frozen=True, slots=True)
class CaseFact:
    id: str
    opened_at: datetime
    severity: str
    labels: tuple[str, ...]
    route: str
    status: str
    acknowledged_at: datetime | None = None
    resolved_at: datetime | None = None
    answer_due_at: datetime | None = None
    chain: str | None = None  # the named escalation chain the case follows, if any
    paging_from: datetime | None = None  # when its chain started (after group_wait)


@dataclass(frozen=True, slots=True)
class Facts:
    """Everything a report over ``[start, end)`` and the period before needs."""

    start: datetime
    end: datetime
    previous_start: datetime
    comments: tuple[CommentFact, ...]  # received in [previous_start, end)
    cases: tuple[CaseFact, ...]  # opened in [start, end)
    author_names: frozenset[str] = frozenset()  # to redact from topics and excerpts
    ack_deadlines: dict[str, timedelta] = field(default_factory=dict)  # chain -> first wait
