"""The capability matrix the router checks before it asks for anything."""

from __future__ import annotations

import pytest

from services.notifier.capabilities import matrix, supports
from shared.events import ActionKind, Channel

R, H, N = ActionKind.REPLY, ActionKind.HIDE, ActionKind.NOTIFY


@pytest.mark.parametrize(
    ("channel", "kind", "platform", "allowed"),
    [
        (Channel.META, R, "facebook", True),
        (Channel.META, H, "instagram", True),
        (Channel.META, R, "whatsapp", False),
        (Channel.META, R, None, False),
        (Channel.META, N, "facebook", False),
        (Channel.X, R, "x", True),
        (Channel.X, H, "x", False),
        (Channel.X, R, "facebook", False),
        (Channel.SLACK, N, None, True),
        (Channel.SLACK, R, "facebook", False),
        (Channel.PAGERDUTY, ActionKind.RESOLVE, None, True),
        (Channel.SMS, ActionKind.RESOLVE, None, False),
    ],
)
def test_supports(channel: Channel, kind: ActionKind, platform: str | None, allowed: bool) -> None:
    assert supports(channel, kind, platform) is allowed


def test_every_channel_is_in_the_matrix() -> None:
    data = matrix()

    assert set(data) == {c.value for c in Channel}
    assert data["x"] == {"kinds": ["reply"], "platforms": ["x"]}
