"""What a chain owes at a moment: overdue steps folded into one round of pages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.router.policy.chain_run import ChainRun, Page, one_step_chain, run_chain
from services.router.policy.escalation import ChainState, Step
from services.router.policy.schema import ChainConfig

T0 = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
CHAIN = ChainConfig.model_validate(
    {
        "name": "crisis",
        "steps": [
            {"notify": ["tier-1"], "wait": "5m"},
            {"notify": ["tier-1", "tier-2"], "wait": "10m"},
        ],
        "repeat": 1,
        "sla": "1h",
        "remind_every": "30m",
        "remind": ["leads"],
    }
)
N, R = Step.NOTIFY, Step.REMIND


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


@pytest.mark.parametrize(
    ("state", "now", "run"),
    [
        (ChainState(T0), at(0), ChainRun((Page("tier-1", N, 1),), 1, 0, at(5))),
        (ChainState(T0, notified=1), at(4), ChainRun((), 1, 0, at(5))),
        (
            ChainState(T0, notified=1),
            at(5),
            ChainRun((Page("tier-1", N, 2), Page("tier-2", N, 2)), 2, 0, at(15)),
        ),
        # Down from 1 to 21 minutes: steps 2, 3 and 4 are overdue; each receiver is paged
        # once, under the latest step naming it; step 3 (tier-1 only) is folded.
        (
            ChainState(T0, notified=1),
            at(21),
            ChainRun((Page("tier-1", N, 4), Page("tier-2", N, 4)), 4, 0, None, folded=(2, 3)),
        ),
        (ChainState(T0, notified=4), at(500), ChainRun((), 4, 0, None)),
        # Acknowledged at 1: reminders from 61 on, one round even when several are due.
        (ChainState(T0, notified=1, acknowledged_at=at(1)), at(2), ChainRun((), 1, 0, at(61))),
        (
            ChainState(T0, notified=1, acknowledged_at=at(1)),
            at(125),
            ChainRun((Page("leads", R, 3),), 1, 3, at(151)),
        ),
        (ChainState(T0, notified=2, resolved=True), at(30), ChainRun((), 2, 0, None)),
    ],
    ids=[
        "opens",
        "waits",
        "second-tier",
        "after-an-outage",
        "ran-out",
        "acked",
        "reminders-folded",
        "resolved",
    ],
)
def test_what_the_chain_owes(state: ChainState, now: datetime, run: ChainRun) -> None:
    assert run_chain(CHAIN, state, now=now) == run


def test_a_chain_that_resolves_says_so_once_its_last_wait_is_over() -> None:
    chain = CHAIN.model_copy(update={"then": "resolve"})

    run = run_chain(chain, ChainState(T0, notified=4), now=at(30))

    assert (run.resolve, run.next_due, run.pages) == (True, None, ())


def test_a_route_that_notifies_is_a_one_step_chain_that_stops() -> None:
    chain = one_step_chain(("moderators",))

    first = run_chain(chain, ChainState(T0), now=at(0))
    later = run_chain(chain, ChainState(T0, notified=1), now=at(600))

    assert first == ChainRun((Page("moderators", N, 1),), 1, 0, None)
    assert later == ChainRun((), 1, 0, None)
