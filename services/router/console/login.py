"""Logging in and out of the console: a session row, its cookie, its CSRF token."""

from __future__ import annotations

import math
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.router.access import store
from services.router.access.attempts import (
    ChecksBusy,
    FailureWindow,
    PasswordChecks,
    retry_after_header,
)
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


# One scrypt check at a time (about one core), a few more waiting; beyond, refused at once.
CHECKS_RUNNING = 1
CHECKS_WAITING = 16


class LoginLimits:
    """Failed logins counted per user name and per client address, and the password checks'
    own bound (``services.router.access.attempts``)."""

    def __init__(self, settings: RouterSettings) -> None:
        window_s = settings.console_login_window_minutes * 60.0
        self.names = FailureWindow(limit=settings.console_login_failures, window_s=window_s)
        self.peers = FailureWindow(limit=settings.console_login_peer_failures, window_s=window_s)
        self.checks = PasswordChecks(
            verify_password, running=CHECKS_RUNNING, waiting=CHECKS_WAITING
        )

    def retry_after(self, name: str, peer: str, now: float) -> float | None:
        """Seconds until this name from this address may try again; None: it may now."""
        waits = (self.names.retry_after(name, now), self.peers.retry_after(peer, now))
        found = [wait for wait in waits if wait is not None]
        return max(found) if found else None

    def failed(self, name: str, peer: str, now: float) -> None:
        self.names.failed(name, now)
        self.peers.failed(peer, now)


def refusal(
    request: Request, status: int, error: str, retry_after_s: float, **context: object
) -> HTMLResponse:
    """The login page again, with why and when to come back."""
    response = render(request, "login.html", status=status, who=None, error=error, **context)
    response.headers["Retry-After"] = retry_after_header(retry_after_s)
    return response


def name_key(name: str) -> str:
    return name.strip().casefold()[:64]


def login_routes(backend: Backend, gate: Gate, *, settings: RouterSettings) -> APIRouter:
    router = APIRouter()
    cookies = CookiePolicy(
        secure=not settings.console_insecure_cookies,
        max_age_s=settings.console_session_hours * 3600,
    )
    viewer = Depends(gate.require(Role.VIEWER))
    bounds = LoginLimits(settings)

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
        engine, _, metrics = started(backend)
        key, peer = name_key(name), request.client.host if request.client else "-"
        now = backend.now()
        wait = bounds.retry_after(key, peer, now.timestamp())
        if wait is not None:  # refused before any check: guessing costs the guesser time
            metrics.console_logins.labels("throttled").inc()
            minutes = math.ceil(wait / 60)
            return refusal(request, 429, "login_throttled", wait, wait_minutes=minutes)
        async with engine.connect() as conn:
            user = await store.user_by_name(conn, name) if name else None
        try:
            valid = await bounds.checks.verify(password, user.password_hash if user else DECOY_HASH)
        except ChecksBusy:
            metrics.console_logins.labels("busy").inc()
            return refusal(request, 503, "login_busy", 1.0)
        if user is None or not valid or user.disabled_at is not None:
            bounds.failed(key, peer, now.timestamp())
            metrics.console_logins.labels("failed").inc()
            return render(request, "login.html", status=401, who=None, error="login_failed")
        bounds.names.forget(key)
        metrics.console_logins.labels("success").inc()
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
