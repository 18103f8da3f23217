"""The escalation planner: steps, waits, repeats, acknowledgement, reminders, the end."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.router.policy.escalation import ChainPlan, ChainState, Step, plan_escalation
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


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


@pytest.mark.parametrize(
    ("notified", "now", "plan"),
    [
        (0, at(0), ChainPlan(Step.NOTIFY, ("tier-1",), at=at(0), number=1)),
        (1, at(4), ChainPlan(Step.WAIT, at=at(5))),
        (1, at(5), ChainPlan(Step.NOTIFY, ("tier-1", "tier-2"), at=at(5), number=2)),
        (2, at(14), ChainPlan(Step.WAIT, at=at(15))),
        # repeat: 1 -> the steps run a second time.
        (2, at(15), ChainPlan(Step.NOTIFY, ("tier-1",), at=at(15), number=3)),
        (3, at(20), ChainPlan(Step.NOTIFY, ("tier-1", "tier-2"), at=at(20), number=4)),
        # Down for a while: each overdue step comes in turn, the caller loops.
        (1, at(90), ChainPlan(Step.NOTIFY, ("tier-1", "tier-2"), at=at(5), number=2)),
        # Ran out, then: stop -> nothing more, the case stays open.
        (4, at(30), ChainPlan(Step.DONE)),
    ],
)
def test_the_chain_pages_tier_after_tier_until_it_runs_out(
    notified: int, now: datetime, plan: ChainPlan
) -> None:
    assert plan_escalation(CHAIN, ChainState(T0, notified=notified), now=now) == plan


def test_a_chain_that_resolves_does_so_after_its_last_wait() -> None:
    chain = CHAIN.model_copy(update={"then": "resolve"})

    assert plan_escalation(chain, ChainState(T0, notified=4), now=at(29)) == ChainPlan(
        Step.WAIT, at=at(30)
    )
    assert plan_escalation(chain, ChainState(T0, notified=4), now=at(30)) == ChainPlan(
        Step.RESOLVE, at=at(30)
    )


@pytest.mark.parametrize(
    ("reminded", "now", "plan"),
    [
        (0, at(2), ChainPlan(Step.WAIT, at=at(61))),  # acknowledged at 1: no more pages
        (0, at(61), ChainPlan(Step.REMIND, ("leads",), at=at(61), number=1)),
        (1, at(80), ChainPlan(Step.WAIT, at=at(91))),
        (1, at(91), ChainPlan(Step.REMIND, ("leads",), at=at(91), number=2)),
    ],
)
def test_an_acknowledgement_stops_the_pages_and_reminders_follow_past_the_sla(
    reminded: int, now: datetime, plan: ChainPlan
) -> None:
    state = ChainState(T0, notified=1, acknowledged_at=at(1), reminded=reminded)

    assert plan_escalation(CHAIN, state, now=now) == plan


def test_reminders_go_to_the_first_step_when_the_chain_names_nobody() -> None:
    chain = CHAIN.model_copy(update={"remind": ()})
    state = ChainState(T0, notified=1, acknowledged_at=at(1))

    assert plan_escalation(chain, state, now=at(61)).receivers == ("tier-1",)


@pytest.mark.parametrize(
    "state",
    [
        ChainState(T0, notified=1, resolved=True),
        ChainState(T0, notified=1, acknowledged_at=at(1), resolved=True),
    ],
)
def test_a_resolved_case_is_done(state: ChainState) -> None:
    assert plan_escalation(CHAIN, state, now=at(500)) == ChainPlan(Step.DONE)


def test_without_an_sla_an_acknowledged_case_brings_no_reminder() -> None:
    chain = CHAIN.model_copy(update={"sla": None, "remind_every": None, "remind": ()})

    state = ChainState(T0, notified=1, acknowledged_at=at(1))

    assert plan_escalation(chain, state, now=at(500)) == ChainPlan(Step.DONE)


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"sla": None}, "reminders need an sla"),
        ({"steps": [{"notify": ["tier-1"], "wait": "0"}]}, "waits a positive time"),
        ({"steps": []}, "at least 1 item"),
        ({"repeat": 21}, "less than or equal to 20"),
    ],
)
def test_a_bad_chain_is_refused(change: dict[str, object], says: str) -> None:
    data = {**CHAIN.model_dump(mode="json"), **change}

    with pytest.raises(ValueError, match=says):
        ChainConfig.model_validate(data)
