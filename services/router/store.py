"""Cases, their comments, their actions and the audit log: the router's tables."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Row,
    String,
    Table,
    bindparam,
    desc,
    func,
    literal_column,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from services.router.batch_writes import BatchWrites
from services.router.outbox import stage, stage_rows
from services.router.policy.inhibit import OpenCase
from services.router.policy.schema import EQUAL_FIELDS
from shared.bus import Message
from shared.codec import to_message
from shared.events import Action, CaseStatus, CommentRef, Severity
from shared.storage.predicates import among
from shared.storage.tables import (
    audit_log,
    case_actions,
    case_comments,
    case_timers,
    cases,
)
from shared.storage.writes import (
    insert_ignore,
    insert_ignore_many,
    insert_ignore_returning,
    insert_many,
    insert_or_move_earlier,
)
from shared.topics import ACTIONS, ACTIONS_CRITICAL, CASE_EVENTS

SYSTEM = "system:router"

# case_actions.status
PENDING = "pending"  # waits for a moderator's approval
EMITTED = "emitted"  # handed to the notifier
HELD = "held"  # a page waiting for the end of its receiver's quiet hours
SKIPPED = "skipped"  # decided, but nothing can carry it out (see the note)


def aware(value: datetime) -> datetime:
    """SQLite hands back naive times; everything the router stores is UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def aware_or_none(value: datetime | None) -> datetime | None:
    return None if value is None else aware(value)


async def count_rows(conn: AsyncConnection, table: Table, where: ColumnElement[bool]) -> int:
    counted = await conn.execute(select(func.count()).select_from(table).where(where))
    return int(counted.scalar_one())


async def latest_rows(
    conn: AsyncConnection,
    table: Table,
    where: ColumnElement[bool],
    order: Sequence[ColumnElement[Any]],
    limit: int,
) -> tuple[list[Row[Any]], int]:
    """The latest ``limit`` rows of ``table`` by ``order``, oldest first, and how many in all
    (a raid's case holds thousands: pages and answers show the latest)."""
    found = await conn.execute(
        select(table).where(where).order_by(*(desc(c) for c in order)).limit(limit)
    )
    rows = found.all()
    return list(reversed(rows)), await count_rows(conn, table, where)


def audit_row(
    *,
    dedup_key: str,
    at: datetime,
    action: str,
    subject_id: str,
    reason: str,
    policy_version: str,
    trace_id: str | None,
    details: dict[str, Any],
    actor: str = SYSTEM,
    subject_type: str = "case",
) -> dict[str, Any]:
    return {
        "dedup_key": dedup_key,
        "at": at,
        "actor": actor,
        "action": action,
        "subject_type": subject_type,
        "subject_id": subject_id,
        "policy_version": policy_version,
        "reason": reason,
        "details": details,
        "trace_id": trace_id,
    }


async def audit(
    conn: AsyncConnection,
    *,
    dedup_key: str,
    at: datetime,
    action: str,
    subject_id: str,
    reason: str,
    policy_version: str,
    trace_id: str | None,
    details: dict[str, Any],
    actor: str = SYSTEM,
    subject_type: str = "case",
) -> None:
    row = audit_row(
        dedup_key=dedup_key,
        at=at,
        action=action,
        subject_id=subject_id,
        reason=reason,
        policy_version=policy_version,
        trace_id=trace_id,
        details=details,
        actor=actor,
        subject_type=subject_type,
    )
    await insert_ignore(conn, audit_log, row)


async def case_row(conn: AsyncConnection, case_id: str, *, lock: bool = False) -> Any:
    query = select(cases).where(cases.c.id == case_id)
    return (await conn.execute(query.with_for_update() if lock else query)).first()


def action_row(
    action: Action, *, status: str, now: datetime, note: str | None = None
) -> dict[str, Any]:
    return {
        "action_id": action.action_id,
        "case_id": str(action.case_id),
        "kind": action.kind.value,
        "receiver": action.receiver.name,
        "status": status,
        "payload": action.model_dump(mode="json"),
        "note": note,
        "created_at": now,
    }


def skip_row(
    case_id: str, action_id: str, kind: str, *, note: str, now: datetime
) -> dict[str, Any]:
    """An action the route asks for that nothing can carry out, kept with the reason."""
    return {
        "action_id": action_id,
        "case_id": case_id,
        "kind": kind,
        "status": SKIPPED,
        "note": note,
        "created_at": now,
    }


async def record_action(
    conn: AsyncConnection,
    action: Action,
    *,
    status: str,
    now: datetime,
    note: str | None = None,
) -> list[Message]:
    """Put the action in its case's ledger; an emitted one goes to the outbox too."""
    row = action_row(action, status=status, now=now, note=note)
    inserted = await insert_ignore(conn, case_actions, row)
    if not inserted or status != EMITTED:
        return []
    return await stage_events(conn, [action], now=now)


def event_message(event: Any) -> Message:
    """An action or a case event as the outbox holds it, keyed by its case."""
    return to_message(_topic(event), event, key=str(event.case_id))


async def stage_events(conn: AsyncConnection, events: list[Any], *, now: datetime) -> list[Message]:
    """Events (actions, case events) into the outbox, keyed by their case; the messages of
    those that were not there already, for the caller to publish once committed."""
    return await stage(conn, [event_message(e) for e in events], now=now)


def _topic(event: Any) -> str:
    if not isinstance(event, Action):
        return CASE_EVENTS
    return ACTIONS_CRITICAL if event.severity is Severity.CRITICAL else ACTIONS


def _identity_field(name: str) -> ColumnElement[Any]:
    """``identity ->> 'name'``, as the index of migration 0008 spells it (PostgreSQL and
    SQLite alike)."""
    if name not in EQUAL_FIELDS:
        raise ValueError(f"not an identity field: {name!r}")
    return literal_column(f"(identity ->> '{name}')", String())


# Written into the statement rather than bound: PostgreSQL can then use the partial index
# on open cases (``uq_cases_open_group``) in a prepared statement's generic plan, which a
# parameter rules out.
_UNRESOLVED = cases.c.status != literal_column(f"'{CaseStatus.RESOLVED.value}'")


async def inhibiting_cases(
    conn: AsyncConnection, wanted: Mapping[str, Iterable[str]]
) -> list[OpenCase]:
    """The unresolved cases whose identity has one of the ``wanted`` values of a field
    (``{"author_id": [...]}``): those that can inhibit comments with these identities."""
    matches = [
        among(conn.dialect.name, _identity_field(name), sorted(set(values)))
        for name, values in wanted.items()
        if values
    ]
    if not matches:
        return []
    rows = (
        await conn.execute(
            select(
                cases.c.route,
                cases.c.labels,
                cases.c.categories,
                cases.c.severity,
                cases.c.identity,
            ).where(
                _UNRESOLVED,
                cases.c.identity.is_not(None),
                or_(*matches),
            )
        )
    ).all()
    return [
        as_open_case(r.route, r.labels, r.categories or [], r.severity, r.identity) for r in rows
    ]


async def memberships(conn: AsyncConnection, refs: Sequence[CommentRef]) -> list[Any]:
    """The cases these comments are already in (any status), with the comment's key."""
    if not refs:
        return []
    wanted = {(r.platform, r.comment_id, r.revision) for r in refs}
    c = case_comments.c
    rows = (
        await conn.execute(
            select(cases, c.platform, c.comment_id, c.revision)
            .join(case_comments, c.case_id == cases.c.id)
            .where(
                among(conn.dialect.name, c.platform, sorted({p for p, _, _ in wanted})),
                among(conn.dialect.name, c.comment_id, sorted({i for _, i, _ in wanted})),
            )
        )
    ).all()
    return [r for r in rows if (r.platform, r.comment_id, r.revision) in wanted]


async def open_group_cases(conn: AsyncConnection, group_keys: Iterable[str]) -> list[Any]:
    """The unresolved case of each of these groups (at most one each)."""
    keys = sorted(set(group_keys))
    if not keys:
        return []
    query = select(cases).where(
        among(conn.dialect.name, cases.c.group_key, keys),
        _UNRESOLVED,
    )
    return list((await conn.execute(query)).all())


async def write(conn: AsyncConnection, writes: BatchWrites) -> list[Message]:
    """Everything ``writes`` holds, one statement per table (parents first); the outbox
    messages kept, in the order they were staged."""
    await insert_many(conn, cases, writes.rows("cases"))
    changes = writes.case_changes
    raised = [
        {"b_id": case_id, "b_severity": c.severity, "b_updated_at": c.updated_at}
        for case_id, c in changes.items()
        if c.severity is not None
    ]
    if raised:
        await conn.execute(_RAISE, raised)
    due = [
        {"b_id": case_id, "b_due": c.answer_due_at}
        for case_id, c in changes.items()
        if c.answer_due_at is not None
    ]
    if due:
        await conn.execute(_DUE, due)
    await insert_ignore_many(conn, case_comments, writes.rows("case_comments"))
    await insert_ignore_many(conn, case_timers, writes.rows("case_timers"))
    await insert_or_move_earlier(
        conn, case_timers, writes.rows("case_timers.earliest"), key="id", column="due_at"
    )
    inserted = await insert_ignore_returning(
        conn, case_actions, writes.rows("case_actions"), key="action_id"
    )
    await insert_ignore_many(conn, audit_log, writes.rows("audit_log"))
    rows, messages = writes.staged(inserted)
    return await stage_rows(conn, rows, messages)


_RAISE = (
    update(cases)
    .where(cases.c.id == bindparam("b_id"))
    .values(severity=bindparam("b_severity"), updated_at=bindparam("b_updated_at"))
)
_DUE = (
    update(cases)
    .where(
        cases.c.id == bindparam("b_id"),
        (cases.c.answer_due_at.is_(None)) | (cases.c.answer_due_at > bindparam("b_due")),
    )
    .values(answer_due_at=bindparam("b_due"))
)


def as_open_case(
    route: str, labels: list[str], categories: list[str], severity: str, who: dict[str, str]
) -> OpenCase:
    facts = {
        "label": tuple(labels),
        "category": tuple(categories),
        "severity": (severity,),
        **{name: (value,) for name, value in who.items() if name != "label"},
    }
    return OpenCase(route=route, facts=facts, identity=dict(who))
