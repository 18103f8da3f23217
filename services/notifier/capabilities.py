"""What each channel and each platform can do, as data the router checks before it asks.

``CHANNEL_KINDS`` says which action kinds a channel delivers; ``PLATFORM_KINDS`` says what
the platform adapters may do on a platform's comments (Meta: reply and hide on Facebook and
Instagram, like on Facebook; X: reply). ``supports`` is the one question the router asks: the
router never emits an action that a channel or a platform cannot carry out.
"""

from __future__ import annotations

from collections.abc import Mapping

from shared.events import ActionKind, Channel

_ALERTS = frozenset(
    {ActionKind.NOTIFY, ActionKind.QUEUE, ActionKind.ACKNOWLEDGE, ActionKind.RESOLVE}
)

CHANNEL_KINDS: Mapping[Channel, frozenset[ActionKind]] = {
    Channel.WEBHOOK: _ALERTS | {ActionKind.REPLY, ActionKind.HIDE},
    Channel.SLACK: _ALERTS,
    Channel.SLACK_WEBHOOK: _ALERTS,
    Channel.TEAMS: _ALERTS,
    Channel.EMAIL: _ALERTS,
    Channel.SMS: frozenset({ActionKind.NOTIFY, ActionKind.QUEUE}),
    Channel.PAGERDUTY: frozenset(
        {ActionKind.NOTIFY, ActionKind.QUEUE, ActionKind.ACKNOWLEDGE, ActionKind.RESOLVE}
    ),
    Channel.META: frozenset({ActionKind.REPLY, ActionKind.HIDE, ActionKind.LIKE}),
    Channel.X: frozenset({ActionKind.REPLY}),
}

# Platform channels act on the comment itself, so the comment's platform must allow it.
PLATFORM_KINDS: Mapping[Channel, Mapping[str, frozenset[ActionKind]]] = {
    Channel.META: {
        "facebook": frozenset({ActionKind.REPLY, ActionKind.HIDE, ActionKind.LIKE}),
        "instagram": frozenset({ActionKind.REPLY, ActionKind.HIDE}),
    },
    Channel.X: {"x": frozenset({ActionKind.REPLY})},
}


def supports(channel: Channel, kind: ActionKind, platform: str | None = None) -> bool:
    """Whether ``channel`` can carry an action of ``kind`` about a comment on ``platform``."""
    if kind not in CHANNEL_KINDS.get(channel, frozenset()):
        return False
    per_platform = PLATFORM_KINDS.get(channel)
    if per_platform is None:
        return True
    return platform is not None and kind in per_platform.get(platform, frozenset())


def matrix() -> dict[str, dict[str, list[str]]]:
    """The matrix as plain data (for docs, the router's lint and ``/capabilities``)."""
    return {
        channel.value: {
            "kinds": sorted(k.value for k in CHANNEL_KINDS[channel]),
            **({"platforms": sorted(PLATFORM_KINDS[channel])} if channel in PLATFORM_KINDS else {}),
        }
        for channel in Channel
    }
