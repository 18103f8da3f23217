"""What each channel would send: shapes from the providers' docs, and no personal data."""

from __future__ import annotations

import json
from urllib.parse import parse_qs

import pytest

from services.notifier import email, meta, pagerduty, slack, teams, twilio, x
from services.notifier.attempt import HttpAnswer
from services.notifier.templates import Style
from shared.events import Action, ActionKind, Channel, CommentRef, Label, Receiver, Severity
from tests.unit import factories as f

STYLE = Style(console_url="http://console.test", allow_text=True)
TEXT = "I want to end it all tonight"


def crisis(**update: object) -> Action:
    return f.action().model_copy(update={"comment_text": TEXT, **update})


def everything_sent(action: Action) -> str:
    """Every byte that any alert channel would send for ``action``."""
    parts = [
        slack.post_message_request(action, STYLE, api_url="s", token="t", channel="C1").content,
        teams.request(action, STYLE, url="t").content,
        pagerduty.request(action, STYLE, url="p", routing_key="k").content,
        email.message(action, STYLE, sender="v@example.org").as_bytes(),
    ]
    sms = action.model_copy(
        update={"receiver": Receiver(name="s", channel=Channel.SMS, target="+1")}
    )
    parts += [
        r.content
        for r in twilio.requests(
            sms, STYLE, api_url="t", account_sid="AC", auth_token="x", sender="+2"
        )
    ]
    return b"\n".join(parts).decode()


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_a_sensitive_case_never_carries_the_comment_text(lang: str) -> None:
    sent = everything_sent(crisis(lang=lang))

    assert TEXT not in sent and "tonight" not in sent
    assert "u-1" not in sent and "Ana" not in sent
    assert "critical" in sent.lower() and "suicide" in sent


def test_text_shows_for_other_labels_only_when_allowed() -> None:
    praise = crisis(labels=(Label.PRAISE,), severity=Severity.LOW)

    assert TEXT in everything_sent(praise)
    hidden = Style(console_url="http://console.test")
    assert TEXT not in slack.webhook_request(praise, hidden, url="u").content.decode()


def test_slack_buttons_follow_the_ack_links() -> None:
    def buttons(action: Action) -> list[str]:
        blocks = slack.message(action, STYLE)["blocks"]
        return [b["action_id"] for b in blocks[-1]["elements"]]

    with_links = crisis(ack_url="http://c/ack/t1", resolve_url="http://c/ack/t2")
    assert buttons(with_links) == ["vigie_open", "vigie_ack", "vigie_resolve"]
    assert buttons(crisis()) == ["vigie_open"]


def test_french_messages_are_in_french() -> None:
    summary = slack.message(crisis(lang="fr-FR"), STYLE)["text"]

    assert summary.startswith("[CRITICAL] Nouveau cas")
    assert slack.message(crisis(lang="de"), STYLE)["text"].startswith("[CRITICAL] New case")


def test_html_mail_escapes_what_it_shows() -> None:
    praise = crisis(labels=(Label.PRAISE,), comment_text="<script>x</script>")

    html = email.message(praise, STYLE, sender="v@example.org").get_body(("html",))
    assert html is not None
    assert "&lt;script&gt;" in html.get_content() and "<script>" not in html.get_content()


@pytest.mark.parametrize(
    ("kind", "event_action", "has_payload"),
    [
        (ActionKind.NOTIFY, "trigger", True),
        (ActionKind.ACKNOWLEDGE, "acknowledge", False),
        (ActionKind.RESOLVE, "resolve", False),
    ],
)
def test_one_case_is_one_pagerduty_incident(
    kind: ActionKind, event_action: str, has_payload: bool
) -> None:
    action = crisis(kind=kind)

    event = pagerduty.event(action, STYLE, routing_key="k" * 32)

    assert event["dedup_key"] == str(action.case_id)
    assert event["event_action"] == event_action
    assert ("payload" in event) is has_payload


@pytest.mark.parametrize(
    ("status", "body", "ok", "recoverable"),
    [
        (200, {"ok": True, "ts": "1.2"}, True, False),
        (200, {"ok": False, "error": "channel_not_found"}, False, False),
        (200, {"ok": False, "error": "ratelimited"}, False, True),
        (429, {"ok": False, "error": "ratelimited"}, False, True),
        (500, None, False, True),
    ],
)
def test_slack_answers(status: int, body: object, ok: bool, recoverable: bool) -> None:
    answer = HttpAnswer(status, {}, json.dumps(body).encode())

    attempt = slack.api_answer(answer, now=f.NOW)

    assert (attempt.ok, attempt.recoverable) == (ok, recoverable)


@pytest.mark.parametrize(
    ("status", "code", "recoverable"),
    [(400, 190, False), (400, 100, False), (400, 4, True), (403, 32, True), (500, 2, True)],
)
def test_meta_errors(status: int, code: int, recoverable: bool) -> None:
    body = json.dumps({"error": {"code": code, "message": "m"}}).encode()

    attempt = meta.answer(HttpAnswer(status, {}, body), now=f.NOW)

    assert not attempt.ok and attempt.recoverable is recoverable


def test_x_waits_for_its_rate_limit_window() -> None:
    reset = str(int(f.NOW.timestamp()) + 90)

    attempt = x.answer(HttpAnswer(429, {"x-rate-limit-reset": reset}, b"{}"), now=f.NOW)

    assert attempt.recoverable and attempt.retry_after_s == pytest.approx(90, abs=1)


@pytest.mark.parametrize(
    ("channel_module", "platform", "kind"),
    [
        (meta, "x", ActionKind.REPLY),
        (meta, "facebook", ActionKind.NOTIFY),
        (meta, "instagram", ActionKind.LIKE),
        (x, "facebook", ActionKind.REPLY),
    ],
)
def test_platforms_refuse_what_they_cannot_do(
    channel_module: object, platform: str, kind: ActionKind
) -> None:
    action = crisis(kind=kind, message="hi", comment=CommentRef(platform=platform, comment_id="1"))

    with pytest.raises(ValueError, match="cannot"):
        if channel_module is meta:
            meta.request(action, graph_url="g", token="t")
        else:
            x.request(action, api_url="x", token="t")


def test_a_facebook_like_is_the_pages_like_of_the_comment_with_the_token_in_the_body() -> None:
    action = crisis(
        kind=ActionKind.LIKE, comment=CommentRef(platform="facebook", comment_id="123_456")
    )

    request = meta.request(action, graph_url="https://graph.test/v25.0", token="page-token")

    assert (request.method, request.url) == ("POST", "https://graph.test/v25.0/123_456/likes")
    assert parse_qs(request.content.decode()) == {"access_token": ["page-token"]}
    assert meta.answer(HttpAnswer(200, {}, b'{"success": true}'), now=f.NOW).ok


def test_twilio_sends_one_form_per_number_with_basic_auth() -> None:
    action = crisis(receiver=Receiver(name="s", channel=Channel.SMS, target="+331, +332"))

    requests = twilio.requests(
        action, STYLE, api_url="https://t", account_sid="AC1", auth_token="tok", sender="MG9"
    )

    assert [parse_qs(r.content.decode())["To"] for r in requests] == [["+331"], ["+332"]]
    assert all("MessagingServiceSid" in parse_qs(r.content.decode()) for r in requests)
    assert requests[0].url == "https://t/2010-04-01/Accounts/AC1/Messages.json"
    assert requests[0].headers["Authorization"] == "Basic QUMxOnRvaw=="
