"""The interface every classifier backend implements, and how a remote one fails."""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import Protocol

from shared.events import Classification, Label

Item = tuple[str, str | None]
"""One comment to classify: its text and the platform's language hint."""

ALL_LABELS: frozenset[Label] = frozenset(Label)


class FailureReason(StrEnum):
    """Why a remote scorer gave no usable verdict (a metric label: a closed set)."""

    TIMEOUT = "timeout"
    UNREACHABLE = "unreachable"
    RATE_LIMITED = "rate_limited"
    SERVER_ERROR = "server_error"
    CLIENT_ERROR = "client_error"
    MALFORMED = "malformed"
    ERROR = "error"


class BackendError(Exception):
    """A remote scorer answered nothing usable for a batch."""

    def __init__(self, reason: FailureReason, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


class Backend(Protocol):
    """Classifies a batch: one ``Classification`` per item, in order.

    ``scored_labels`` are the labels the backend actually decides; a verdict says nothing
    about the others (a moderation API knows abuse and self-harm, not questions).
    """

    @property
    def name(self) -> str: ...

    @property
    def scored_labels(self) -> frozenset[Label]: ...

    async def classify(self, items: Sequence[Item]) -> list[Classification]: ...


def status_failure(status: int) -> FailureReason:
    """The failure an HTTP status stands for (only called for non-2xx answers)."""
    if status == 429:
        return FailureReason.RATE_LIMITED
    if status >= 500:
        return FailureReason.SERVER_ERROR
    return FailureReason.CLIENT_ERROR
