"""Reading a report's facts from the database: three queries, no aggregation here."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, literal, select
from sqlalchemy.ext.asyncio import AsyncConnection

from services.router.policy.config import Policy
from services.router.reports.facts import CaseFact, CommentFact, Facts
from services.router.reports.period import Period
from services.router.store import aware, aware_or_none
from shared.storage.tables import case_timers, cases, classifications, comments

Progress = Callable[[str], None]


def ack_deadlines(policy: Policy) -> dict[str, timedelta]:
    """How long each chain gives before its first step's wait is over: the ack deadline."""
    return {name: chain.steps[0].wait for name, chain in policy.chains.items()}


def _labels(value: Any) -> tuple[str, ...]:
    return tuple(str(label) for label in value or ())


async def _comments(
    conn: AsyncConnection, start: datetime, end: datetime
) -> tuple[list[CommentFact], set[str]]:
    c, v = comments.c, classifications.c
    verdict = and_(
        v.platform == c.platform,
        v.comment_id == c.comment_id,
        v.revision == c.revision,
        v.kind == c.kind,
    )
    rows = await conn.execute(
        select(
            c.id,
            c.platform,
            c.received_at,
            c.text,
            c.author_id,
            c.author_name,
            v.labels,
            v.severity,
            v.scores,
        )
        .select_from(comments.outerjoin(classifications, verdict))
        .where(c.kind == "created", c.received_at >= start, c.received_at < end)
        .order_by(c.id, v.classified_at)
    )
    latest: dict[int, CommentFact] = {}  # the last verdict (newest model) wins
    names: set[str] = set()
    for row in rows:
        latest[row.id] = CommentFact(
            platform=row.platform,
            received_at=aware(row.received_at),
            text=row.text,
            labels=_labels(row.labels),
            severity=row.severity or "none",
            praise_score=float((row.scores or {}).get("praise", 0.0)),
        )
        names.update(n for n in (row.author_name, row.author_id) if n)
    return list(latest.values()), names


async def _cases(conn: AsyncConnection, start: datetime, end: datetime) -> list[CaseFact]:
    k, t = cases.c, case_timers.c
    chain_row = t.id == literal("chain:") + k.id
    rows = await conn.execute(
        select(
            k.id,
            k.opened_at,
            k.severity,
            k.labels,
            k.route,
            k.status,
            k.acknowledged_at,
            k.resolved_at,
            k.answer_due_at,
            t.chain,
            t.started_at,
        )
        .select_from(cases.outerjoin(case_timers, chain_row))
        .where(k.opened_at >= start, k.opened_at < end)
        .order_by(k.opened_at, k.id)
    )
    return [
        CaseFact(
            id=row.id,
            opened_at=aware(row.opened_at),
            severity=row.severity,
            labels=_labels(row.labels),
            route=row.route,
            status=row.status,
            acknowledged_at=aware_or_none(row.acknowledged_at),
            resolved_at=aware_or_none(row.resolved_at),
            answer_due_at=aware_or_none(row.answer_due_at),
            chain=row.chain,
            paging_from=aware_or_none(row.started_at),
        )
        for row in rows
    ]


async def fetch_facts(
    conn: AsyncConnection,
    period: Period,
    *,
    deadlines: dict[str, timedelta],
    progress: Progress | None = None,
) -> Facts:
    """The facts of ``period`` and of the period before it."""
    say = progress or (lambda _stage: None)
    previous = period.previous()
    say("comments")
    # UTC, as stored: SQLite compares the times as text.
    start, end = period.start.astimezone(UTC), period.end.astimezone(UTC)
    found, names = await _comments(conn, previous.start.astimezone(UTC), end)
    say("cases")
    opened = await _cases(conn, start, end)
    return Facts(
        start=period.start,
        end=period.end,
        previous_start=previous.start,
        comments=tuple(found),
        cases=tuple(opened),
        author_names=frozenset(names),
        ack_deadlines=deadlines,
    )
