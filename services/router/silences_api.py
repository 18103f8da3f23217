"""Silences over HTTP: list (viewer), create (time-boxed, with a reason) and expire early
(moderator). The author is the authenticated user or key."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from services.router import silence_store
from services.router.access.guard import Gate, needs
from services.router.access.identity import Principal
from services.router.access.roles import Role
from services.router.backend import Backend, started
from services.router.policy.durations import Duration
from services.router.policy.schema import MatcherText
from services.router.policy.silences import Silence

MAX_SILENCE = timedelta(days=30)


class NewSilence(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    matchers: tuple[MatcherText, ...] = Field(min_length=1, description='e.g. ["label=abusive"]')
    starts_at: datetime | None = Field(default=None, description="Default: now.")
    ends_at: datetime | None = Field(default=None, description="Or give a duration.")
    duration: Duration | None = Field(default=None, description="e.g. 2h; or give ends_at.")
    created_by: str | None = Field(
        default=None,
        min_length=1,
        max_length=80,
        pattern=r"^[^\x00-\x1f]+$",
        description="Optional: the person an API key acts for.",
    )
    comment: str = Field(min_length=1, max_length=1000, description="Why: required.")

    @model_validator(mode="after")
    def _one_end(self) -> NewSilence:
        if (self.ends_at is None) == (self.duration is None):
            raise ValueError("give ends_at or duration (one of them)")
        for name in ("starts_at", "ends_at"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                raise ValueError(f"{name} carries a time zone (e.g. 2026-11-21T18:00:00+01:00)")
        return self


class Expiry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    by: str | None = Field(
        default=None,
        min_length=1,
        max_length=80,
        pattern=r"^[^\x00-\x1f]+$",
        description="Optional: the person an API key acts for.",
    )
    reason: str = Field(min_length=1, max_length=1000)


def _author(who: Principal, by: str | None) -> str:
    try:
        return who.label(by)
    except ValueError as exc:
        raise HTTPException(403, str(exc)) from exc


def _silence(body: NewSilence, now: datetime, author: str) -> Silence:
    starts = body.starts_at or now
    ends = body.ends_at or starts + (body.duration or timedelta(0))
    if ends <= now:
        raise HTTPException(422, "this silence would already be over")
    if ends - starts > MAX_SILENCE:
        raise HTTPException(422, "a silence lasts at most 30 days; create another after")
    try:
        return Silence(
            id=silence_store.new_id(),
            matchers=body.matchers,
            starts_at=starts,
            ends_at=ends,
            created_by=author,
            comment=body.comment,
        )
    except ValidationError as exc:
        raise HTTPException(422, exc.errors(include_url=False)) from exc


def silence_routes(backend: Backend, gate: Gate) -> APIRouter:
    router = APIRouter(prefix="/silences")
    viewer = Depends(gate.require(Role.VIEWER))
    moderator = Depends(gate.require(Role.MODERATOR))

    @router.get(
        "",
        summary="Silences not over yet (all with expired=true), newest first.",
        openapi_extra=needs(Role.VIEWER),
    )
    async def list_silences(
        expired: bool = Query(default=False), _: Principal = viewer
    ) -> dict[str, Any]:
        engine = started(backend)[0]
        async with engine.connect() as conn:
            rows = await silence_store.list_silences(conn, now=backend.now(), expired=expired)
        return {"silences": [silence_store.as_dict(r) for r in rows]}

    @router.post(
        "",
        status_code=201,
        summary="Mute pages matching these matchers for a while.",
        openapi_extra=needs(Role.MODERATOR),
    )
    async def create(body: NewSilence, who: Principal = moderator) -> dict[str, Any]:
        engine = started(backend)[0]
        now = backend.now()
        silence = _silence(body, now, _author(who, body.created_by))
        async with engine.begin() as conn:
            row = await silence_store.create(
                conn, silence, now=now, policy_version=backend.policy.version
            )
        return {"silence": silence_store.as_dict(row)}

    @router.post(
        "/{silence_id}/expire",
        summary="End a silence now.",
        responses={404: {"description": "No such silence."}},
        openapi_extra=needs(Role.MODERATOR),
    )
    async def expire(silence_id: str, body: Expiry, who: Principal = moderator) -> dict[str, Any]:
        author = _author(who, body.by)
        engine = started(backend)[0]
        async with engine.begin() as conn:
            row = await silence_store.expire(
                conn,
                silence_id,
                by=author,
                reason=body.reason,
                now=backend.now(),
                policy_version=backend.policy.version,
            )
        if row is None:
            raise HTTPException(404, f"no silence {silence_id!r}")
        return {"silence": silence_store.as_dict(row)}

    return router
