"""``/ack/{token}``: the link in a page. GET shows what will be acknowledged (link
previewers and mail scanners fetch links: a GET never changes anything); POST acknowledges.
The signed token is the only credential; the pages are in French and English and never show
the comment itself."""

from __future__ import annotations

from datetime import datetime
from html import escape
from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from services.router import casework, store
from services.router.backend import Backend, started
from services.router.lifecycle import InvalidTransition, Transition
from services.router.tokens import Grant, TokenError, verify

_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem;"
    "line-height:1.5}button{font-size:1.1rem;padding:.6rem 1.2rem}.en{color:#555}"
)


def _page(status: int, fr: str, en: str, body: str = "") -> HTMLResponse:
    html = (
        f'<!doctype html><html lang="fr"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width,initial-scale=1">'
        f'<meta name="robots" content="noindex"><title>Vigie</title><style>{_STYLE}</style>'
        f"</head><body><h1>{escape(fr)}</h1><p class=en lang=en>{escape(en)}</p>{body}"
        f"</body></html>"
    )
    return HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})


def _refused(error: TokenError) -> HTMLResponse:
    if error.expired:
        return _page(
            410,
            "Ce lien a expiré : ouvrez le cas dans Vigie pour le prendre en charge.",
            "This link has expired: open the case in Vigie to acknowledge it.",
        )
    return _page(403, "Ce lien n'est pas valide.", f"This link is not valid ({error}).")


def _summary(case: Any) -> str:
    opened = case.opened_at.strftime("%Y-%m-%d %H:%M UTC")
    return (
        "<ul>"
        f"<li>Gravité / severity : <b>{escape(case.severity)}</b></li>"
        f"<li>Route : {escape(case.route)}</li>"
        f"<li>Ouvert / opened : {escape(opened)}</li>"
        f"<li>État / status : {escape(case.status)}</li>"
        "</ul>"
    )


def ack_routes(backend: Backend, *, secrets: tuple[bytes, ...]) -> APIRouter:
    router = APIRouter(prefix="/ack", tags=["ack links"])

    def grant_of(token: str, now: datetime) -> Grant | HTMLResponse:
        if not secrets:
            return _page(404, "Les liens de prise en charge sont désactivés.", "Ack links are off.")
        try:
            return verify(token, secrets, now=now)
        except TokenError as exc:
            return _refused(exc)

    def _missing() -> HTMLResponse:
        return _page(404, "Ce cas n'existe pas.", "This case does not exist.")

    @router.get("/{token}", response_class=HTMLResponse, summary="What the link acknowledges.")
    async def show(token: str) -> HTMLResponse:
        engine = started(backend)[0]
        grant = grant_of(token, backend.now())
        if isinstance(grant, HTMLResponse):
            return grant
        async with engine.connect() as conn:
            case = await store.case_row(conn, str(grant.case_id))
        if case is None:
            return _missing()
        if case.status != "open":
            return _page(
                200,
                "Ce cas est déjà pris en charge."
                if case.status == "acknowledged"
                else "Ce cas est clos.",
                "This case is already acknowledged."
                if case.status == "acknowledged"
                else "This case is resolved.",
                _summary(case),
            )
        form = (
            '<form method="post"><button type="submit">'
            "Je prends en charge / I'm on it</button></form>"
        )
        return _page(
            200, "Prendre ce cas en charge ?", "Acknowledge this case?", _summary(case) + form
        )

    @router.post("/{token}", response_class=HTMLResponse, summary="Acknowledge the case.")
    async def acknowledge(token: str) -> HTMLResponse:
        engine, publisher, metrics = started(backend)
        now = backend.now()
        grant = grant_of(token, now)
        if isinstance(grant, HTMLResponse):
            return grant
        try:
            async with engine.begin() as conn:
                done = await casework.transition(
                    conn,
                    str(grant.case_id),
                    Transition.ACKNOWLEDGE,
                    actor=f"link:{grant.receiver}",
                    reason=f"acknowledged from the link sent to {grant.receiver}",
                    policy_version=backend.policy.version,
                    now=now,
                )
        except casework.NotFound:
            return _missing()
        except InvalidTransition:
            return _page(409, "Ce cas est clos.", "This case is resolved.")
        await publisher.publish_soon(done.messages, now=now)
        if done.changed:
            metrics.transitioned(
                Transition.ACKNOWLEDGE.value,
                "link",
                severity=done.case.severity,
                first_ack=done.first_ack,
            )
            return _page(
                200,
                "Merci, le cas est pris en charge.",
                "Thank you: acknowledged.",
                _summary(done.case),
            )
        return _page(
            200,
            "Ce cas était déjà pris en charge.",
            "It was already acknowledged.",
            _summary(done.case),
        )

    return router
