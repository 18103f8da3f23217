"""Which e-mail pages go out at once and which wait for the receiver's digest."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.notifier.storm import Storm, Window, decide, digest_key, digestible
from shared.events import Action, ActionKind, Channel, Receiver, Severity
from tests.unit import factories as f

MINUTE = timedelta(minutes=1)
LATER = f.NOW + timedelta(seconds=20)


def page(
    n: int,
    *,
    receiver: str = "ops",
    channel: Channel = Channel.EMAIL,
    kind: ActionKind = ActionKind.NOTIFY,
    severity: Severity = Severity.HIGH,
    route: str = "abuse",
) -> Action:
    return f.action(severity=severity).model_copy(
        update={
            "action_id": f"a-{receiver}-{n}",
            "kind": kind,
            "route": route,
            "receiver": Receiver(name=receiver, channel=channel, target="ops@example.org"),
        }
    )


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        (page(1), True),
        (page(1, severity=Severity.LOW), True),
        (page(1, severity=Severity.CRITICAL), False),  # a crisis reaches a human at once
        (page(1, channel=Channel.SLACK), False),
        (page(1, kind=ActionKind.ACKNOWLEDGE), False),
        (page(1, route="vigie.report"), False),
    ],
)
def test_only_non_critical_email_pages_may_wait(action: Action, expected: bool) -> None:
    assert digestible(action, report_route="vigie.report") is expected


@pytest.mark.parametrize(
    ("storm", "pages", "at_once", "held"),
    [
        # Below the threshold: every page at once, the one reaching it included.
        (Storm(recent=0), 3, 3, 0),
        (Storm(recent=2), 1, 1, 0),
        # The threshold reached within the window: the next pages wait.
        (Storm(recent=3), 2, 0, 2),
        (Storm(recent=1), 4, 2, 2),
        # An open window keeps holding, whatever the count.
        (Storm(recent=0, window=Window(f.NOW, f.NOW + MINUTE)), 1, 0, 1),
    ],
)
def test_pages_wait_once_the_threshold_is_reached(
    storm: Storm, pages: int, at_once: int, held: int
) -> None:
    actions = [page(n) for n in range(pages)]

    decision = decide(actions, {"ops": storm}, now=LATER, threshold=3, window=MINUTE)

    assert decision.at_once == tuple(actions[:at_once])
    assert list(decision.held) == [a.action_id for a in actions[at_once:]]


def test_a_new_window_starts_with_the_first_page_held_and_an_open_one_is_kept() -> None:
    fresh = decide([page(1), page(2)], {"ops": Storm(5)}, now=LATER, threshold=3, window=MINUTE)
    opened = Window(f.NOW, f.NOW + MINUTE)
    kept = decide([page(3)], {"ops": Storm(0, opened)}, now=LATER, threshold=3, window=MINUTE)

    assert set(fresh.held.values()) == {Window(LATER, LATER + MINUTE)}
    assert kept.held == {"a-ops-3": opened}


def test_receivers_are_counted_apart() -> None:
    actions = [page(1, receiver="ops"), page(1, receiver="legal"), page(2, receiver="ops")]

    decision = decide(
        actions, {"ops": Storm(1), "legal": Storm(0)}, now=LATER, threshold=2, window=MINUTE
    )

    assert [a.action_id for a in decision.at_once] == ["a-ops-1", "a-legal-1"]
    assert list(decision.held) == ["a-ops-2"]


def test_the_digest_key_names_the_receiver_and_the_window() -> None:
    assert digest_key("ops", f.NOW) == f"email-digest:ops:{f.NOW.isoformat()}"
    assert digest_key("ops", f.NOW) != digest_key("ops", LATER)
    assert digest_key("ops", f.NOW) != digest_key("legal", f.NOW)
