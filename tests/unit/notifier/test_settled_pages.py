"""Acknowledged and resolved cases: Slack pages are updated in place, channels that cannot
edit what they posted get a short follow-up, in the receiver's language."""

from __future__ import annotations

import json
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine

from services.notifier import slack, store, teams
from services.notifier.attempt import HttpAnswer
from services.notifier.settings import NotifierSettings
from services.notifier.templates import Style
from services.notifier.worker import NotifierComponent
from services.router.actions import CaseView, follow_up
from shared.bus import Record
from shared.bus.memory import MemoryBus
from shared.events import Action, ActionKind, Channel, DeliveryResult, Receiver
from shared.runtime import Runtime
from shared.stage import Decoded
from shared.topics import NOTIFICATION_RESULTS
from tests import provider_peers as peers
from tests.unit import factories as f

STYLE = Style(console_url="http://console.test")
SLACK = Receiver(name="oncall", channel=Channel.SLACK, target="C0CRISIS")


def settled(kind: ActionKind, by: str | None, lang: str = "en", **update: Any) -> Action:
    return f.action().model_copy(
        update={
            "action_id": f"case:{kind.value}:oncall",
            "kind": kind,
            "message": by,
            "lang": lang,
            "ack_url": None,
            "resolve_url": None,
            "occurred_at": f.NOW,
            **update,
        }
    )


@pytest.mark.parametrize(
    ("kind", "by", "lang", "line"),
    [
        (ActionKind.ACKNOWLEDGE, "ana", "en", "Acknowledged by ana at 2026-11-21 12:00 UTC"),
        (ActionKind.ACKNOWLEDGE, "ana", "fr", "Pris en charge par ana le 2026-11-21 12:00 UTC"),
        (
            ActionKind.ACKNOWLEDGE,
            "link:oncall",
            "en",
            "Acknowledged by the link sent to oncall at 2026-11-21 12:00 UTC",
        ),
        (ActionKind.RESOLVE, "system:router", "en", "Resolved by Vigie at 2026-11-21 12:00 UTC"),
        (ActionKind.RESOLVE, None, "fr", "Clos par quelqu'un le 2026-11-21 12:00 UTC"),
    ],
)
def test_the_status_line_says_who_and_when(
    kind: ActionKind, by: str | None, lang: str, line: str
) -> None:
    assert STYLE.status(settled(kind, by, lang)) == line


def test_a_settled_page_keeps_the_case_link_and_loses_its_ack_buttons() -> None:
    action = settled(ActionKind.ACKNOWLEDGE, "ana <script>")

    request = slack.update_request(
        action, STYLE, api_url="http://slack.test/api", token="xoxb", channel="C1", ts="1.5"
    )

    body = json.loads(request.content)
    assert request.url == "http://slack.test/api/chat.update"
    assert request.headers["Authorization"] == "Bearer xoxb"
    assert (body["channel"], body["ts"]) == ("C1", "1.5")
    buttons = [b for b in body["blocks"] if b["type"] == "actions"][0]["elements"]
    assert [b["action_id"] for b in buttons] == ["vigie_open"]
    (context,) = [b for b in body["blocks"] if b["type"] == "context"]
    assert "Acknowledged by ana &lt;script&gt; at" in context["elements"][0]["text"]
    assert body["text"].startswith("Acknowledged by ana <script> at")


@pytest.mark.parametrize("kind", [ActionKind.ACKNOWLEDGE, ActionKind.RESOLVE])
def test_channels_that_cannot_edit_post_a_short_follow_up(kind: ActionKind) -> None:
    action = settled(kind, "ana", "fr")
    line = STYLE.status(action)

    hook = json.loads(slack.webhook_request(action, STYLE, url="u").content)
    card = json.loads(teams.request(action, STYLE, url="u").content)

    assert line in hook["text"] and len(hook["blocks"]) == 1
    content = card["attachments"][0]["content"]
    assert content["body"][0]["text"] == line
    assert [a["title"] for a in content["actions"]] == ["Ouvrir le cas"]


def test_a_page_is_still_a_page() -> None:
    hook = json.loads(slack.webhook_request(f.action(), STYLE, url="u").content)

    assert "Acknowledged" not in hook["text"]
    assert any(b["type"] == "actions" for b in hook["blocks"])


@pytest.mark.parametrize(
    ("status", "body", "headers", "expected"),
    [
        (200, {"ok": True, "channel": "C1", "ts": "1.2"}, {}, (True, False, "C1:1.2", None)),
        (200, {"ok": True, "ts": "1.2"}, {}, (True, False, None, None)),
        (200, {"ok": False, "error": "message_not_found"}, {}, (True, False, None, None)),
        (200, {"ok": False, "error": "cant_update_message"}, {}, (False, False, None, None)),
        (
            429,
            {"ok": False, "error": "ratelimited"},
            {"retry-after": "30"},
            (False, True, None, 30.0),
        ),
    ],
    ids=["posted", "no-channel", "message-gone", "refused", "rate-limited"],
)
def test_slack_api_answers(
    status: int, body: object, headers: dict[str, str], expected: tuple[object, ...]
) -> None:
    attempt = slack.api_answer(HttpAnswer(status, headers, json.dumps(body).encode()), now=f.NOW)

    assert (attempt.ok, attempt.recoverable, attempt.reference, attempt.retry_after_s) == expected


@pytest.mark.parametrize(
    ("value", "parsed"),
    [("C1:1700000000.000100", ("C1", "1700000000.000100")), ("1.2", None), (":1.2", None)],
)
def test_references_name_channel_and_ts(value: str, parsed: tuple[str, str] | None) -> None:
    assert slack.parse_reference(value) == parsed


async def run(component: NotifierComponent, actions: list[Action]) -> dict[str, DeliveryResult]:
    batch = [
        Decoded(Record("vigie.actions.v1", 0, n, None, a.model_dump_json().encode()), a)
        for n, a in enumerate(actions)
    ]
    messages = await component.process(batch)
    return {
        r.action_id: r
        for r in (
            DeliveryResult.model_validate_json(m.value)
            for m in messages
            if m.topic == NOTIFICATION_RESULTS
        )
    }


async def test_acknowledging_updates_every_recorded_page_of_the_receiver(
    engine: AsyncEngine,
) -> None:
    page = f.action().model_copy(update={"action_id": "case:notify:oncall:1", "receiver": SLACK})
    reminder = page.model_copy(update={"action_id": "case:remind:oncall:2"})
    other = page.model_copy(
        update={
            "action_id": "case:notify:other:1",
            "receiver": Receiver(name="other", channel=Channel.SLACK, target="C0OTHER"),
        }
    )
    ack = settled(ActionKind.ACKNOWLEDGE, "ana", receiver=SLACK)
    resolve = settled(ActionKind.RESOLVE, "ana", receiver=SLACK, action_id="case:resolve:oncall")
    with peers.provider_peer() as peer:
        component = NotifierComponent(
            NotifierSettings(
                webhook_signing_secret=SecretStr("s"),
                slack_api_url=f"{peer.url}/slack/api",
                slack_bot_token=SecretStr(peers.SLACK_TOKEN),
                receiver_burst=100,
                delivery_backoff_s=0,
            )
        )
        runtime = Runtime(bus=MemoryBus(), engine=engine, registry=CollectorRegistry())
        await component.prepare(runtime)
        posted = await run(component, [page, reminder, other])
        first, second = (
            slack.parse_reference(posted[a.action_id].reference or "") for a in (page, reminder)
        )
        assert first is not None and second is not None and first[0] == "C0CRISIS"
        # Slack throttles the first update; the retry updates both pages.
        peer.script = [
            peers.Answer(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "0"})
        ]
        acked = await run(component, [ack])
        acked_text = peer.slack_messages[first]["text"]
        del peer.slack_messages[second]  # someone deletes the reminder meanwhile
        resolved = await run(component, [resolve])
        await component.close()

    assert acked[ack.action_id].outcome.value == "delivered"
    assert acked[ack.action_id].attempts == 2
    assert acked_text.startswith("Acknowledged by ana")
    # A page that is gone has nothing left to update: the resolution is still delivered.
    assert resolved[resolve.action_id].outcome.value == "delivered"
    assert peer.slack_messages[first]["text"].startswith("Resolved by ana")
    updates = [
        (u.json()["channel"], u.json()["ts"]) for u in peer.received("/slack/api/chat.update")
    ]
    # Throttled once, then both pages on the ack; both again on the resolution. The other
    # receiver's page is left alone.
    assert updates == [first, first, second, first, second]
    assert len(peer.received("/slack/api/chat.postMessage")) == 3


async def test_an_ack_without_a_recorded_page_posts_a_follow_up(engine: AsyncEngine) -> None:
    ack = settled(ActionKind.ACKNOWLEDGE, "ana", receiver=SLACK)
    with peers.provider_peer() as peer:
        peer.script = [peers.Answer(429, {"ok": False}, {"Retry-After": "0"})]
        component = NotifierComponent(
            NotifierSettings(
                webhook_signing_secret=SecretStr("s"),
                slack_api_url=f"{peer.url}/slack/api",
                slack_bot_token=SecretStr(peers.SLACK_TOKEN),
                delivery_backoff_s=0,
            )
        )
        await component.prepare(
            Runtime(bus=MemoryBus(), engine=engine, registry=CollectorRegistry())
        )
        out = await run(component, [ack])
        await component.close()

    assert out[ack.action_id].outcome.value == "delivered"
    assert out[ack.action_id].attempts == 2  # throttled once, then posted
    assert [r.path for r in peer.received()] == ["/slack/api/chat.postMessage"] * 2
    assert peer.received()[-1].json()["text"].startswith("Acknowledged by ana")
    assert await store.page_references(engine, "slack", [(str(ack.case_id), "oncall")]) == {
        (str(ack.case_id), "oncall"): (out[ack.action_id].reference,)
    }


def test_the_routers_follow_up_names_who_acknowledged_for_the_page_to_say() -> None:
    page = f.action()
    case = CaseView(
        id=page.case_id,
        route=page.route,
        severity=page.severity,
        labels=page.labels,
        categories=page.categories,
        opener=page.comment,
        comment_url=page.comment_url,
        opened_at=page.case_opened_at,
        trace_id=page.trace_id,
    )

    ack = follow_up(
        case, SLACK, ActionKind.ACKNOWLEDGE, policy_version="v1", at=f.NOW, by="link:oncall"
    )

    assert ack.message == "link:oncall"
    assert STYLE.status(ack).startswith("Acknowledged by the link sent to oncall at")
