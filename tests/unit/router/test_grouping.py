"""When a group's receivers hear about it: group_wait, group_interval, digest after a storm."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.router.policy.grouping import GroupPlan, GroupState, Notice, plan_notice
from services.router.policy.tree import Grouping

T0 = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
GROUPING = Grouping(
    by=("platform", "post_id"),
    wait=timedelta(minutes=1),
    interval=timedelta(minutes=10),
    digest_after=5,
)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


@pytest.mark.parametrize(
    ("state", "now", "plan"),
    [
        # A new group waits group_wait, so that a burst makes one page.
        (GroupState(T0, untold=1), at(0), GroupPlan(Notice.WAIT, at=at(1))),
        (GroupState(T0, untold=3), at(0.5), GroupPlan(Notice.WAIT, at=at(1))),
        (GroupState(T0, untold=3), at(1), GroupPlan(Notice.PAGE, comments=3)),
        # A storm already piled up when group_wait ends: one digest.
        (GroupState(T0, untold=12), at(1), GroupPlan(Notice.DIGEST, comments=12)),
        # Once told, new comments wait for group_interval after the last notification.
        (GroupState(T0, untold=2, last_told_at=at(1)), at(5), GroupPlan(Notice.WAIT, at=at(11))),
        (GroupState(T0, untold=2, last_told_at=at(1)), at(11), GroupPlan(Notice.PAGE, comments=2)),
        (
            GroupState(T0, untold=5, last_told_at=at(1)),
            at(11),
            GroupPlan(Notice.DIGEST, comments=5),
        ),
        (GroupState(T0, untold=4, last_told_at=at(1)), at(30), GroupPlan(Notice.PAGE, comments=4)),
        # Nothing new: nothing to say, however late it is.
        (GroupState(T0, untold=0, last_told_at=at(1)), at(60), GroupPlan(Notice.NOTHING)),
        (GroupState(T0, untold=0), at(60), GroupPlan(Notice.NOTHING)),
    ],
)
def test_plan_notice(state: GroupState, now: datetime, plan: GroupPlan) -> None:
    assert plan_notice(state, GROUPING, now=now) == plan


def test_without_group_wait_a_new_case_pages_at_once() -> None:
    at_once = Grouping(by=(), wait=timedelta(0), interval=timedelta(minutes=5), digest_after=5)

    assert plan_notice(GroupState(T0, untold=1), at_once, now=T0) == GroupPlan(
        Notice.PAGE, comments=1
    )
