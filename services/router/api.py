"""The router's HTTP API: what Vigie knows about a comment, and its cases."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, HTTPException, Query
from sqlalchemy import and_, desc, select
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.storage.tables import case_comments, cases, classifications, comments


def _row(row: Any, *, drop: tuple[str, ...] = ("id",)) -> dict[str, Any]:
    return {k: v for k, v in row._mapping.items() if k not in drop}


def api_routes(engine_of: Any) -> APIRouter:
    """``engine_of()`` returns the engine once the service has started."""
    router = APIRouter(prefix="/api/v1", tags=["api"])

    def engine() -> AsyncEngine:
        found: AsyncEngine | None = engine_of()
        if found is None:
            raise HTTPException(503, "router is starting")
        return found

    @router.get(
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

    @router.get("/cases", summary="Cases, newest first.")
    async def list_cases(
        status: str | None = Query(default=None, pattern="^(open|acknowledged|resolved)$"),
        limit: int = Query(default=50, ge=1, le=500),
    ) -> dict[str, Any]:
        query = select(cases).order_by(desc(cases.c.opened_at)).limit(limit)
        if status:
            query = query.where(cases.c.status == status)
        async with engine().connect() as conn:
            rows = (await conn.execute(query)).all()
        return {"cases": [_row(r, drop=()) for r in rows]}

    @router.get(
        "/cases/{case_id}",
        summary="One case with its comments.",
        responses={404: {"description": "No such case."}},
    )
    async def get_case(case_id: uuid.UUID) -> dict[str, Any]:
        async with engine().connect() as conn:
            case = (await conn.execute(select(cases).where(cases.c.id == str(case_id)))).first()
            if case is None:
                raise HTTPException(404, f"no case {case_id}")
            members = (
                await conn.execute(
                    select(case_comments).where(case_comments.c.case_id == str(case_id))
                )
            ).all()
        return {
            "case": _row(case, drop=()),
            "comments": [_row(m, drop=("case_id",)) for m in members],
        }

    return router
