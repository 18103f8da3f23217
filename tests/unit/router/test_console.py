"""The console over HTTP on SQLite: the inbox by severity with its filters, a case page as a
viewer and as a moderator, acting from the page, label corrections kept for retraining, the
language, and the live stream of case changes (its polls driven by the test, no sleeping)."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select

from services.classifier import store as classifier_store
from services.router.access.guard import CSRF_HEADER
from services.router.access.roles import Role
from services.router.console import live, views
from services.router.console.i18n import pick_lang
from services.router.console.views import Filters
from services.router.lifecycle import Transition
from services.router.policy.config import Policy
from shared.bus.memory import MemoryBus
from shared.events import ClassifiedComment, Label, Severity
from shared.runtime import Runtime
from shared.storage.tables import classifier_feedback
from tests.unit import factories as f
from tests.unit.router.conftest import MovingClock, Router, change, published_actions
from tests.unit.router.test_access_support import (
    add_user,
    app_of,
    client_of,
    console_router,
    login,
)
from tests.unit.router.test_api import opened

SECRET_TEXT = "je ne veux plus vivre, personne ne m'écoute"


@pytest.fixture
async def router(runtime: Runtime, policy: Policy) -> Router:
    return await console_router(runtime, policy)


@pytest.fixture
async def client(router: Router) -> AsyncIterator[httpx.AsyncClient]:
    async with client_of(app_of(router)) as client:
        yield client


async def stored_case(router: Router, item: ClassifiedComment) -> str:
    """A case opened by ``item``, whose comment the classifier stored (as it does)."""
    await classifier_store.record(router.runtime.engine, [item], f.NOW)
    return await opened(router, item)


def crisis(comment_id: str, *, platform: str = "generic") -> ClassifiedComment:
    return f.sensitive(f.comment(comment_id, text=SECRET_TEXT, platform=platform))


def question(comment_id: str) -> ClassifiedComment:
    return f.classified(
        f.comment(comment_id, author_id=f"a-{comment_id}", text="where is the shop?"),
        f.classification(Label.QUESTION, severity=Severity.LOW),
    )


@pytest.mark.parametrize(
    ("cookie", "header", "lang"),
    [
        (None, None, "fr"),
        (None, "en-GB,en;q=0.9", "en"),
        (None, "de-DE,de;q=0.9,en;q=0.5,fr;q=0.4", "en"),
        (None, "en;q=0.2,fr-CA;q=0.8", "fr"),
        ("en", "fr", "en"),  # the switch wins
        ("xx", "en", "en"),
        (None, "en;q=abc", "fr"),
    ],
)
def test_the_language_is_the_switch_else_the_browsers_else_french(
    cookie: str | None, header: str | None, lang: str
) -> None:
    assert pick_lang(cookie, header) == lang


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, Filters()),
        ({"status": ""}, Filters(status=None)),
        ({"status": "closed", "severity": "huge"}, Filters()),
        (
            {"severity": "critical", "label": "abusive", "platform": "x", "q": " raid "},
            Filters(severity="critical", label="abusive", platform="x", q="raid"),
        ),
    ],
)
def test_filters_keep_only_values_that_exist(params: dict[str, str], expected: Filters) -> None:
    assert Filters.parse(params) == expected


def test_the_stream_sends_a_case_again_only_when_it_changed() -> None:
    first = {"id": "a", "updated_at": "2026-11-21T12:00:00+00:00"}
    later = {"id": "a", "updated_at": "2026-11-21T12:01:00+00:00"}

    new, sent = live.fresh([first], {})
    again, sent = live.fresh([first], sent)
    changed, sent = live.fresh([first, later], sent)

    assert (new, again) == ([first], [])
    assert changed == [later]


async def test_the_inbox_shows_open_cases_most_severe_first_and_filters_them(
    client: httpx.AsyncClient, router: Router, clock: MovingClock
) -> None:
    await add_user(router.runtime.engine, "ana", Role.MODERATOR)
    question_case = await stored_case(router, question("forum:q-1"))
    clock.at(1)
    crisis_case = await stored_case(router, crisis("forum:c-1"))
    await login(client, "ana")

    everything = (await client.get("/console/")).text
    lows = (await client.get("/console/?severity=low")).text
    searched = (await client.get("/console/", params={"q": "personne ne"})).text

    assert everything.index(crisis_case) < everything.index(question_case)
    assert question_case in lows and crisis_case not in lows
    assert crisis_case in searched and question_case not in searched  # found by its text


async def test_a_viewer_sees_the_case_but_not_the_comments_text(
    client: httpx.AsyncClient, router: Router
) -> None:
    await add_user(router.runtime.engine, "vic", Role.VIEWER)
    case_id = await stored_case(router, crisis("forum:c-1"))
    await login(client, "vic")

    page = await client.get(f"/console/cases/{case_id}")
    searched = (await client.get("/console/", params={"q": "personne ne"})).text

    assert page.status_code == 200
    assert SECRET_TEXT.split(",")[0] not in page.text
    assert "visible par les modérateurs seulement" in page.text
    assert "rationale" in page.text.lower() or "Justification" in page.text
    assert 'action="/console/cases/' not in page.text  # no buttons for a viewer
    assert case_id not in searched  # a viewer's search does not look into texts


async def test_a_moderator_acknowledges_from_the_case_page_and_the_timeline_says_who(
    client: httpx.AsyncClient, router: Router
) -> None:
    await add_user(router.runtime.engine, "ana", Role.MODERATOR)
    case_id = await stored_case(router, crisis("forum:c-1"))
    csrf = await login(client, "ana")

    before = await client.get(f"/console/cases/{case_id}", headers={"Accept-Language": "en"})
    acked = await client.post(
        f"/console/cases/{case_id}/acknowledge", data={"csrf_token": csrf, "reason": ""}
    )
    after = await client.get(acked.headers["location"], headers={"Accept-Language": "en"})

    assert "je ne veux plus vivre" in before.text and "Acknowledge" in before.text
    assert acked.status_code == 303
    assert '<span data-testid="status">acknowledged</span>' in after.text
    assert "user:ana</td><td>case.acknowledge" in after.text
    assert "Content-Security-Policy" in after.headers


async def test_a_case_with_many_comments_shows_the_latest_and_says_how_many(
    client: httpx.AsyncClient,
    router: Router,
    clock: MovingClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(views, "PAGE_COMMENTS", 3)
    monkeypatch.setattr(views, "PAGE_EVENTS", 2)
    await add_user(router.runtime.engine, "ana", Role.MODERATOR)
    raid = [
        f.classified(
            f.comment(f"forum:raid-{i}", text=f"raid insult number {i}", author_id=f"r-{i}"),
            f.classification(Label.ABUSIVE, severity=Severity.MEDIUM, categories=("insult",)),
        )
        for i in range(5)
    ]
    case_ids = set()
    for minute, item in enumerate(raid):  # one post: one case, a comment a minute
        clock.at(minutes=minute)
        case_ids.add(await stored_case(router, item))
    await login(client, "ana")

    page = await client.get(f"/console/cases/{case_ids.pop()}", headers={"Accept-Language": "en"})

    assert not case_ids  # every comment joined the one case
    shown = re.findall(r"raid insult number (\d)", page.text)
    assert shown == ["2", "3", "4"]  # the latest three, oldest first
    assert "The latest 3 of 5." in page.text
    assert page.text.count("<tr><td>") == 2  # the timeline's latest two events
    assert re.search(r"The latest 2 of \d+\.", page.text)


async def test_a_label_correction_is_kept_for_retraining_and_audited(
    client: httpx.AsyncClient, router: Router
) -> None:
    await add_user(router.runtime.engine, "ana", Role.MODERATOR)
    case_id = await stored_case(router, crisis("forum:c-1"))
    csrf = await login(client, "ana")

    saved = await client.post(
        f"/console/cases/{case_id}/labels",
        data={"csrf_token": csrf, "label_question": "on", "note": "a quote from a film"},
    )
    page = await client.get(saved.headers["location"])
    async with router.runtime.engine.connect() as conn:
        (row,) = (await conn.execute(select(classifier_feedback))).all()

    assert saved.status_code == 303
    assert (row.comment_id, row.labels, row.moderator) == ("forum:c-1", ["question"], "ana")
    assert row.note == "a quote from a film" and row.text == SECRET_TEXT
    assert "Correction enregistrée" in page.text
    assert "user:ana</td><td>classifier.feedback" in page.text


async def test_the_language_switch_is_remembered(client: httpx.AsyncClient, router: Router) -> None:
    switched = await client.get("/console/login?lang=en")
    later = await client.get("/console/login", headers={"Accept-Language": "fr"})

    assert "Log in" in switched.text and "vigie_lang=en" in switched.headers["set-cookie"]
    assert 'lang="en"' in later.text


async def test_pages_need_a_session_and_static_files_are_served_from_the_repository(
    client: httpx.AsyncClient,
) -> None:
    inbox = await client.get("/console/", follow_redirects=False)
    script = await client.get("/console/static/inbox.js")
    missing = await client.get("/console/static/../routes.py")

    assert inbox.status_code == 303 and inbox.headers["location"] == "/console/login"
    assert script.status_code == 200 and "EventSource" in script.text
    assert script.headers["content-type"].startswith("text/javascript")
    assert missing.status_code == 404


async def test_the_live_stream_sends_each_change_after_its_cursor(
    router: Router, clock: MovingClock
) -> None:
    engine = router.runtime.engine
    clock.at(-1)
    await opened(router, question("forum:before"))  # a minute before the cursor: not sent
    clock.at(0)
    first = await opened(router, crisis("forum:c-1"))
    polls: list[int] = []

    async def poll() -> None:
        """Between polls, the world moves on: a new case, then an acknowledgement."""
        polls.append(len(polls))
        if len(polls) == 1:
            clock.at(1)
            await opened(router, question("forum:q-1"))
        elif len(polls) == 2:
            clock.at(2)
            await change(router, first, Transition.ACKNOWLEDGE)

    stream = live.case_changes(
        engine, cursor=f.NOW + timedelta(seconds=3), poll=poll, polls=4, heartbeat_every=1
    )
    frames = [chunk async for chunk in stream]
    cases = [json.loads(c.split("data: ", 1)[1]) for c in frames if "event: case" in c]

    assert frames[0].startswith("retry: ")
    # The case changed 3 s before the cursor is within the overlap (the browser upserts
    # rows: a repeat is harmless, a loss is not): sent once, then again when acknowledged.
    assert [(c["id"] == first, c["status"]) for c in cases] == [
        (True, "open"),
        (False, "open"),
        (True, "acknowledged"),
    ]
    assert any(c.startswith(": heartbeat") for c in frames)
    assert "forum:c-1" not in "".join(frames)  # no comment ids, no texts


def on_facebook(comment_id: str, verdict: ClassifiedComment) -> ClassifiedComment:
    comment = verdict.comment.model_copy(update={"platform": "facebook"})
    return verdict.model_copy(update={"comment": comment})


async def test_a_moderator_rejects_a_pending_action_and_it_never_goes_out(
    client: httpx.AsyncClient, router: Router, bus: MemoryBus
) -> None:
    await add_user(router.runtime.engine, "ana", Role.MODERATOR)
    insult = f.classified(
        f.comment("fb:c-7", platform="facebook", author_id="u-7"),
        f.classification(Label.ABUSIVE, severity=Severity.MEDIUM, categories=("insult",)),
    )
    case_id = await stored_case(router, insult)
    csrf = await login(client, "ana")
    page = (await client.get(f"/console/cases/{case_id}")).text
    (action_id,) = re.findall(r'/actions/([^"]+)/reject"', page)

    rejected = await client.post(
        f"/console/cases/{case_id}/actions/{action_id}/reject",
        data={"csrf_token": csrf, "reason": "banter between friends"},
    )
    approved_after = await client.post(
        f"/api/v1/cases/{case_id}/actions/{action_id}/approve",
        json={"reason": "changed my mind"},
        headers={CSRF_HEADER: csrf},
    )
    after = (await client.get(f"/console/cases/{case_id}")).text

    assert rejected.status_code == 303
    assert approved_after.status_code == 409
    assert published_actions(bus) == []  # the hide never went out
    assert "user:ana</td><td>action.rejected</td><td>banter between friends" in after
    assert "/reject" not in after  # nothing waits for approval any more


async def test_a_moderator_replies_with_an_approved_template_once(
    client: httpx.AsyncClient, router: Router, bus: MemoryBus
) -> None:
    await add_user(router.runtime.engine, "ana", Role.MODERATOR)
    case_id = await stored_case(router, on_facebook("fb:q-1", question("fb:q-1")))
    csrf = await login(client, "ana")
    url = f"/api/v1/cases/{case_id}/reply"
    headers = {CSRF_HEADER: csrf}

    unknown = await client.post(url, json={"template": "nope"}, headers=headers)
    sent = await client.post(url, json={"template": "medical-emergency"}, headers=headers)
    again = await client.post(url, json={"template": "medical-emergency"}, headers=headers)

    assert unknown.status_code == 409 and "no template" in unknown.json()["detail"]
    assert sent.status_code == 200, sent.text
    (reply,) = [a for a in published_actions(bus) if a.kind.value == "reply"]
    assert reply.action_id == sent.json()["action_id"]
    assert reply.receiver.channel.value == "meta" and reply.message is not None
    assert "SAMU (medical emergency) — 15" in reply.message  # the route's country: FR
    assert again.status_code == 409 and "already has a reply" in again.json()["detail"]


async def test_no_reply_where_vigie_has_no_adapter(
    client: httpx.AsyncClient, router: Router
) -> None:
    await add_user(router.runtime.engine, "ana", Role.MODERATOR)
    case_id = await stored_case(router, question("forum:q-1"))  # platform "generic"
    csrf = await login(client, "ana")

    response = await client.post(
        f"/console/cases/{case_id}/reply",
        data={"csrf_token": csrf, "template": "medical-emergency"},
    )

    assert response.status_code == 409
    assert "cannot reply on generic" in response.text


async def test_the_console_links_the_reports_which_open_with_the_session(
    client: httpx.AsyncClient, router: Router
) -> None:
    await add_user(router.runtime.engine, "vic", Role.VIEWER)
    await login(client, "vic")

    inbox = (await client.get("/console/?lang=en")).text
    links = re.findall(r'href="(/api/v1/reports\?[^"]+)"', inbox)
    report = await client.get(links[0].replace("&amp;", "&"))

    assert len(links) == 2  # last week, last month
    assert report.status_code == 200
    assert report.headers["content-type"].startswith("text/html")
    assert "<svg" in report.text
