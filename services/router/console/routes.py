"""The console's routes under ``/console``: the inbox and its live stream, a case and what a
moderator does to it (logging in and out: ``login``). Reading needs a session (viewer and
up); every change needs the moderator role and the session's CSRF token (the gate checks
both)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse

from services.classifier import store as classifier_store
from services.classifier.feedback import FeedbackError, correction
from services.router import casework
from services.router import store as router_store
from services.router.access.guard import Gate, form_fields, needs
from services.router.access.identity import Principal
from services.router.access.roles import Role, allows
from services.router.backend import Backend, started
from services.router.console import decisions, live, views
from services.router.console.login import login_routes, message, to_login
from services.router.console.pages import render, static
from services.router.lifecycle import InvalidTransition, Transition
from services.router.settings import RouterSettings
from shared.events import CaseStatus, Label, Severity
from shared.shutdown import SERVER_SHUTDOWN

MOVES = {m.value: m for m in (Transition.ACKNOWLEDGE, Transition.RESOLVE, Transition.REOPEN)}
STREAM_POLL_S = 1.0
STREAM_POLLS = 300  # then the browser reconnects, and the session is checked again
HEARTBEAT_EVERY = 15


def _to_case(case_id: str, notice: str | None = None) -> RedirectResponse:
    suffix = f"?notice={notice}" if notice else ""
    return RedirectResponse(f"/console/cases/{case_id}{suffix}", status_code=303)


def console_routes(backend: Backend, gate: Gate, *, settings: RouterSettings) -> APIRouter:
    router = APIRouter(prefix="/console", tags=["console"], include_in_schema=False)
    router.include_router(login_routes(backend, gate, settings=settings))
    viewer = Depends(gate.require(Role.VIEWER))
    moderator = Depends(gate.require(Role.MODERATOR))
    writes = needs(Role.MODERATOR)

    async def person(request: Request) -> Principal | None:
        try:
            return await gate.identify(request)
        except HTTPException as exc:
            if exc.status_code == 401:
                return None
            raise

    def refused(request: Request, status: int, text: str, back: str) -> HTMLResponse:
        return message(request, status, text, back)

    @router.get("/static/{name}")
    async def static_file(name: str) -> Response:
        return static(name)

    @router.get("/", response_class=HTMLResponse)
    async def inbox(request: Request) -> Response:
        who = await person(request)
        if who is None:
            return to_login()
        filters = views.Filters.parse(dict(request.query_params))
        cursor = backend.now()
        async with started(backend)[0].connect() as conn:
            found = await views.inbox(conn, filters, search_text=allows(who.role, Role.MODERATOR))
        return render(
            request,
            "inbox.html",
            who=who,
            csrf=who.csrf_token,
            cases=found,
            filters=filters,
            cursor=cursor.isoformat(),
            rank=views.SEVERITY_ORDER,
            severities=[s.value for s in reversed(list(Severity))],
            statuses=[s.value for s in CaseStatus],
            labels=[label.value for label in Label],
        )

    @router.get("/events", openapi_extra=needs(Role.VIEWER))
    async def events(request: Request, _: Principal = viewer) -> StreamingResponse:
        engine = started(backend)[0]
        cursor = live.parse_cursor(
            request.headers.get("last-event-id") or request.query_params.get("since"),
            default=backend.now(),
        )
        stream = live.case_changes(
            engine,
            cursor=cursor,
            poll=live.sleeper(STREAM_POLL_S),
            polls=STREAM_POLLS,
            heartbeat_every=HEARTBEAT_EVERY,
            ended=SERVER_SHUTDOWN.wait,  # the server's stop is not held by an open inbox
        )
        return StreamingResponse(
            stream,
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    @router.get("/cases/{case_id}", response_class=HTMLResponse)
    async def case(request: Request, case_id: str) -> Response:
        who = await person(request)
        if who is None:
            return to_login()
        async with started(backend)[0].connect() as conn:
            page = await views.case_page(conn, case_id)
        if page is None:
            return refused(request, 404, f"no case {case_id}", "/console/")
        notice = request.query_params.get("notice")
        return render(
            request,
            "case.html",
            who=who,
            csrf=who.csrf_token,
            case=page.case,
            comments=page.comments,
            comments_total=page.comments_total,
            classification=page.classification,
            pending=page.pending,
            pending_total=page.pending_total,
            timeline_total=page.timeline_total,
            timeline=page.timeline,
            can_act=allows(who.role, Role.MODERATOR),
            moves=list(MOVES),
            templates=sorted(backend.policy.templates),
            labels=[label.value for label in Label],
            notice=notice if notice == "feedback_saved" else None,
        )

    async def done(messages: list[Any], now: datetime) -> None:
        await started(backend)[1].publish_soon(messages, now=now)

    async def transition(request: Request, case_id: str, move: str, who: Principal) -> Response:
        fields = await form_fields(request)
        reason = fields.get("reason", "").strip() or (
            "acknowledged" if move == Transition.ACKNOWLEDGE.value else ""
        )
        back = f"/console/cases/{case_id}"
        if not reason:
            return refused(request, 422, "reason: required", back)
        engine, _, metrics = started(backend)
        now = backend.now()
        try:
            async with engine.begin() as conn:
                result = await casework.transition(
                    conn,
                    case_id,
                    MOVES[move],
                    actor=who.actor(),
                    reason=reason[:2000],
                    policy_version=backend.policy.version,
                    now=now,
                )
        except casework.NotFound:
            return refused(request, 404, f"no case {case_id}", "/console/")
        except (InvalidTransition, casework.Conflict) as exc:
            return refused(request, 409, str(exc), back)
        await done(result.messages, now)
        if result.changed:
            metrics.transitioned(
                move, "console", severity=result.case.severity, first_ack=result.first_ack
            )
        return _to_case(case_id)

    @router.post("/cases/{case_id}/acknowledge", openapi_extra=writes)
    async def acknowledge(request: Request, case_id: str, who: Principal = moderator) -> Response:
        return await transition(request, case_id, Transition.ACKNOWLEDGE.value, who)

    @router.post("/cases/{case_id}/resolve", openapi_extra=writes)
    async def resolve(request: Request, case_id: str, who: Principal = moderator) -> Response:
        return await transition(request, case_id, Transition.RESOLVE.value, who)

    @router.post("/cases/{case_id}/reopen", openapi_extra=writes)
    async def reopen(request: Request, case_id: str, who: Principal = moderator) -> Response:
        return await transition(request, case_id, Transition.REOPEN.value, who)

    @router.post("/cases/{case_id}/assign", openapi_extra=writes)
    async def assign(request: Request, case_id: str, who: Principal = moderator) -> Response:
        fields = await form_fields(request)
        assignee = fields.get("assignee", "").strip()[:128] or None
        reason = fields.get("reason", "").strip()
        back = f"/console/cases/{case_id}"
        if not reason:
            return refused(request, 422, "reason: required", back)
        engine, _, metrics = started(backend)
        now = backend.now()
        try:
            async with engine.begin() as conn:
                result = await casework.assign(
                    conn,
                    case_id,
                    assignee=assignee,
                    actor=who.actor(),
                    reason=reason[:2000],
                    policy_version=backend.policy.version,
                    now=now,
                )
        except casework.NotFound:
            return refused(request, 404, f"no case {case_id}", "/console/")
        await done(result.messages, now)
        metrics.transitioned("assign", "console", severity=result.case.severity)
        return _to_case(case_id)

    @router.post("/cases/{case_id}/actions/{action_id}/approve", openapi_extra=writes)
    async def approve(
        request: Request, case_id: str, action_id: str, who: Principal = moderator
    ) -> Response:
        fields = await form_fields(request)
        reason = fields.get("reason", "").strip()
        back = f"/console/cases/{case_id}"
        if not reason:
            return refused(request, 422, "reason: required", back)
        engine, _, metrics = started(backend)
        now = backend.now()
        try:
            async with engine.begin() as conn:
                action, messages = await casework.approve(
                    conn,
                    case_id,
                    action_id,
                    actor=who.actor(),
                    reason=reason[:2000],
                    policy_version=backend.policy.version,
                    now=now,
                )
        except casework.NotFound as exc:
            return refused(request, 404, str(exc), back)
        except InvalidTransition as exc:
            return refused(request, 409, str(exc), back)
        await done(messages, now)
        metrics.actions.labels(action.kind.value, "approved").inc()
        return _to_case(case_id)

    @router.post("/cases/{case_id}/actions/{action_id}/reject", openapi_extra=writes)
    async def reject(
        request: Request, case_id: str, action_id: str, who: Principal = moderator
    ) -> Response:
        fields = await form_fields(request)
        reason = fields.get("reason", "").strip()
        back = f"/console/cases/{case_id}"
        if not reason:
            return refused(request, 422, "reason: required", back)
        try:
            async with started(backend)[0].begin() as conn:
                await decisions.reject(
                    conn,
                    case_id,
                    action_id,
                    actor=who.actor(),
                    reason=reason[:2000],
                    policy_version=backend.policy.version,
                    now=backend.now(),
                )
        except casework.NotFound as exc:
            return refused(request, 404, str(exc), back)
        except InvalidTransition as exc:
            return refused(request, 409, str(exc), back)
        return _to_case(case_id)

    @router.post("/cases/{case_id}/reply", openapi_extra=writes)
    async def reply(request: Request, case_id: str, who: Principal = moderator) -> Response:
        fields = await form_fields(request)
        reason = fields.get("reason", "").strip() or "reply with a template"
        back = f"/console/cases/{case_id}"
        engine, _, metrics = started(backend)
        now = backend.now()
        try:
            async with engine.begin() as conn:
                action, messages = await decisions.reply_with_template(
                    conn,
                    backend.policy,
                    case_id,
                    fields.get("template", ""),
                    actor=who.actor(),
                    reason=reason[:2000],
                    now=now,
                )
        except casework.NotFound as exc:
            return refused(request, 404, str(exc), "/console/")
        except decisions.ReplyRefused as exc:
            return refused(request, 409, str(exc), back)
        await done(messages, now)
        metrics.actions.labels(action.kind.value, "emitted").inc()
        return _to_case(case_id)

    @router.post("/cases/{case_id}/labels", openapi_extra=writes)
    async def correct_labels(
        request: Request, case_id: str, who: Principal = moderator
    ) -> Response:
        """The labels a moderator says are right for the case's first comment, kept for
        retraining (``vigie classifier feedback export``)."""
        fields = await form_fields(request)
        back = f"/console/cases/{case_id}"
        engine = started(backend)[0]
        now = backend.now()
        async with engine.connect() as conn:
            row = await router_store.case_row(conn, case_id)
        if row is None or not row.opener:
            return refused(request, 404, f"no case {case_id}", "/console/")
        labels = tuple(label for label in Label if fields.get(f"label_{label.value}"))
        try:
            fix = correction(
                platform=row.opener["platform"],
                comment_id=row.opener["comment_id"],
                revision=row.opener.get("revision"),
                labels=labels,
                moderator=who.label(),
                corrected_at=now,
                note=fields.get("note", "").strip() or None,
            )
            feedback_id = await classifier_store.add_feedback(engine, fix)
        except FeedbackError as exc:
            return refused(request, 422, str(exc), back)
        except classifier_store.CommentNotFound:
            return refused(request, 409, "the comment is not stored: nothing to correct", back)
        async with engine.begin() as conn:
            await router_store.audit(
                conn,
                dedup_key=f"classifier.feedback:{feedback_id}",
                at=now,
                action="classifier.feedback",
                subject_id=case_id,
                reason=fields.get("note", "").strip() or "labels corrected",
                policy_version=backend.policy.version,
                trace_id=row.trace_id,
                details={"feedback_id": feedback_id, "labels": [lb.value for lb in labels]},
                actor=who.actor(),
            )
        return _to_case(case_id, "feedback_saved")

    return router
