"""E-mail storms across batches: which pages go out at once and which wait for a digest.

A receiver is in a storm once it has had ``threshold`` non-critical e-mail pages within the
last ``window`` (sent at once or held). Its next page then opens a window of that length:
every non-critical page that arrives while the window is open is held, and one digest
lists them when it ends. A critical page is never held (a crisis reaches a human at once),
nor is a report or anything but a page. Pure: the shell reads each receiver's ``Storm`` and
the time, and records the ``Decision``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from shared.events import Action, ActionKind, Channel, Severity

DIGEST_PREFIX = "email-digest"


@dataclass(frozen=True, slots=True)
class Window:
    start: datetime
    due: datetime


@dataclass(frozen=True, slots=True)
class Storm:
    """What a receiver has had: pages within the last window, and its open window if any."""

    recent: int = 0
    window: Window | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    at_once: tuple[Action, ...] = ()
    held: dict[str, Window] = field(default_factory=dict)  # action id -> its window


def digestible(action: Action, *, report_route: str) -> bool:
    """A non-critical e-mail page: the only kind of message a digest may hold back."""
    return (
        action.receiver.channel is Channel.EMAIL
        and action.kind is ActionKind.NOTIFY
        and action.severity is not Severity.CRITICAL
        and action.route != report_route
    )


def decide(
    actions: Sequence[Action],
    storms: Mapping[str, Storm],
    *,
    now: datetime,
    threshold: int,
    window: timedelta,
) -> Decision:
    """Split digestible pages (in arrival order) into those sent now and those held."""
    at_once: list[Action] = []
    held: dict[str, Window] = {}
    state = dict(storms)
    for action in actions:
        name = action.receiver.name
        storm = state.get(name, Storm())
        if storm.window is None and storm.recent >= threshold:
            storm = Storm(storm.recent, Window(now, now + window))
        if storm.window is not None:
            held[action.action_id] = storm.window
        else:
            at_once.append(action)
        state[name] = Storm(storm.recent + 1, storm.window)
    return Decision(tuple(at_once), held)


def digest_key(receiver: str, window_start: datetime) -> str:
    """The digest's idempotency key: one digest per receiver and window."""
    return f"{DIGEST_PREFIX}:{receiver}:{window_start.isoformat()}"
