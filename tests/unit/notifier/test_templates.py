"""What a page says beyond the case: the router's own note (a digest's summary)."""

from __future__ import annotations

import pytest

from services.notifier.templates import Style
from shared.events import ActionKind
from tests.unit import factories as f

TEMPLATES = ["email.txt.j2", "email.html.j2", "slack.mrkdwn.j2", "teams.md.j2", "sms.txt.j2"]
SUMMARY = "9 new comment(s) in this case (abusive x9); severity medium to high."


@pytest.mark.parametrize("lang", ["en", "fr"])
@pytest.mark.parametrize("template", TEMPLATES)
def test_a_digest_page_shows_the_routers_summary(template: str, lang: str) -> None:
    page = f.action().model_copy(update={"message": SUMMARY, "lang": lang})

    assert SUMMARY in Style(console_url="http://console.test").render(template, page)


@pytest.mark.parametrize("template", TEMPLATES)
def test_a_page_without_a_note_and_a_reply_text_show_no_note(template: str) -> None:
    style = Style(console_url="http://console.test")
    plain = f.action()
    reply = f.action().model_copy(update={"kind": ActionKind.REPLY, "message": "Call 3114"})

    assert "None" not in style.render(template, plain)
    assert "Call 3114" not in style.render(template, reply)
