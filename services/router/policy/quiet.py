"""Quiet hours: a receiver may ask not to be paged in some time windows (nights, weekends).
Its pages wait until the window ends, except for critical cases: critical never sleeps."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from services.router.policy.schema import ReceiverConfig
from services.router.policy.timewindows import TimeWindow, first_moment_outside
from shared.events import Severity


@dataclass(frozen=True, slots=True)
class DeferredPage:
    receiver: str
    until: datetime | None  # None: the receiver's quiet hours never end


def deferred_page(
    receiver: ReceiverConfig,
    windows: Mapping[str, TimeWindow],
    *,
    severity: Severity,
    at: datetime,
) -> DeferredPage | None:
    """When (and whether) a page to ``receiver`` about a case of ``severity`` must wait."""
    if severity is Severity.CRITICAL or not receiver.quiet_hours:
        return None
    quiet = tuple(windows[name] for name in receiver.quiet_hours)
    until = first_moment_outside(quiet, at)
    return None if until == at else DeferredPage(receiver.name, until)
