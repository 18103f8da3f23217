"""Bounds on how long a client may take to send a request, so that slow clients cannot hold
the server's connections.

uvicorn bounds only the wait between two requests of a kept-alive connection
(``timeout_keep_alive``); a client that opens a connection and sends nothing, or trickles
its headers one byte at a time, or never finishes its body, is waited for forever. Two
bounds close that gap:

- ``HeaderBoundProtocol``: uvicorn's HTTP protocol whose connections must deliver a request's
  headers within ``header_timeout_s`` of connecting (or of the request's first byte on a
  kept-alive connection); else the server answers 408 and closes the connection.
- ``BodyDeadline``: ASGI middleware that gives the body ``body_timeout_s`` from the end of
  the headers; a body that is not in by then is answered 408 (the app sees the request as
  disconnected) and the connection is closed.

``HttpLimits`` reads the bounds and uvicorn's own limits from ``VIGIE_HTTP_*``.

One limit is the database's: PostgreSQL text cannot hold NUL characters, which JSON
(``"\\u0000"``), forms and paths (``%00``) can carry. ``refuse_unstorable_text`` answers
such a request 400 instead of 500, whichever route stores the text.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.exc import DBAPIError
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class HttpLimits(BaseSettings):
    """How much of the server one client may take (``VIGIE_HTTP_*``)."""

    model_config = SettingsConfigDict(env_prefix="VIGIE_HTTP_", extra="ignore", frozen=True)

    header_timeout_s: float = Field(
        default=10.0, gt=0, le=300, description="A request's headers must arrive within this."
    )
    body_timeout_s: float = Field(
        default=30.0, gt=0, le=3600, description="A request's body must arrive within this."
    )
    keep_alive_s: int = Field(
        default=5, ge=1, le=300, description="An idle kept-alive connection is closed after this."
    )
    max_connections: int | None = Field(
        default=1000,
        ge=1,
        description="Connections and tasks served at once; beyond, new requests get 503.",
    )
    backlog: int = Field(default=2048, ge=1, description="Connections the kernel queues.")


_REQUEST_TIMEOUT = (
    b"HTTP/1.1 408 Request Timeout\r\n"
    b"content-type: application/json\r\n"
    b"connection: close\r\n"
    b"content-length: 49\r\n\r\n"
    b'{"error": "request headers not received in time"}'
)


class HeaderBoundProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, with a deadline on each request's headers."""

    header_timeout_s: float = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_deadline: asyncio.TimerHandle | None = None

    @classmethod
    def bounded(cls, header_timeout_s: float) -> type[HeaderBoundProtocol]:
        """The protocol class to give uvicorn (``http=``), with this deadline."""
        return type("HeaderBoundProtocol", (cls,), {"header_timeout_s": header_timeout_s})

    def _arm(self) -> None:
        if self._header_deadline is None:
            self._header_deadline = self.loop.call_later(self.header_timeout_s, self._too_slow)

    def _disarm(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _too_slow(self) -> None:
        self._header_deadline = None
        if not self.transport.is_closing():
            self.transport.write(_REQUEST_TIMEOUT)
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()  # a connection that sends nothing at all is not kept either

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)


class BodyDeadline:
    """ASGI middleware: the request body must be complete ``timeout_s`` after the headers."""

    def __init__(self, app: ASGIApp, *, timeout_s: float) -> None:
        self.app = app
        self.timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout_s
        body_done = False
        timed_out = False
        started = False

        async def bounded_receive() -> Message:
            nonlocal body_done, timed_out
            if body_done:
                return await receive()
            if timed_out:
                return {"type": "http.disconnect"}
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                timed_out = True
                return {"type": "http.disconnect"}
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_done = True
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal started
            if timed_out and not started:
                return  # the 408 below answers instead
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, bounded_receive, tracked_send)
        except Exception:
            # An app that meets the disconnect may raise (Starlette's ClientDisconnect):
            # it is the client's delay, not the app's error.
            if not timed_out:
                raise
        if timed_out and not started:
            body = json.dumps(
                {"error": f"request body not received within {self.timeout_s:g} s"}
            ).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 408,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                        (b"connection", b"close"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})


# SQLSTATEs of text the database cannot hold: character_not_in_repertoire (NUL in text),
# untranslatable_character (``\\u0000`` in JSON).
_UNSTORABLE_TEXT = frozenset({"22021", "22P05"})


async def refuse_unstorable_text(request: Request, exc: Exception) -> JSONResponse:
    """Exception handler (``DBAPIError``): text the database cannot store is the client's
    error (400); any other database error is raised on (500)."""
    if isinstance(exc, DBAPIError) and getattr(exc.orig, "sqlstate", None) in _UNSTORABLE_TEXT:
        return JSONResponse(
            {"detail": "text must not contain NUL characters (\\u0000)"}, status_code=400
        )
    raise exc
