"""What the remote scorers share: one JSON POST with its failures named, and chunking."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

import httpx

from services.classifier.backends.base import BackendError, FailureReason, status_failure

T = TypeVar("T")
R = TypeVar("R")


async def post_json(
    client: httpx.AsyncClient, url: str, payload: Any, *, headers: Mapping[str, str]
) -> Any:
    """POST ``payload`` as JSON and return the decoded answer, or raise ``BackendError``."""
    try:
        response = await client.post(url, json=payload, headers=dict(headers))
    except httpx.TimeoutException as exc:
        raise BackendError(FailureReason.TIMEOUT, type(exc).__name__) from exc
    except httpx.HTTPError as exc:
        raise BackendError(FailureReason.UNREACHABLE, type(exc).__name__) from exc
    if not response.is_success:
        raise BackendError(status_failure(response.status_code), f"HTTP {response.status_code}")
    try:
        return response.json()
    except ValueError as exc:
        raise BackendError(FailureReason.MALFORMED, "the answer is not JSON") from exc


async def in_chunks(
    items: Sequence[T], size: int, call: Callable[[Sequence[T]], Awaitable[list[R]]]
) -> list[R]:
    """``call`` on chunks of at most ``size`` items, concurrently; results in item order."""
    parts = [items[start : start + size] for start in range(0, len(items), size)]
    results = await asyncio.gather(*(call(part) for part in parts))
    return [verdict for part in results for verdict in part]
