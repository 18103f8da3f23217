"""The cases API and the ack links, over HTTP, on SQLite: what a moderator and a paged
stakeholder see, every change in the audit log, bad input answered 4xx with a reason."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from services.router.policy.config import Policy
from services.router.tokens import Grant, Purpose, sign
from shared.bus.memory import MemoryBus
from shared.events import ClassifiedComment, Label, Severity
from shared.runtime import Runtime
from shared.storage.tables import audit_log, case_comments
from tests.unit import factories as f
from tests.unit.router.conftest import (
    ACK_SECRET,
    MovingClock,
    Router,
    prepared_router,
    published_actions,
    route,
)
from tests.unit.router.test_chains import crisis

TOKEN = "api-token-1"
AUTH = {"Authorization": f"Bearer {TOKEN}"}  # VIGIE_ROUTER_API_TOKEN: the bootstrap admin key
BOOTSTRAP = "key:router-api-token"


@pytest.fixture
async def router(runtime: Runtime, policy: Policy) -> Router:
    return await prepared_router(runtime, policy, router_api_token=f"{TOKEN},api-token-2")


@pytest.fixture
async def client(router: Router) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    app.include_router(router.component.routes())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://router.test") as client:
        yield client


async def opened(router: Router, item: ClassifiedComment | None = None) -> str:
    item = item or crisis()
    await route(router, item)
    async with router.runtime.engine.connect() as conn:
        case_id = (
            await conn.execute(
                select(case_comments.c.case_id).where(
                    case_comments.c.comment_id == item.comment.comment_id
                )
            )
        ).scalar_one()
    return str(case_id)


@pytest.mark.parametrize(
    ("headers", "status", "says"),
    [
        ({}, 401, "Bearer <API key>, or log in"),
        ({"Authorization": "Basic abc"}, 401, "Bearer"),
        ({"Authorization": "Bearer nope"}, 401, "not valid"),
        ({"Authorization": "Bearer api-token-2"}, 200, ""),  # the second token of a rotation
        (AUTH, 200, ""),
    ],
    ids=["none", "basic", "wrong", "rotated", "right"],
)
async def test_the_api_wants_a_bearer_token(
    client: httpx.AsyncClient, headers: dict[str, str], status: int, says: str
) -> None:
    response = await client.get("/api/v1/cases", headers=headers)

    assert response.status_code == status
    if status == 401:
        assert says in response.json()["detail"]
        assert response.headers["www-authenticate"] == "Bearer"


async def test_without_the_token_setting_no_bootstrap_token_is_accepted(
    runtime: Runtime, policy: Policy
) -> None:
    router = await prepared_router(runtime, policy)
    app = FastAPI()
    app.include_router(router.component.routes())
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://router.test"
    ) as client:
        response = await client.get("/api/v1/cases", headers=AUTH)

    assert response.status_code == 401
    assert "not valid" in response.json()["detail"]


async def test_cases_are_listed_newest_first_filtered_and_a_page_at_a_time(
    client: httpx.AsyncClient, router: Router, clock: MovingClock
) -> None:
    for minute, author in enumerate(["u-1", "u-2", "u-3"]):
        clock.at(minute)
        await opened(router, f.sensitive(f.comment(f"forum:{author}", author_id=author)))
    clock.at(3)
    await opened(
        router,
        f.classified(
            f.comment("forum:q", author_id="u-9"),
            f.classification(Label.QUESTION, severity=Severity.LOW),
        ),
    )

    first = (await client.get("/api/v1/cases?severity=critical&limit=2", headers=AUTH)).json()
    second = (
        await client.get(
            "/api/v1/cases",
            params={"severity": "critical", "limit": 2, "cursor": first["next_cursor"]},
            headers=AUTH,
        )
    ).json()
    lows = (await client.get("/api/v1/cases?severity=low&status=open", headers=AUTH)).json()
    since = (
        await client.get(
            "/api/v1/cases",
            params={"since": (f.NOW + timedelta(minutes=2)).isoformat()},
            headers=AUTH,
        )
    ).json()

    openers = [c["opener"]["comment_id"] for c in first["cases"]]
    assert openers == ["forum:u-3", "forum:u-2"]
    assert [c["route"] for c in second["cases"]] == ["crisis"]
    assert second["next_cursor"] is None
    assert [c["route"] for c in lows["cases"]] == ["questions-after-hours"]  # a Saturday
    assert len(since["cases"]) == 2
    assert all("identity" not in c for c in first["cases"])  # author ids stay in the database


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("status=closed", 422),
        ("severity=huge", 422),
        ("limit=0", 422),
        ("since=yesterday", 422),
        ("cursor=bm9wZQ", 400),
    ],
)
async def test_a_bad_query_is_refused_with_a_reason(
    client: httpx.AsyncClient, query: str, status: int
) -> None:
    response = await client.get(f"/api/v1/cases?{query}", headers=AUTH)

    assert response.status_code == status
    assert response.json()["detail"]


async def test_one_case_shows_its_comments_actions_timers_and_timeline(
    client: httpx.AsyncClient, router: Router
) -> None:
    case_id = await opened(router)

    body = (await client.get(f"/api/v1/cases/{case_id}", headers=AUTH)).json()

    assert body["case"]["status"] == "open" and "identity" not in body["case"]
    assert [c["comment_id"] for c in body["comments"]] == ["forum:c-1"]
    statuses = {(a["kind"], a["status"]) for a in body["actions"]}
    assert statuses == {("notify", "emitted"), ("reply", "skipped")}  # generic: no adapter
    assert sorted(t["kind"] for t in body["timers"]) == ["chain", "digest"]
    assert [e["action"] for e in body["timeline"]][:2] == ["case.opened", "case.escalated"]
    assert (await client.get(f"/api/v1/cases/{uuid.uuid4()}", headers=AUTH)).status_code == 404
    assert (await client.get("/api/v1/cases/not-a-uuid", headers=AUTH)).status_code == 422


async def test_a_big_case_answers_its_latest_items_and_their_totals(
    client: httpx.AsyncClient, router: Router, clock: MovingClock
) -> None:
    raid = [
        f.classified(
            f.comment(f"forum:raid-{i}", text=f"insult {i}", author_id=f"r-{i}"),
            f.classification(Label.ABUSIVE, severity=Severity.MEDIUM, categories=("insult",)),
        )
        for i in range(4)
    ]
    for minute, item in enumerate(raid):  # one post: one case, a comment a minute
        clock.at(minutes=minute)
        case_id = await opened(router, item)
    url = f"/api/v1/cases/{case_id}"

    whole = (await client.get(url, headers=AUTH)).json()
    latest = (await client.get(url, params={"limit": 2}, headers=AUTH)).json()
    refused = await client.get(url, params={"limit": 0}, headers=AUTH)

    assert [c["comment_id"] for c in whole["comments"]] == [f"forum:raid-{i}" for i in range(4)]
    assert [c["comment_id"] for c in latest["comments"]] == ["forum:raid-2", "forum:raid-3"]
    assert latest["totals"] == whole["totals"]
    assert whole["totals"]["comments"] == 4
    assert whole["totals"]["actions"] == len(whole["actions"]) > 2
    assert latest["actions"] == whole["actions"][-2:]
    assert latest["timeline"] == whole["timeline"][-2:]
    assert refused.status_code == 422


async def _audit(router: Router, action: str) -> Any:
    async with router.runtime.engine.connect() as conn:
        return (await conn.execute(select(audit_log).where(audit_log.c.action == action))).one()


async def test_people_acknowledge_resolve_and_reopen_and_the_audit_log_says_who_and_why(
    client: httpx.AsyncClient, router: Router, policy: Policy
) -> None:
    case_id = await opened(router)
    url = f"/api/v1/cases/{case_id}"

    ack = await client.post(f"{url}/acknowledge", json={"by": "ana"}, headers=AUTH)
    again = await client.post(f"{url}/acknowledge", json={"by": "bob"}, headers=AUTH)
    resolved = await client.post(
        f"{url}/resolve", json={"by": "ana", "reason": "called back, safe"}, headers=AUTH
    )
    reopened = await client.post(
        f"{url}/reopen", json={"by": "bob", "reason": "she wrote again"}, headers=AUTH
    )
    assigned = await client.post(
        f"{url}/assign", json={"by": "bob", "assignee": "cleo", "reason": "on shift"}, headers=AUTH
    )

    assert (ack.status_code, ack.json()["changed"]) == (200, True)
    # A key acting for a person: the audit log names both.
    assert ack.json()["case"]["acknowledged_by"] == f"{BOOTSTRAP}/ana"
    assert (again.status_code, again.json()["changed"]) == (200, False)
    assert resolved.json()["case"]["status"] == "resolved"
    assert reopened.json()["case"]["status"] == "open"
    assert assigned.json()["case"]["assignee"] == "cleo"
    entry = await _audit(router, "case.resolve")
    assert (entry.actor, entry.reason, entry.policy_version) == (
        f"{BOOTSTRAP}/ana",
        "called back, safe",
        policy.version,
    )
    assert (entry.details["from"], entry.details["to"]) == ("acknowledged", "resolved")
    assert (await _audit(router, "case.reopen")).actor == f"{BOOTSTRAP}/bob"


@pytest.mark.parametrize(
    ("path", "body", "status", "says"),
    [
        ("reopen", {"by": "ana", "reason": "x"}, 409, "not resolved"),
        ("resolve", {"by": "ana"}, 422, "reason"),
        ("acknowledge", {"by": ""}, 422, "by"),
        ("acknowledge", {"by": "ana", "extra": 1}, 422, "extra"),
        ("acknowledge", {"by": "a\nb"}, 422, "by"),
        ("assign", {"by": "ana", "reason": "x"}, 422, "assignee"),
    ],
)
async def test_bad_changes_are_refused_with_a_reason(
    client: httpx.AsyncClient,
    router: Router,
    path: str,
    body: dict[str, Any],
    status: int,
    says: str,
) -> None:
    case_id = await opened(router)

    response = await client.post(f"/api/v1/cases/{case_id}/{path}", json=body, headers=AUTH)

    assert response.status_code == status
    assert says in str(response.json()["detail"])


async def test_a_change_to_an_unknown_case_is_404(client: httpx.AsyncClient) -> None:
    response = await client.post(
        f"/api/v1/cases/{uuid.uuid4()}/acknowledge", json={"by": "ana"}, headers=AUTH
    )

    assert response.status_code == 404
    assert "no case" in response.json()["detail"]


async def test_an_action_waiting_for_approval_goes_out_once_approved(
    client: httpx.AsyncClient, router: Router, bus: MemoryBus
) -> None:
    insult = f.classified(
        f.comment("fb:c-7", platform="facebook", author_id="u-7"),
        f.classification(Label.ABUSIVE, severity=Severity.MEDIUM, categories=("insult",)),
    )
    case_id = await opened(router, insult)
    detail = (await client.get(f"/api/v1/cases/{case_id}", headers=AUTH)).json()
    (pending,) = [a for a in detail["actions"] if a["status"] == "pending"]
    assert pending["kind"] == "hide" and published_actions(bus) == []
    url = f"/api/v1/cases/{case_id}/actions/{pending['action_id']}/approve"

    approved = await client.post(url, json={"by": "ana", "reason": "insult"}, headers=AUTH)
    twice = await client.post(url, json={"by": "bob", "reason": "insult"}, headers=AUTH)
    unknown = await client.post(
        f"/api/v1/cases/{case_id}/actions/nope/approve",
        json={"by": "ana", "reason": "x"},
        headers=AUTH,
    )

    assert approved.status_code == 200
    (hide,) = published_actions(bus)
    assert (hide.action_id, hide.kind.value) == (pending["action_id"], "hide")
    assert (hide.receiver.channel.value, hide.receiver.target) == ("meta", "forum")
    assert (twice.status_code, unknown.status_code) == (409, 404)
    assert (await _audit(router, "action.approved")).actor == f"{BOOTSTRAP}/ana"


async def test_a_crisis_reply_on_facebook_goes_out_at_once_with_its_help_lines(
    router: Router, bus: MemoryBus
) -> None:
    await opened(router, crisis("fb:c-1", platform="facebook"))

    reply = next(a for a in published_actions(bus) if a.kind.value == "reply")

    assert reply.receiver.channel.value == "meta"
    assert reply.message is not None and "3114" in reply.message
    assert reply.lang == "en"


async def test_silences_are_created_listed_and_expired(
    client: httpx.AsyncClient, clock: MovingClock
) -> None:
    created = await client.post(
        "/api/v1/silences",
        json={
            "matchers": ["label=abusive", "platform=x"],
            "duration": "2h",
            "created_by": "ana",
            "comment": "a known raid",
        },
        headers=AUTH,
    )
    silence = created.json()["silence"]
    listed = (await client.get("/api/v1/silences", headers=AUTH)).json()["silences"]
    clock.at(30)
    expired = await client.post(
        f"/api/v1/silences/{silence['id']}/expire",
        json={"by": "bob", "reason": "over"},
        headers=AUTH,
    )
    after = (await client.get("/api/v1/silences", headers=AUTH)).json()["silences"]
    everything = (await client.get("/api/v1/silences?expired=true", headers=AUTH)).json()

    assert created.status_code == 201
    assert [s["id"] for s in listed] == [silence["id"]]
    assert expired.json()["silence"]["expired_by"] == f"{BOOTSTRAP}/bob"
    assert after == [] and len(everything["silences"]) == 1


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"matchers": ["no operator"], "duration": "1h"}, "matchers"),
        ({"matchers": [], "duration": "1h"}, "matchers"),
        ({"matchers": ["label=abusive"]}, "ends_at or duration"),
        (
            {"matchers": ["label=abusive"], "duration": "1h", "ends_at": "2026-11-21T18:00:00Z"},
            "ends_at or duration",
        ),
        ({"matchers": ["label=abusive"], "ends_at": "2026-11-21T18:00:00"}, "time zone"),
        ({"matchers": ["label=abusive"], "duration": "31d"}, "30 days"),
        ({"matchers": ["label=abusive"], "ends_at": "2020-01-01T00:00:00Z"}, "already be over"),
        ({"matchers": ["label=abusive"], "duration": "1h", "comment": ""}, "comment"),
    ],
)
async def test_a_bad_silence_is_refused_with_a_reason(
    client: httpx.AsyncClient, body: dict[str, Any], says: str
) -> None:
    response = await client.post(
        "/api/v1/silences",
        json={"created_by": "ana", "comment": "why", **body},
        headers=AUTH,
    )

    assert response.status_code == 422
    assert says in str(response.json()["detail"])


async def test_expiring_an_unknown_silence_is_404(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/silences/nope/expire", json={"by": "a", "reason": "b"}, headers=AUTH
    )

    assert response.status_code == 404


def ack_path(case_id: str, *, hours: float = 1, secret: bytes = ACK_SECRET) -> str:
    grant = Grant(Purpose.ACK, uuid.UUID(case_id), "crisis-team", f.NOW + timedelta(hours=hours))
    return f"/ack/{sign(grant, [secret])}"


async def test_an_ack_link_shows_the_case_then_acknowledges_it_on_post(
    client: httpx.AsyncClient, router: Router, bus: MemoryBus
) -> None:
    case_id = await opened(router)
    (page,) = published_actions(bus)
    assert page.ack_url is not None
    path = page.ack_url.removeprefix("https://vigie.test")

    shown = await client.get(path)  # no bearer token: the link is the credential
    still_open = (await client.get(f"/api/v1/cases/{case_id}", headers=AUTH)).json()["case"]
    done = await client.post(path)
    later = await client.get(path)

    assert shown.status_code == 200
    assert "Prendre ce cas en charge" in shown.text and "Acknowledge this case" in shown.text
    assert '<form method="post">' in shown.text
    assert still_open["status"] == "open"  # a GET never acknowledges
    assert done.status_code == 200 and "Thank you" in done.text
    assert "already acknowledged" in later.text
    entry = await _audit(router, "case.acknowledge")
    assert entry.actor == "link:crisis-team"
    assert "crisis-team" in entry.reason


@pytest.mark.parametrize(
    ("make", "status", "says"),
    [
        (lambda case_id: ack_path(case_id, hours=-1), 410, "expired"),
        (lambda case_id: ack_path(case_id, secret=b"forged"), 403, "not valid"),
        (lambda case_id: "/ack/garbage", 403, "not valid"),
        (lambda case_id: ack_path(str(uuid.uuid4())), 404, "does not exist"),
    ],
    ids=["expired", "forged", "garbage", "unknown-case"],
)
@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_a_bad_ack_link_gets_a_clear_4xx(
    client: httpx.AsyncClient,
    router: Router,
    make: Any,
    status: int,
    says: str,
    method: str,
) -> None:
    case_id = await opened(router)

    response = await client.request(method, make(case_id))

    assert response.status_code == status
    assert says in response.text
    detail = (await client.get(f"/api/v1/cases/{case_id}", headers=AUTH)).json()
    assert detail["case"]["status"] == "open"


async def test_an_ack_link_of_a_resolved_case_is_refused(
    client: httpx.AsyncClient, router: Router
) -> None:
    case_id = await opened(router)
    await client.post(
        f"/api/v1/cases/{case_id}/resolve", json={"by": "ana", "reason": "done"}, headers=AUTH
    )

    response = await client.post(ack_path(case_id))

    assert response.status_code == 409
    assert "resolved" in response.text
