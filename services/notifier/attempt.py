"""What one send attempt is and what came of it: values shared by every channel.

A channel's core builds an ``HttpRequest`` from an action and reads the provider's answer
into an ``Attempt``; the shell does the I/O in between. An attempt is recoverable when the
same request may succeed later (5xx, 408, 429, a transport error); any other 4xx is
permanent and is never retried.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.notifier.retry import recoverable_status, retry_after_s


@dataclass(frozen=True, slots=True)
class HttpRequest:
    method: str
    url: str
    headers: Mapping[str, str]
    content: bytes


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    status: int
    headers: Mapping[str, str]  # lower-case names
    body: bytes

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            return None


@dataclass(frozen=True, slots=True)
class Attempt:
    ok: bool
    status: int | None = None
    error: str | None = None
    recoverable: bool = False
    retry_after_s: float | None = None
    reference: str | None = field(default=None, compare=False)


def permanent(error: str, status: int | None = None) -> Attempt:
    return Attempt(ok=False, status=status, error=error, recoverable=False)


def by_status(answer: HttpAnswer, *, now: datetime, reference: str | None = None) -> Attempt:
    """The usual reading: 2xx delivered, 5xx/408/429 retried after ``Retry-After``."""
    if 200 <= answer.status < 300:
        return Attempt(ok=True, status=answer.status, reference=reference)
    return Attempt(
        ok=False,
        status=answer.status,
        error=f"HTTP {answer.status}",
        recoverable=recoverable_status(answer.status),
        retry_after_s=retry_after_s(answer.headers.get("retry-after"), now=now),
    )


def json_request(
    url: str, body: Mapping[str, Any], headers: Mapping[str, str] | None = None
) -> HttpRequest:
    content = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    return HttpRequest(
        "POST",
        url,
        {"Content-Type": "application/json; charset=utf-8", **(headers or {})},
        content,
    )
