"""Reports over HTTP: ``GET /api/v1/reports?period=week&ending=2026-11-15&format=html``."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Depends, HTTPException, Query, Response

from services.router.access.guard import Gate, needs
from services.router.access.identity import Principal
from services.router.access.roles import Role
from services.router.backend import Backend, started
from services.router.reports import offload
from services.router.reports.period import PeriodError, PeriodKind, ending, last_complete, zone
from services.router.reports.render import MEDIA_TYPES, Format, render
from services.router.reports.words import LANGUAGES

_PERIOD = Query(default=PeriodKind.WEEK, description="week or month.")
_ENDING = Query(
    default=None,
    alias="ending",
    description="Last day of the period (default: the last one over: last Sunday, or the last "
    "day of the previous month).",
)
_TZ = Query(default="UTC", description="Time zone of the days, e.g. Europe/Paris.")
_FORMAT = Query(default=Format.JSON, alias="format", description="json, html or text.")
_LANG = Query(default="en", description=" or ".join(LANGUAGES))


def report_routes(backend: Backend, gate: Gate) -> APIRouter:
    router = APIRouter(prefix="/reports")
    viewer = Depends(gate.require(Role.VIEWER))

    @router.get(
        "",
        summary="The report of a week or a month: volumes, crisis cases and their times to "
        "acknowledge, missed deadlines, questions, topics, praise.",
        response_class=Response,
        responses={
            200: {
                "content": {m: {} for m in MEDIA_TYPES.values()},
                "description": "The report, as asked by format.",
            },
            422: {"description": "A parameter is not valid; the answer names it."},
        },
        openapi_extra=needs(Role.VIEWER),
    )
    async def get_report(
        period: PeriodKind = _PERIOD,
        ending_on: date | None = _ENDING,
        tz: str = _TZ,
        fmt: Format = _FORMAT,
        lang: str = _LANG,
        _: Principal = viewer,
    ) -> Response:
        if lang not in LANGUAGES:
            raise HTTPException(422, f"lang: one of {', '.join(LANGUAGES)}, not {lang!r}")
        try:
            today = backend.now().astimezone(zone(tz)).date()
        except PeriodError as exc:
            raise HTTPException(422, f"tz: {exc}") from exc
        if ending_on is not None and ending_on > today:
            raise HTTPException(422, f"ending: {ending_on} is after today ({today})")
        if ending_on is not None and ending_on.year < 2000:  # date.min - 7 days overflows
            raise HTTPException(422, f"ending: {ending_on} is before 2000")
        span = (
            last_complete(period, today, tz) if ending_on is None else ending(period, ending_on, tz)
        )
        engine = started(backend)[0]
        report = await offload.make_report(engine, span, policy=backend.policy, now=backend.now())
        return Response(render(report, fmt=fmt, lang=lang), media_type=MEDIA_TYPES[fmt])

    return router
