"""The router's HTTP API: what Vigie knows about a comment, its cases and what people do
with them. Every route needs a role (an API key, the bootstrap token or a console session:
see ``access``); every change is written to the audit log with who made it (the
authenticated user or key), why, and the policy version in force."""

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
from services.router.access.admin_api import admin_routes
from services.router.access.guard import actor_of, gate_of, needs
from services.router.access.identity import Principal
from services.router.access.roles import Role
from services.router.ack_pages import ack_routes
from services.router.backend import Backend, started
from services.router.console import decisions
from services.router.console.routes import console_routes
from services.router.lifecycle import InvalidTransition, Transition
from services.router.reports_api import report_routes
from services.router.settings import RouterSettings
from services.router.silences_api import silence_routes
from services.router.store import latest_rows
from shared.events import CaseStatus, Severity
from shared.settings import secret_values
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
Actor = Field(
    default=None,
    min_length=1,
    max_length=80,
    pattern=r"^[^\x00-\x1f]+$",
    description="Optional: the person an API key acts for (a console user acts as themself).",
)


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Acknowledge(_Body):
    by: str | None = Actor
    reason: str = Field(default="acknowledged", min_length=1, max_length=2000)


class Decision(_Body):
    by: str | None = Actor
    reason: str = Field(min_length=1, max_length=2000, description="Why: required.")


class TemplateReply(_Body):
    by: str | None = Actor
    template: str = Field(min_length=1, max_length=128, description="A template of the policy.")
    reason: str = Field(default="reply with a template", min_length=1, max_length=2000)


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


# A raid grouped into one case can hold thousands of comments, each with its action and its
# audit entries; a case's answer holds the latest ``limit`` of each, and their totals.
CASE_DETAIL_LIMIT = 500
CASE_DETAIL_MAX = 5000


async def _case_detail(conn: AsyncConnection, case_id: str, limit: int) -> dict[str, Any]:
    case = (await conn.execute(select(cases).where(cases.c.id == case_id))).first()
    if case is None:
        raise HTTPException(404, f"no case {case_id}")
    members, comments_total = await latest_rows(
        conn,
        case_comments,
        case_comments.c.case_id == case_id,
        (case_comments.c.added_at, case_comments.c.platform, case_comments.c.comment_id),
        limit,
    )
    actions, actions_total = await latest_rows(
        conn,
        case_actions,
        case_actions.c.case_id == case_id,
        (case_actions.c.created_at, case_actions.c.action_id),
        limit,
    )
    timers = await conn.execute(select(case_timers).where(case_timers.c.case_id == case_id))
    timeline, timeline_total = await latest_rows(
        conn,
        audit_log,
        and_(audit_log.c.subject_type == "case", audit_log.c.subject_id == case_id),
        (audit_log.c.at, audit_log.c.id),
        limit,
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
        "totals": {
            "comments": comments_total,
            "actions": actions_total,
            "timeline": timeline_total,
        },
    }


def api_routes(backend: Backend, *, settings: RouterSettings) -> APIRouter:
    gate = gate_of(backend, settings)
    viewer = Depends(gate.require(Role.VIEWER))
    moderator = Depends(gate.require(Role.MODERATOR))
    reads, writes = needs(Role.VIEWER), needs(Role.MODERATOR)
    router = APIRouter()
    api = APIRouter(prefix="/api/v1", tags=["api"])

    def engine() -> AsyncEngine:
        return started(backend)[0]

    @api.get(
        "/comments/{platform}/{comment_id:path}",
        summary="The normalised comment, its latest classification and its case, if any.",
        responses={404: {"description": "Vigie has not stored this comment (yet)."}},
        openapi_extra=reads,
    )
    async def get_comment(platform: str, comment_id: str, _: Principal = viewer) -> dict[str, Any]:
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

    @api.get("/cases", summary="Cases, newest first, a page at a time.", openapi_extra=reads)
    async def list_cases(
        _: Principal = viewer,
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
        openapi_extra=reads,
    )
    async def get_case(
        case_id: uuid.UUID,
        limit: int = Query(
            default=CASE_DETAIL_LIMIT,
            ge=1,
            le=CASE_DETAIL_MAX,
            description="The latest comments, actions and timeline entries returned, each; "
            "`totals` says how many the case has.",
        ),
        _: Principal = viewer,
    ) -> dict[str, Any]:
        async with engine().connect() as conn:
            return await _case_detail(conn, str(case_id), limit)

    async def change(
        case_id: uuid.UUID, move: Transition, actor: str, reason: str
    ) -> dict[str, Any]:
        engine_, publisher, metrics = started(backend)
        now = backend.now()
        try:
            async with engine_.begin() as conn:
                done = await casework.transition(
                    conn,
                    str(case_id),
                    move,
                    actor=actor,
                    reason=reason,
                    policy_version=backend.policy.version,
                    now=now,
                )
        except casework.NotFound as exc:
            raise HTTPException(404, str(exc)) from exc
        except (InvalidTransition, casework.Conflict) as exc:
            raise HTTPException(409, str(exc)) from exc
        await publisher.publish_soon(done.messages, now=now)
        if done.changed:
            metrics.transitioned(
                move.value, "api", severity=done.case.severity, first_ack=done.first_ack
            )
        return {"case": _row(done.case, drop=HIDDEN), "changed": done.changed}

    @api.post(
        "/cases/{case_id}/acknowledge",
        summary="Someone is on it.",
        responses=_CONFLICTS,
        openapi_extra=writes,
    )
    async def acknowledge(
        case_id: uuid.UUID, body: Acknowledge, who: Principal = moderator
    ) -> dict[str, Any]:
        actor = actor_of(who, body.by)
        return await change(case_id, Transition.ACKNOWLEDGE, actor, body.reason)

    @api.post(
        "/cases/{case_id}/resolve",
        summary="Done with it.",
        responses=_CONFLICTS,
        openapi_extra=writes,
    )
    async def resolve(
        case_id: uuid.UUID, body: Decision, who: Principal = moderator
    ) -> dict[str, Any]:
        return await change(case_id, Transition.RESOLVE, actor_of(who, body.by), body.reason)

    @api.post(
        "/cases/{case_id}/reopen",
        summary="Not done after all.",
        responses=_CONFLICTS,
        openapi_extra=writes,
    )
    async def reopen(
        case_id: uuid.UUID, body: Decision, who: Principal = moderator
    ) -> dict[str, Any]:
        return await change(case_id, Transition.REOPEN, actor_of(who, body.by), body.reason)

    @api.post(
        "/cases/{case_id}/assign",
        summary="Give the case to someone.",
        responses=_CONFLICTS,
        openapi_extra=writes,
    )
    async def assign(
        case_id: uuid.UUID, body: Assignment, who: Principal = moderator
    ) -> dict[str, Any]:
        actor = actor_of(who, body.by)
        engine_, publisher, metrics = started(backend)
        now = backend.now()
        try:
            async with engine_.begin() as conn:
                done = await casework.assign(
                    conn,
                    str(case_id),
                    assignee=body.assignee,
                    actor=actor,
                    reason=body.reason,
                    policy_version=backend.policy.version,
                    now=now,
                )
        except casework.NotFound as exc:
            raise HTTPException(404, str(exc)) from exc
        await publisher.publish_soon(done.messages, now=now)
        metrics.transitioned("assign", "api", severity=done.case.severity)
        return {"case": _row(done.case, drop=HIDDEN), "changed": True}

    @api.post(
        "/cases/{case_id}/actions/{action_id}/approve",
        summary="Carry out an action that waited for approval, exactly as decided.",
        responses=_CONFLICTS,
        openapi_extra=writes,
    )
    async def approve(
        case_id: uuid.UUID, action_id: str, body: Decision, who: Principal = moderator
    ) -> dict[str, Any]:
        actor = actor_of(who, body.by)
        engine_, publisher, metrics = started(backend)
        now = backend.now()
        try:
            async with engine_.begin() as conn:
                action, messages = await casework.approve(
                    conn,
                    str(case_id),
                    action_id,
                    actor=actor,
                    reason=body.reason,
                    policy_version=backend.policy.version,
                    now=now,
                )
        except casework.NotFound as exc:
            raise HTTPException(404, str(exc)) from exc
        except InvalidTransition as exc:
            raise HTTPException(409, str(exc)) from exc
        await publisher.publish_soon(messages, now=now)
        metrics.actions.labels(action.kind.value, "approved").inc()
        return {"action_id": action.action_id, "kind": action.kind.value, "status": "emitted"}

    @api.post(
        "/cases/{case_id}/actions/{action_id}/reject",
        summary="Drop an action that waited for approval; it stays on record as skipped.",
        responses=_CONFLICTS,
        openapi_extra=writes,
    )
    async def reject(
        case_id: uuid.UUID, action_id: str, body: Decision, who: Principal = moderator
    ) -> dict[str, Any]:
        actor = actor_of(who, body.by)
        try:
            async with started(backend)[0].begin() as conn:
                await decisions.reject(
                    conn,
                    str(case_id),
                    action_id,
                    actor=actor,
                    reason=body.reason,
                    policy_version=backend.policy.version,
                    now=backend.now(),
                )
        except casework.NotFound as exc:
            raise HTTPException(404, str(exc)) from exc
        except InvalidTransition as exc:
            raise HTTPException(409, str(exc)) from exc
        return {"action_id": action_id, "status": "skipped"}

    @api.post(
        "/cases/{case_id}/reply",
        summary="Reply to the case's comment with an approved template of the policy.",
        responses=_CONFLICTS,
        openapi_extra=writes,
    )
    async def reply(
        case_id: uuid.UUID, body: TemplateReply, who: Principal = moderator
    ) -> dict[str, Any]:
        actor = actor_of(who, body.by)
        engine_, publisher, metrics = started(backend)
        now = backend.now()
        try:
            async with engine_.begin() as conn:
                action, messages = await decisions.reply_with_template(
                    conn,
                    backend.policy,
                    str(case_id),
                    body.template,
                    actor=actor,
                    reason=body.reason,
                    now=now,
                )
        except casework.NotFound as exc:
            raise HTTPException(404, str(exc)) from exc
        except decisions.ReplyRefused as exc:
            raise HTTPException(409, str(exc)) from exc
        await publisher.publish_soon(messages, now=now)
        metrics.actions.labels(action.kind.value, "emitted").inc()
        return {
            "action_id": action.action_id,
            "kind": action.kind.value,
            "message": action.message,
            "lang": action.lang,
            "status": "emitted",
        }

    api.include_router(silence_routes(backend, gate))
    api.include_router(report_routes(backend, gate))
    api.include_router(admin_routes(backend, gate))
    router.include_router(api)
    router.include_router(ack_routes(backend, secrets=secret_values(settings.ack_token_secret)))
    router.include_router(console_routes(backend, gate, settings=settings))
    return router
