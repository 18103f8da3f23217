"""From facts to a report: counts, times to acknowledge, breaches, topics. Pure.

Crisis cases are those of critical severity or labelled sensitive. A case's ack deadline is
the first step's wait of the named chain it follows, counted from when its chain started
(after the route's group_wait); a case on a route without a named chain has none. A queued
question is answered when its case is resolved, late when that is after its answer
deadline. Facts are taken as they stand at ``now`` (a case acknowledged after the period
ended counts as acknowledged).
"""

from __future__ import annotations

import math
import re
import statistics
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from services.router.reports import topics
from services.router.reports.facts import CaseFact, CommentFact, Facts
from services.router.reports.model import (
    AckBreach,
    AnswerBreach,
    CaseTiming,
    Count,
    Crisis,
    DayCount,
    Questions,
    Report,
    Topic,
)
from services.router.reports.period import Period

LABELS = ("sensitive", "abusive", "question", "praise")
UNLABELLED = "none"
PRAISE_EXCERPTS = 3
EXCERPT_CHARS = 160


def is_crisis(case: CaseFact) -> bool:
    return case.severity == "critical" or "sensitive" in case.labels


def p90(values: Sequence[float]) -> float | None:
    """Nearest rank: the smallest value that at least 90% of the values do not exceed."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[math.ceil(0.9 * len(ordered)) - 1]


def median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def _counts(now: Iterable[str], before: Iterable[str], keys: Iterable[str] = ()) -> list[Count]:
    a, b = Counter(now), Counter(before)
    every = sorted(set(a) | set(b) | set(keys), key=lambda k: (-a[k], k))
    return [Count(key=k, count=a[k], previous=b[k], change=a[k] - b[k]) for k in every]


def _label_keys(comment: CommentFact) -> list[str]:
    return [label for label in comment.labels if label in LABELS] or [UNLABELLED]


def deadline(case: CaseFact, deadlines: dict[str, timedelta]) -> datetime | None:
    wait = deadlines.get(case.chain) if case.chain else None
    return None if wait is None else (case.paging_from or case.opened_at) + wait


def _late(done: datetime | None, due: datetime, now: datetime) -> bool:
    """Done after its deadline, or not done and the deadline is over."""
    return done > due if done is not None else now > due


def timing(case: CaseFact, deadlines: dict[str, timedelta], now: datetime) -> CaseTiming:
    due = deadline(case, deadlines)
    ack = case.acknowledged_at
    breached = None if due is None else _late(ack, due, now)
    return CaseTiming(
        case_id=case.id,
        opened_at=case.opened_at,
        severity=case.severity,
        route=case.route,
        acknowledged_at=ack,
        time_to_ack_s=(ack - case.opened_at).total_seconds() if ack else None,
        deadline_s=(due - case.opened_at).total_seconds() if due else None,
        breached=breached,
    )


def crisis(cases: Sequence[CaseFact], deadlines: dict[str, timedelta], now: datetime) -> Crisis:
    timings = [timing(c, deadlines, now) for c in cases if is_crisis(c)]
    waits = [t.time_to_ack_s for t in timings if t.time_to_ack_s is not None]
    return Crisis(
        cases=len(timings),
        acknowledged=len(waits),
        median_ack_s=median(waits),
        p90_ack_s=p90(waits),
        timings=tuple(timings),
    )


def ack_breaches(
    cases: Sequence[CaseFact], deadlines: dict[str, timedelta], now: datetime
) -> list[AckBreach]:
    found: list[AckBreach] = []
    for case in cases:
        due = deadline(case, deadlines)
        if due is None:
            continue
        ack = case.acknowledged_at
        if _late(ack, due, now):
            found.append(
                AckBreach(
                    case_id=case.id,
                    severity=case.severity,
                    route=case.route,
                    deadline_s=(due - case.opened_at).total_seconds(),
                    late_by_s=(ack - due).total_seconds() if ack else None,
                )
            )
    return found


def _queued(cases: Sequence[CaseFact]) -> list[CaseFact]:
    return [c for c in cases if c.answer_due_at is not None]


def questions(cases: Sequence[CaseFact], now: datetime) -> Questions:
    queued = _queued(cases)
    answered = [c for c in queued if c.resolved_at is not None]
    late = [
        c for c in answered if c.answer_due_at and c.resolved_at and c.resolved_at > c.answer_due_at
    ]
    pending = [c for c in queued if c.resolved_at is None]
    overdue = [c for c in pending if c.answer_due_at and c.answer_due_at < now]
    return Questions(
        queued=len(queued),
        answered=len(answered),
        answered_late=len(late),
        pending=len(pending),
        pending_overdue=len(overdue),
    )


def answer_breaches(cases: Sequence[CaseFact], now: datetime) -> list[AnswerBreach]:
    found: list[AnswerBreach] = []
    for case in _queued(cases):
        due = case.answer_due_at
        assert due is not None
        if _late(case.resolved_at, due, now):
            found.append(
                AnswerBreach(case_id=case.id, answer_due_at=due, answered_at=case.resolved_at)
            )
    return found


_SPACE = re.compile(r"\s+")
_TAG = re.compile(r"<[^<>]*>")  # markup some platforms leave in texts
_BEFORE_PUNCTUATION = re.compile(r"\s+([,.])")


def excerpt(text: str, banned: frozenset[str]) -> str | None:
    """A short praise excerpt without markup, links, @handles or author names; None if
    nothing is left worth quoting."""
    cleaned = topics.strip_identities(_TAG.sub(" ", text), banned)
    cleaned = _BEFORE_PUNCTUATION.sub(r"\1", _SPACE.sub(" ", cleaned)).strip(" ,;:-")
    if len(cleaned) < 12:
        return None
    if len(cleaned) > EXCERPT_CHARS:
        cleaned = cleaned[: EXCERPT_CHARS - 1].rsplit(" ", 1)[0] + "…"
    return cleaned


def praise(comments: Sequence[CommentFact], banned: frozenset[str]) -> list[str]:
    """A few praise excerpts, the most confident first, shorter ones preferred on a tie."""
    liked = [
        c
        for c in comments
        if "praise" in c.labels and "sensitive" not in c.labels and "abusive" not in c.labels
    ]
    liked.sort(key=lambda c: (-c.praise_score, len(c.text), c.received_at))
    chosen: list[str] = []
    for comment in liked:
        quote = excerpt(comment.text, banned)
        if quote is not None and quote not in chosen:
            chosen.append(quote)
        if len(chosen) == PRAISE_EXCERPTS:
            break
    return chosen


def _topics(trends: Iterable[topics.Trend]) -> tuple[Topic, ...]:
    return tuple(
        Topic(term=t.term, count=t.count, previous=t.previous, change=t.change) for t in trends
    )


def build(facts: Facts, period: Period, *, now: datetime) -> Report:
    """The report of ``period`` from ``facts`` (which also hold the period before)."""
    this = [c for c in facts.comments if facts.start <= c.received_at < facts.end]
    before = [c for c in facts.comments if facts.previous_start <= c.received_at < facts.start]
    banned = topics.name_words(facts.author_names)

    def spoken(items: Sequence[CommentFact]) -> topics.Counts:
        # Sensitive comments are nobody's topic.
        return topics.count((c.text for c in items if "sensitive" not in c.labels), banned=banned)

    terms_now, terms_before = spoken(this), spoken(before)
    per_day = Counter(c.received_at.astimezone(period.start.tzinfo).date() for c in this)
    return Report(
        period=period.kind.value,
        first_day=period.first_day,
        last_day=period.last_day,
        time_zone=period.tz,
        start=facts.start,
        end=facts.end,
        previous_start=facts.previous_start,
        generated_at=now,
        comments=Count(
            key="comments", count=len(this), previous=len(before), change=len(this) - len(before)
        ),
        by_platform=tuple(_counts((c.platform for c in this), (c.platform for c in before))),
        by_label=tuple(
            _counts(
                (k for c in this for k in _label_keys(c)),
                (k for c in before for k in _label_keys(c)),
                LABELS,
            )
        ),
        daily=tuple(DayCount(day=d, count=per_day[d]) for d in period.days),
        cases_opened=len(facts.cases),
        crisis=crisis(facts.cases, facts.ack_deadlines, now),
        ack_breaches=tuple(ack_breaches(facts.cases, facts.ack_deadlines, now)),
        answer_breaches=tuple(answer_breaches(facts.cases, now)),
        questions=questions(facts.cases, now),
        topics=_topics(topics.top(terms_now, terms_before)),
        rising=_topics(topics.rising(terms_now, terms_before)),
        praise=tuple(praise(this, banned)),
    )
