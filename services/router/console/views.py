"""What the console's pages show, read from the database: the inbox (open cases by
severity, filtered) and one case with its comments, classification and timeline."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, desc, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from services.router.store import aware, count_rows, latest_rows
from shared.events import CaseStatus, Label, Severity
from shared.storage.tables import (
    audit_log,
    case_actions,
    case_comments,
    cases,
    classifications,
    comments,
    deliveries,
)

SEVERITY_ORDER = {s.value: i for i, s in enumerate(reversed(list(Severity)))}
INBOX_LIMIT = 200


@dataclass(frozen=True, slots=True)
class Filters:
    severity: str | None = None
    status: str | None = CaseStatus.OPEN.value
    platform: str | None = None
    label: str | None = None
    q: str | None = None

    @classmethod
    def parse(cls, params: dict[str, str]) -> Filters:
        """Filters from a query string; unknown values are dropped, not errors: this is a
        page people type into."""

        def one_of(name: str, allowed: set[str], default: str | None = None) -> str | None:
            value = (params.get(name) or "").strip()
            return value if value in allowed else default

        status = params.get("status")
        return cls(
            severity=one_of("severity", {s.value for s in Severity}),
            status=None
            if status == ""
            else one_of("status", {s.value for s in CaseStatus}, "open"),
            platform=(params.get("platform") or "").strip()[:64] or None,
            label=one_of("label", {label.value for label in Label}),
            q=(params.get("q") or "").strip()[:200] or None,
        )


def summary(row: Any) -> dict[str, Any]:
    """A case as the inbox (and its live updates) show it: no personal data."""
    opener = row.opener or {}
    return {
        "id": row.id,
        "status": row.status,
        "severity": row.severity,
        "labels": list(row.labels or []),
        "route": row.route,
        "platform": opener.get("platform"),
        "opened_at": aware(row.opened_at).isoformat(),
        "updated_at": aware(row.updated_at).isoformat(),
        "assignee": row.assignee,
        "acknowledged_by": row.acknowledged_by,
    }


def matches(case: dict[str, Any], filters: Filters) -> bool:
    return (
        (filters.status is None or case["status"] == filters.status)
        and (filters.severity is None or case["severity"] == filters.severity)
        and (filters.platform is None or case["platform"] == filters.platform)
        and (filters.label is None or filters.label in case["labels"])
    )


def inbox_order(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Most severe first, then the oldest first: what has waited longest gets seen."""
    return sorted(found, key=lambda c: (SEVERITY_ORDER.get(c["severity"], 99), c["opened_at"]))


async def inbox(
    conn: AsyncConnection, filters: Filters, *, search_text: bool
) -> list[dict[str, Any]]:
    """``search_text``: the search looks into comments' text too (moderators and up)."""
    query = select(cases).order_by(desc(cases.c.updated_at)).limit(INBOX_LIMIT)
    if filters.status is not None:
        query = query.where(cases.c.status == filters.status)
    if filters.severity is not None:
        query = query.where(cases.c.severity == filters.severity)
    if filters.q:
        like = f"%{filters.q}%"
        found = [cases.c.id.like(like), cases.c.route.ilike(like), cases.c.assignee.ilike(like)]
        if search_text:
            with_text = (
                select(case_comments.c.case_id)
                .select_from(
                    case_comments.join(
                        comments,
                        and_(
                            comments.c.platform == case_comments.c.platform,
                            comments.c.comment_id == case_comments.c.comment_id,
                            comments.c.revision == case_comments.c.revision,
                        ),
                    )
                )
                .where(comments.c.text.ilike(like))
            )
            found.append(cases.c.id.in_(with_text))
        query = query.where(or_(*found))
    rows = (await conn.execute(query)).all()
    return inbox_order([c for c in map(summary, rows) if matches(c, filters)])


# A raid grouped into one case can hold thousands of comments, each with its action and its
# audit entries: the page shows the latest of each, so that opening it stays quick for the
# browser and for the event loop that also routes crisis comments.
PAGE_COMMENTS = 200
PAGE_EVENTS = 200
PAGE_PENDING = 100


@dataclass
class CasePage:
    case: dict[str, Any]
    comments: list[dict[str, Any]] = field(default_factory=list)
    comments_total: int = 0
    classification: dict[str, Any] | None = None
    pending: list[dict[str, Any]] = field(default_factory=list)
    pending_total: int = 0
    timeline: list[dict[str, Any]] = field(default_factory=list)
    timeline_total: int = 0


def _event(at: datetime, who: str, what: str, detail: str) -> dict[str, Any]:
    return {"at": aware(at), "who": who, "what": what, "detail": detail}


async def case_page(conn: AsyncConnection, case_id: str) -> CasePage | None:
    row = (await conn.execute(select(cases).where(cases.c.id == case_id))).first()
    if row is None:
        return None
    page = CasePage(case=summary(row) | {"reopen_count": row.reopen_count or 0})
    members = (
        await conn.execute(
            select(
                case_comments.c.platform,
                case_comments.c.comment_id,
                case_comments.c.revision,
                comments.c.text,
                case_comments.c.added_at,
            )
            .select_from(
                # The classifier stores comments; a router on a database of its own has
                # only the references.
                case_comments.outerjoin(
                    comments,
                    and_(
                        comments.c.platform == case_comments.c.platform,
                        comments.c.comment_id == case_comments.c.comment_id,
                        comments.c.revision == case_comments.c.revision,
                    ),
                )
            )
            .where(case_comments.c.case_id == case_id)
            .order_by(desc(case_comments.c.added_at), desc(case_comments.c.comment_id))
            .limit(PAGE_COMMENTS)
        )
    ).all()
    page.comments = [dict(m._mapping) for m in reversed(members)]
    page.comments_total = await count_rows(conn, case_comments, case_comments.c.case_id == case_id)
    opener = row.opener or {}
    verdict = (
        await conn.execute(
            select(classifications)
            .where(
                classifications.c.platform == opener.get("platform"),
                classifications.c.comment_id == opener.get("comment_id"),
            )
            .order_by(desc(classifications.c.revision), desc(classifications.c.classified_at))
            .limit(1)
        )
    ).first()
    if verdict is not None:
        page.classification = dict(verdict._mapping)
    pending = and_(case_actions.c.case_id == case_id, case_actions.c.status == "pending")
    actions = (
        await conn.execute(
            select(case_actions)
            .where(pending)
            .order_by(case_actions.c.created_at, case_actions.c.action_id)
            .limit(PAGE_PENDING)
        )
    ).all()
    page.pending = [
        {"action_id": a.action_id, "kind": a.kind, "message": (a.payload or {}).get("message")}
        for a in actions
    ]
    page.pending_total = await count_rows(conn, case_actions, pending)
    about_case = and_(audit_log.c.subject_type == "case", audit_log.c.subject_id == case_id)
    audit, audit_total = await latest_rows(
        conn, audit_log, about_case, (audit_log.c.at, audit_log.c.id), PAGE_EVENTS
    )
    sent, sent_total = await latest_rows(
        conn, deliveries, deliveries.c.case_id == case_id, (deliveries.c.id,), PAGE_EVENTS
    )
    events = [_event(e.at, e.actor, e.action, e.reason) for e in audit]
    events += [
        _event(d.updated_at, f"notifier:{d.channel}", f"delivery.{d.status}", d.receiver)
        for d in sent
    ]
    page.timeline = sorted(events, key=lambda e: e["at"])[-PAGE_EVENTS:]
    page.timeline_total = audit_total + sent_total
    return page
