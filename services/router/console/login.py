"""Logging in and out of the console: a session row, its cookie, its CSRF token."""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.router.access import store
from services.router.access.guard import COOKIE, CookiePolicy, Gate, form_fields, needs
from services.router.access.hashing import DECOY_HASH, digest, new_token, verify_password
from services.router.access.identity import Principal
from services.router.access.roles import Role
from services.router.backend import Backend, started
from services.router.console.pages import render
from services.router.settings import RouterSettings


def to_login() -> RedirectResponse:
    return RedirectResponse("/console/login", status_code=303)


def message(request: Request, status: int, text: str, back: str) -> HTMLResponse:
    return render(request, "message.html", status=status, heading=str(status), text=text, back=back)


def login_routes(backend: Backend, gate: Gate, *, settings: RouterSettings) -> APIRouter:
    router = APIRouter()
    cookies = CookiePolicy(
        secure=not settings.console_insecure_cookies,
        max_age_s=settings.console_session_hours * 3600,
    )
    viewer = Depends(gate.require(Role.VIEWER))

    @router.get("/login", response_class=HTMLResponse)
    async def login_page(request: Request) -> HTMLResponse:
        return render(request, "login.html", who=None, error=None)

    @router.post("/login", response_class=HTMLResponse)
    async def login(request: Request) -> Response:
        """Open to all: the credentials are in the form. A form posted from another site
        is refused (login CSRF: being logged in as someone else)."""
        origin = request.headers.get("origin")
        ours = {request.headers.get("host"), urlsplit(settings.console_url).netloc}
        if origin and urlsplit(origin).netloc not in ours:
            return message(request, 403, "a login from another site is refused", "/console/login")
        fields = await form_fields(request)
        name, password = fields.get("name", ""), fields.get("password", "")
        engine = started(backend)[0]
        now = backend.now()
        async with engine.connect() as conn:
            user = await store.user_by_name(conn, name) if name else None
        valid = verify_password(password, user.password_hash if user else DECOY_HASH)
        if user is None or not valid or user.disabled_at is not None:
            return render(request, "login.html", status=401, who=None, error="login_failed")
        token, csrf = new_token(), new_token()
        async with engine.begin() as conn:
            old = request.cookies.get(COOKIE)
            if old:  # never keep a session id chosen before the login
                await store.close_session(conn, digest(old), now=now, actor=None)
            await store.open_session(
                conn,
                session_hash=digest(token),
                user=user,
                csrf_token=csrf,
                now=now,
                expires_at=gate.sessions.expires_at(now),
            )
        response = RedirectResponse("/console/", status_code=303)
        response.set_cookie(COOKIE, token, **cookies.attributes())
        return response

    @router.post("/logout", openapi_extra=needs(Role.VIEWER))
    async def logout(request: Request, who: Principal = viewer) -> Response:
        async with started(backend)[0].begin() as conn:
            await store.close_session(
                conn,
                digest(request.cookies.get(COOKIE, "")),
                now=backend.now(),
                actor=who.actor(),
            )
        response = to_login()
        response.delete_cookie(
            COOKIE, path="/", secure=cookies.secure, httponly=True, samesite="lax"
        )
        return response

    return router
