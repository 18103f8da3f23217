"""Receivers of every channel: what each must name, and the fallback carried to the notifier."""

from __future__ import annotations

import pytest

from services.router.metrics import RouterMetrics
from services.router.policy.config import PolicyError, parse_policy
from services.router.timers import Paging
from services.router.worker import route_batch
from shared.events import Channel, Receiver
from shared.runtime import Runtime
from tests.unit import factories as f
from tests.unit.router.conftest import actions, links, policy_with

POLICY = """\
version: "t-1"
receivers:
  - name: crisis-team
    channel: pagerduty
    target: crisis-routing-key
    fallback: crisis-sms
  - name: crisis-sms
    channel: sms
    target: "+33600000000"
  - name: moderators
    channel: slack
    target: C0123456
routes:
  - name: crisis
    matchers: ["label=sensitive"]
    severity: critical
    notify: [crisis-team]
  - name: abuse
    matchers: ["label=abusive"]
    notify: [moderators]
"""


def receiver_block(body: str) -> str:
    return f'version: "t-1"\nreceivers:\n{body}routes:\n  - name: r\n    notify: [a]\n'


AT_RECEIVER = "receivers.0 (line 3)"


@pytest.mark.parametrize(
    ("body", "message", "where"),
    [
        ("  - name: a\n    channel: webhook\n", "needs url", AT_RECEIVER),
        ("  - name: a\n    channel: webhook\n    url: ftp://x\n", "http", "receivers.0.url"),
        ("  - name: a\n    channel: slack\n", "needs its target", AT_RECEIVER),
        (
            "  - name: a\n    channel: email\n    target: a@b.test\n    url: https://x\n",
            "not a url",
            AT_RECEIVER,
        ),
        (
            "  - name: a\n    channel: webhook\n    url: https://x\n    target: y\n",
            "not a target",
            AT_RECEIVER,
        ),
        ("  - name: a\n    channel: meta\n    target: page\n", "not a receiver", AT_RECEIVER),
        (
            "  - name: a\n    channel: sms\n    target: '+1'\n    fallback: a\n",
            "own fallback",
            AT_RECEIVER,
        ),
        (
            "  - name: a\n    channel: sms\n    target: '+1'\n    fallback: b\n",
            "unknown receiver 'b'",
            "receivers.0.fallback (line 6)",
        ),
    ],
    ids=[
        "webhook-without-url",
        "webhook-not-http",
        "slack-without-target",
        "email-with-url",
        "webhook-with-target",
        "platform-channel",
        "own-fallback",
        "unknown-fallback",
    ],
)
def test_a_receiver_that_does_not_fit_its_channel_is_refused_naming_the_line(
    body: str, message: str, where: str
) -> None:
    with pytest.raises(PolicyError) as raised:
        parse_policy(receiver_block(body))

    assert message in str(raised.value)
    assert where in str(raised.value)


def test_receivers_of_every_channel_name_their_target_and_never_a_secret() -> None:
    policy = parse_policy(POLICY)

    pager = policy.receivers["crisis-team"]
    assert (pager.channel, pager.target, pager.url, pager.fallback) == (
        Channel.PAGERDUTY,
        "crisis-routing-key",
        "",
        "crisis-sms",
    )


async def test_a_page_carries_its_receivers_target_and_fallback(
    runtime: Runtime, metrics: RouterMetrics
) -> None:
    policy = policy_with(POLICY)
    paging = Paging(policy, links())

    out = await route_batch(runtime, paging, [f.sensitive(f.comment("forum:c-1"))], metrics)

    (page,) = actions(out)
    assert page.receiver == Receiver(
        name="crisis-team", channel=Channel.PAGERDUTY, target="crisis-routing-key"
    )
    assert page.fallback == Receiver(name="crisis-sms", channel=Channel.SMS, target="+33600000000")
