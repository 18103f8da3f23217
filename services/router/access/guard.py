"""The router's gate: who a request is (an API key, the bootstrap token, a console session)
and whether their role allows the route. A request authenticated by its session cookie
must also carry the session's CSRF token to change anything (header ``X-CSRF-Token`` or
form field ``csrf_token``); a bearer credential is never sent by a browser on its own, so
it needs none."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl

from fastapi import HTTPException, Request

from services.router.access import store
from services.router.access.hashing import digest
from services.router.access.identity import BOOTSTRAP_KEY, Principal, Via
from services.router.access.roles import Role, allows
from services.router.access.sessions import SessionPolicy, SessionState, csrf_matches
from services.router.backend import Backend, started
from services.router.settings import RouterSettings
from services.router.store import aware
from shared.settings import secret_values

COOKIE = "vigie_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
ROLE_KEY = "x-vigie-role"  # the role an operation needs, in its OpenAPI description
FORM = "application/x-www-form-urlencoded"
MAX_FORM_BYTES = 64 * 1024
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_CHALLENGE = {"WWW-Authenticate": "Bearer"}


def needs(role: Role) -> dict[str, Any]:
    """``openapi_extra`` of an operation that needs ``role``: documented, and what the
    access-matrix test reads."""
    return {ROLE_KEY: role.value}


@dataclass(frozen=True, slots=True)
class CookiePolicy:
    secure: bool = True
    max_age_s: int = 12 * 3600

    def attributes(self) -> dict[str, Any]:
        return {
            "httponly": True,
            "samesite": "lax",
            "secure": self.secure,
            "max_age": self.max_age_s,
            "path": "/",
        }


def actor_of(who: Principal, by: str | None) -> str:
    """The audit log's name for the author of a change (403 if a person names another)."""
    try:
        return who.actor(by)
    except ValueError as exc:
        raise HTTPException(403, str(exc)) from exc


class Gate:
    def __init__(
        self,
        backend: Backend,
        *,
        bootstrap_tokens: tuple[bytes, ...],
        sessions: SessionPolicy,
    ) -> None:
        self._backend = backend
        self._tokens = bootstrap_tokens
        self.sessions = sessions

    async def identify(self, request: Request) -> Principal | None:
        """The request's principal; None when it carries no credential at all; 401 when
        it carries one that is not (or no longer) valid."""
        authorization = request.headers.get("authorization")
        if authorization is not None:
            return await self._bearer(authorization)
        cookie = request.cookies.get(COOKIE)
        if cookie:
            return await self._session(cookie)
        return None

    async def _bearer(self, authorization: str) -> Principal:
        scheme, _, given = authorization.partition(" ")
        given = given.strip()
        if scheme.lower() != "bearer" or not given:
            raise HTTPException(401, "send Authorization: Bearer <API key>", _CHALLENGE)
        # The bootstrap token(s): compared with each, in constant time, whatever matches.
        matches = [hmac.compare_digest(given.encode(), token) for token in self._tokens]
        if any(matches):
            return Principal(BOOTSTRAP_KEY, Role.ADMIN, Via.TOKEN)
        engine = started(self._backend)[0]
        now = self._backend.now()
        async with engine.connect() as conn:
            row = await store.live_key(conn, digest(given))
        if row is None:
            raise HTTPException(401, "this API key is not valid (or was revoked)", _CHALLENGE)
        last = row.last_used_at
        if last is None or self.sessions.needs_touch(last_seen_at=aware(last), now=now):
            async with engine.begin() as conn:
                await store.key_used(conn, row.id, now)
        return Principal(row.name, Role(row.role), Via.API_KEY)

    async def _session(self, cookie: str) -> Principal:
        engine = started(self._backend)[0]
        now = self._backend.now()
        session_hash = digest(cookie)
        async with engine.connect() as conn:
            row = await store.session_of(conn, session_hash)
        if row is None or row.disabled_at is not None:
            raise HTTPException(401, "your session has ended: log in again")
        last_seen = aware(row.last_seen_at)
        state = self.sessions.state(
            expires_at=aware(row.expires_at), last_seen_at=last_seen, now=now
        )
        if state is not SessionState.LIVE:
            async with engine.begin() as conn:
                await store.close_session(conn, session_hash, now=now, actor=None)
            raise HTTPException(401, f"your session has ended ({state.value}): log in again")
        if self.sessions.needs_touch(last_seen_at=last_seen, now=now):
            async with engine.begin() as conn:
                await store.session_seen(conn, session_hash, now)
        return Principal(row.user_name, Role(row.role), Via.SESSION, csrf_token=row.csrf_token)

    def require(self, role: Role) -> Callable[[Request], Awaitable[Principal]]:
        """A dependency: the request's principal, if their role allows ``role``."""

        async def check(request: Request) -> Principal:
            principal = await self.identify(request)
            if principal is None:
                raise HTTPException(
                    401,
                    "send Authorization: Bearer <API key>, or log in to the console",
                    _CHALLENGE,
                )
            if principal.is_person and request.method not in SAFE_METHODS:
                await _check_csrf(request, principal)
            if not allows(principal.role, role):
                raise HTTPException(
                    403, f"this needs the {role.value} role; {principal.name} is {principal.role}"
                )
            return principal

        return check


def gate_of(backend: Backend, settings: RouterSettings) -> Gate:
    return Gate(
        backend,
        bootstrap_tokens=secret_values(settings.router_api_token),
        sessions=SessionPolicy(
            ttl=timedelta(hours=settings.console_session_hours),
            idle=timedelta(minutes=settings.console_idle_minutes),
        ),
    )


async def form_fields(request: Request) -> dict[str, str]:
    """An url-encoded form's fields (the first value of each); the body is read once and
    kept by the request, so the route reads the same fields."""
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise HTTPException(413, f"a form is at most {MAX_FORM_BYTES} bytes")
    try:
        pairs = parse_qsl(body.decode(), keep_blank_values=True, max_num_fields=100)
    except (UnicodeDecodeError, ValueError) as exc:
        raise HTTPException(400, "this form cannot be read") from exc
    fields: dict[str, str] = {}
    for name, value in pairs:
        fields.setdefault(name, value)
    return fields


async def _check_csrf(request: Request, principal: Principal) -> None:
    given = request.headers.get(CSRF_HEADER)
    if given is None and request.headers.get("content-type", "").startswith(FORM):
        given = (await form_fields(request)).get(CSRF_FIELD)
    if principal.csrf_token is None or not csrf_matches(principal.csrf_token, given):
        raise HTTPException(403, f"CSRF token missing or wrong: send {CSRF_HEADER}")
