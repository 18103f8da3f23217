"""The router's HTTP API: what Vigie knows about a comment, its cases and what people do
with them. Every route needs the bearer token (``VIGIE_ROUTER_API_TOKEN``); every change is
written to the audit log with who made it, why, and the policy version in force."""

from __future__ import annotations

import base64
import binascii
import uuid
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import and_, desc, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.router import casework
from services.router.ack_pages import ack_routes
from services.router.backend import Backend, bearer, publish_soon, started
from services.router.lifecycle import InvalidTransition, Transition
from services.router.silences_api import silence_routes
from shared.events import CaseStatus, Severity
from shared.storage.tables import (
    audit_log,
    case_actions,
    case_comments,
    case_timers,
    cases,
    classifications,
    comments,
)

HIDDEN = ("identity",)  # personal data the API does not hand out with a case
Actor = Field(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f]+$", description="Who acts.")


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Acknowledge(_Body):
    by: str = Actor
    reason: str = Field(default="acknowledged", min_length=1, max_length=2000)


class Decision(_Body):
    by: str = Actor
    reason: str = Field(min_length=1, max_length=2000, description="Why: required.")


class Assignment(Decision):
    assignee: str | None = Field(min_length=1, max_length=128, description="None: unassign.")


_STATUS = Query(default=[], description="Any of these (repeatable).")
_SEVERITY = Query(default=[], description="Any of these (repeatable).")
_SINCE = Query(default=None, description="Opened at or after (ISO 8601).")
_CONFLICTS: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such case."},
    409: {"description": "Not possible now; the answer says why."},
}


def _row(row: Any, *, drop: tuple[str, ...] = ("id",)) -> dict[str, Any]:
    return {k: v for k, v in row._mapping.items() if k not in drop}


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def encode_cursor(opened_at: datetime, case_id: str) -> str:
    return base64.urlsafe_b64encode(f"{_aware(opened_at).isoformat()}|{case_id}".encode()).decode()


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        at, _, case_id = base64.urlsafe_b64decode(cursor.encode()).decode().partition("|")
        return _aware(datetime.fromisoformat(at)), str(uuid.UUID(case_id))
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise HTTPException(400, "cursor: not a cursor this API returned") from exc


async def _case_detail(conn: AsyncConnection, case_id: str) -> dict[str, Any]:
    case = (await conn.execute(select(cases).where(cases.c.id == case_id))).first()
    if case is None:
        raise HTTPException(404, f"no case {case_id}")
    members = await conn.execute(select(case_comments).where(case_comments.c.case_id == case_id))
    actions = await conn.execute(
        select(case_actions)
        .where(case_actions.c.case_id == case_id)
        .order_by(case_actions.c.created_at, case_actions.c.action_id)
    )
    timers = await conn.execute(select(case_timers).where(case_timers.c.case_id == case_id))
    timeline = await conn.execute(
        select(audit_log)
        .where(audit_log.c.subject_type == "case", audit_log.c.subject_id == case_id)
        .order_by(audit_log.c.at, audit_log.c.id)
    )
    return {
        "case": _row(case, drop=HIDDEN),
        "comments": [_row(m, drop=("case_id",)) for m in members],
        "actions": [
            {
                **_row(a, drop=("case_id", "payload")),
                "message": (a.payload or {}).get("message"),
                "lang": (a.payload or {}).get("lang"),
            }
            for a in actions
        ],
        "timers": [_row(t, drop=("case_id", "page")) for t in timers],
        "timeline": [
            _row(e, drop=("id", "dedup_key", "subject_type", "subject_id")) for e in timeline
        ],
    }


def api_routes(
    backend: Backend, *, api_tokens: tuple[bytes, ...], ack_secrets: tuple[bytes, ...]
) -> APIRouter:
    router = APIRouter()
    api = APIRouter(prefix="/api/v1", tags=["api"], dependencies=[Depends(bearer(api_tokens))])

    def engine() -> AsyncEngine:
        return started(backend)[0]

    @api.get(
        "/comments/{platform}/{comment_id:path}",
        summary="The normalised comment, its latest classification and its case, if any.",
        responses={404: {"description": "Vigie has not stored this comment (yet)."}},
    )
    async def get_comment(platform: str, comment_id: str) -> dict[str, Any]:
        async with engine().connect() as conn:
            comment = (
                await conn.execute(
                    select(comments)
                    .where(
                        and_(comments.c.platform == platform, comments.c.comment_id == comment_id)
                    )
                    .order_by(desc(comments.c.revision))
                    .limit(1)
                )
            ).first()
            if comment is None:
                raise HTTPException(404, f"no comment {comment_id!r} on platform {platform!r}")
            verdict = (
                await conn.execute(
                    select(classifications)
                    .where(
                        and_(
                            classifications.c.platform == platform,
                            classifications.c.comment_id == comment_id,
                        )
                    )
                    .order_by(
                        desc(classifications.c.revision), desc(classifications.c.classified_at)
                    )
                    .limit(1)
                )
            ).first()
            case = (
                await conn.execute(
                    select(case_comments.c.case_id)
                    .where(
                        and_(
                            case_comments.c.platform == platform,
                            case_comments.c.comment_id == comment_id,
                        )
                    )
                    .order_by(desc(case_comments.c.added_at))
                    .limit(1)
                )
            ).first()
        return {
            "comment": _row(comment),
            "classification": _row(verdict) if verdict else None,
            "case_id": case.case_id if case else None,
        }

    @api.get("/cases", summary="Cases, newest first, a page at a time.")
    async def list_cases(
        status: list[CaseStatus] = _STATUS,
        severity: list[Severity] = _SEVERITY,
        since: datetime | None = _SINCE,
        limit: int = Query(default=50, ge=1, le=500),
        cursor: str | None = Query(default=None, description="next_cursor of the last page."),
    ) -> dict[str, Any]:
        query = select(cases).order_by(desc(cases.c.opened_at), desc(cases.c.id)).limit(limit + 1)
        if status:
            query = query.where(cases.c.status.in_([s.value for s in status]))
        if severity:
            query = query.where(cases.c.severity.in_([s.value for s in severity]))
        if since is not None:
            query = query.where(cases.c.opened_at >= _aware(since))
        if cursor is not None:
            at, case_id = decode_cursor(cursor)
            query = query.where(
                or_(cases.c.opened_at < at, and_(cases.c.opened_at == at, cases.c.id < case_id))
            )
        async with engine().connect() as conn:
            rows = (await conn.execute(query)).all()
        page, more = rows[:limit], len(rows) > limit
        return {
            "cases": [_row(r, drop=HIDDEN) for r in page],
            "next_cursor": encode_cursor(page[-1].opened_at, page[-1].id) if more else None,
        }

    @api.get(
        "/cases/{case_id}",
        summary="One case: its comments, actions, timers and timeline.",
        responses={404: {"description": "No such case."}},
    )
    async def get_case(case_id: uuid.UUID) -> dict[str, Any]:
        async with engine().connect() as conn:
            return await _case_detail(conn, str(case_id))

    async def change(case_id: uuid.UUID, move: Transition, by: str, reason: str) -> dict[str, Any]:
        engine_, publisher, metrics = started(backend)
        now = backend.now()
        try:
            async with engine_.begin() as conn:
                done = await casework.transition(
                    conn,
                    str(case_id),
                    move,
                    actor=f"user:{by}",
                    reason=reason,
                    policy_version=backend.policy.version,
                    now=now,
                )
        except casework.NotFound as exc:
            raise HTTPException(404, str(exc)) from exc
        except (InvalidTransition, casework.Conflict) as exc:
            raise HTTPException(409, str(exc)) from exc
        await publish_soon(publisher, done.messages, now)
        if done.changed:
            metrics.transitions.labels(move.value, "api").inc()
        return {"case": _row(done.case, drop=HIDDEN), "changed": done.changed}

    @api.post("/cases/{case_id}/acknowledge", summary="Someone is on it.", responses=_CONFLICTS)
    async def acknowledge(case_id: uuid.UUID, body: Acknowledge) -> dict[str, Any]:
        return await change(case_id, Transition.ACKNOWLEDGE, body.by, body.reason)

    @api.post("/cases/{case_id}/resolve", summary="Done with it.", responses=_CONFLICTS)
    async def resolve(case_id: uuid.UUID, body: Decision) -> dict[str, Any]:
        return await change(case_id, Transition.RESOLVE, body.by, body.reason)

    @api.post("/cases/{case_id}/reopen", summary="Not done after all.", responses=_CONFLICTS)
    async def reopen(case_id: uuid.UUID, body: Decision) -> dict[str, Any]:
        return await change(case_id, Transition.REOPEN, body.by, body.reason)

    @api.post("/cases/{case_id}/assign", summary="Give the case to someone.", responses=_CONFLICTS)
    async def assign(case_id: uuid.UUID, body: Assignment) -> dict[str, Any]:
        engine_, publisher, metrics = started(backend)
        now = backend.now()
        try:
            async with engine_.begin() as conn:
                done = await casework.assign(
                    conn,
                    str(case_id),
                    assignee=body.assignee,
                    actor=f"user:{body.by}",
                    reason=body.reason,
                    policy_version=backend.policy.version,
                    now=now,
                )
        except casework.NotFound as exc:
            raise HTTPException(404, str(exc)) from exc
        await publish_soon(publisher, done.messages, now)
        metrics.transitions.labels("assign", "api").inc()
        return {"case": _row(done.case, drop=HIDDEN), "changed": True}

    @api.post(
        "/cases/{case_id}/actions/{action_id}/approve",
        summary="Carry out an action that waited for approval, exactly as decided.",
        responses=_CONFLICTS,
    )
    async def approve(case_id: uuid.UUID, action_id: str, body: Decision) -> dict[str, Any]:
        engine_, publisher, metrics = started(backend)
        now = backend.now()
        try:
            async with engine_.begin() as conn:
                action, messages = await casework.approve(
                    conn,
                    str(case_id),
                    action_id,
                    actor=f"user:{body.by}",
                    reason=body.reason,
                    policy_version=backend.policy.version,
                    now=now,
                )
        except casework.NotFound as exc:
            raise HTTPException(404, str(exc)) from exc
        except InvalidTransition as exc:
            raise HTTPException(409, str(exc)) from exc
        await publish_soon(publisher, messages, now)
        metrics.actions.labels(action.kind.value, "approved").inc()
        return {"action_id": action.action_id, "kind": action.kind.value, "status": "emitted"}

    api.include_router(silence_routes(backend))
    router.include_router(api)
    router.include_router(ack_routes(backend, secrets=ack_secrets))
    return router
