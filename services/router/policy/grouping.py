"""When a case's receivers hear about its comments: the first page waits ``group_wait`` (so
that a burst arriving together makes one page), later comments are told at most every
``group_interval``, and once ``digest_after`` comments pile up between two notifications
(a storm, a pile-on) they are folded into one digest instead of one page each.

Pure: the group's state and the time are passed in; the shell sends and records.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from services.router.policy.tree import Grouping


class Notice(StrEnum):
    PAGE = "page"  # tell the receivers about each comment not yet told
    DIGEST = "digest"  # tell them once, with a count and a summary
    WAIT = "wait"  # not yet: ask again at ``at``
    NOTHING = "nothing"  # every comment has been told


@dataclass(frozen=True, slots=True)
class GroupState:
    opened_at: datetime
    untold: int  # comments of the group no notification has covered yet
    last_told_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class GroupPlan:
    notice: Notice
    at: datetime | None = None  # for WAIT: when to ask again
    comments: int = 0  # for PAGE and DIGEST: how many comments the notification covers


def plan_notice(state: GroupState, grouping: Grouping, *, now: datetime) -> GroupPlan:
    if state.untold <= 0:
        return GroupPlan(Notice.NOTHING)
    if state.last_told_at is None:
        due = state.opened_at + grouping.wait
    else:
        due = state.last_told_at + grouping.interval
    if now < due:
        return GroupPlan(Notice.WAIT, at=due)
    kind = Notice.DIGEST if state.untold >= grouping.digest_after else Notice.PAGE
    return GroupPlan(kind, comments=state.untold)
