"""A stream of signed webhooks from several platforms, with a known set of crisis comments.

Each comment is built for one platform (a generic signed JSON source, a Facebook Page, a
Discourse forum) and remembers how Vigie will name it (platform and comment id), so that the
reconciliation can look it up. A send is retried the way platforms retry: on a refused
connection, a timeout or a 5xx, until it is accepted (2xx) or the patience runs out.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import time
import uuid
from dataclasses import dataclass, field

import httpx

GENERIC_SECRET = "faults-generic-" + uuid.uuid4().hex
META_SECRET = "faults-meta-" + uuid.uuid4().hex
DISCOURSE_SECRET = "faults-discourse-" + uuid.uuid4().hex
META_PAGE = "1029384756"
DISCOURSE_HOST = "forum.example.org"

# Phrasings the classifier gives the critical severity, in both languages.
CRISIS_TEXTS = (
    "I can't take it anymore, I want to end my life",
    "je vais en finir ce soir, je n'en peux plus",
    "I have the pills ready and I am going to kill myself",
    "j'ai envie de mourir, plus rien n'a de sens",
)
OTHER_TEXTS = (
    "Merci pour cette vidéo, elle m'a beaucoup aidée !",
    "What time does the next live session start?",
    "Quels sont les horaires d'ouverture du centre ?",
    "Great advice, thank you so much for sharing this",
    "The weather was nice on Sunday",
    "You are a pathetic idiot and everyone hates you",
)


@dataclass(frozen=True)
class Comment:
    platform: str  # as Vigie stores it
    comment_id: str  # as Vigie stores it
    crisis: bool
    path: str
    body: bytes
    headers: dict[str, str]


def _sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def generic_comment(
    source: str,
    text: str,
    author: str,
    crisis: bool,
    *,
    own_id: str | None = None,
    post_id: str | None = None,
    parent_id: str | None = None,
) -> Comment:
    own_id = own_id or uuid.uuid4().hex
    fields: dict[str, object] = {
        "id": own_id,
        "text": text,
        "author": {"id": author},
        "post_id": post_id or f"post-{source}",
    }
    if parent_id is not None:
        fields["parent_id"] = parent_id
    body = json.dumps(fields).encode()
    return Comment(
        platform="generic",
        comment_id=f"{source}:{own_id}",
        crisis=crisis,
        path=f"/webhooks/generic/{source}",
        body=body,
        headers={
            "content-type": "application/json",
            "x-vigie-signature": _sign(GENERIC_SECRET, body),
        },
    )


def facebook_comment(text: str, author: str, crisis: bool) -> Comment:
    post = f"{META_PAGE}_{uuid.uuid4().int % 10**12}"
    comment_id = f"{uuid.uuid4().int % 10**12}_{uuid.uuid4().int % 10**12}"
    now = int(time.time())
    body = json.dumps(
        {
            "object": "page",
            "entry": [
                {
                    "id": META_PAGE,
                    "time": now,
                    "changes": [
                        {
                            "field": "feed",
                            "value": {
                                "from": {"id": author, "name": "Someone"},
                                "item": "comment",
                                "comment_id": comment_id,
                                "post_id": post,
                                "verb": "add",
                                "parent_id": post,
                                "created_time": now,
                                "message": text,
                            },
                        }
                    ],
                }
            ],
        }
    ).encode()
    return Comment(
        platform="facebook",
        comment_id=comment_id,
        crisis=crisis,
        path="/webhooks/meta",
        body=body,
        headers={
            "content-type": "application/json",
            "x-hub-signature-256": _sign(META_SECRET, body),
        },
    )


_discourse_ids = itertools.count(1)


def discourse_comment(text: str, author: str, crisis: bool) -> Comment:
    number = next(_discourse_ids)
    topic = 5000 + number
    body = json.dumps(
        {
            "post": {
                "id": 900000 + number,
                "post_number": 2,
                "topic_id": topic,
                "topic_slug": "entraide",
                "topic_title": "Entraide",
                "raw": text,
                "cooked": f"<p>{text}</p>",
                "username": f"user{author[:8]}",
                "user_id": int(author[:6], 16),
                "created_at": "2026-11-21T10:00:00.000Z",
                "updated_at": "2026-11-21T10:00:00.000Z",
                "reply_to_post_number": None,
                "post_type": 1,
                "hidden": False,
                "deleted_at": None,
                "topic_archetype": "regular",
                "version": 1,
            }
        }
    ).encode()
    return Comment(
        platform="discourse",
        comment_id=f"{DISCOURSE_HOST}:{topic}/2",
        crisis=crisis,
        path="/webhooks/discourse",
        body=body,
        headers={
            "content-type": "application/json",
            "x-discourse-event": "post_created",
            "x-discourse-event-type": "post",
            "x-discourse-event-id": str(number),
            "x-discourse-instance": f"https://{DISCOURSE_HOST}",
            "x-discourse-event-signature": _sign(DISCOURSE_SECRET, body),
        },
    )


def stream(scenario: str, count: int, crisis_every: int = 7) -> list[Comment]:
    """``count`` comments over the three platforms; every ``crisis_every``-th is a crisis.

    Seven and three are coprime, so crisis comments come from every platform. Every author is
    new, so that no two crisis comments share a case (the policy groups an
    author's comments on a platform into one case).
    """
    out = []
    for n in range(count):
        crisis = n % crisis_every == 0
        texts = CRISIS_TEXTS if crisis else OTHER_TEXTS
        text = f"{texts[n % len(texts)]} ({scenario} {n})"
        author = uuid.uuid4().hex
        build = n % 3
        if build == 0:
            out.append(generic_comment(f"faults-{scenario}", text, author, crisis))
        elif build == 1:
            out.append(facebook_comment(text, author, crisis))
        else:
            out.append(discourse_comment(text, author, crisis))
    return out


@dataclass
class Sender:
    """Sends comments at a steady pace, retrying each until it is accepted."""

    base_url: str
    rate_per_s: float = 40.0
    patience_s: float = 180.0
    accepted: list[Comment] = field(default_factory=list)
    refused: list[tuple[Comment, int]] = field(default_factory=list)
    given_up: list[Comment] = field(default_factory=list)
    retries: int = 0
    sent: int = 0

    async def send_all(self, comments: list[Comment]) -> None:
        limits = httpx.Limits(max_connections=16, max_keepalive_connections=16)
        async with httpx.AsyncClient(base_url=self.base_url, timeout=10, limits=limits) as client:
            loop = asyncio.get_running_loop()
            start = loop.time()
            tasks = []
            for n, comment in enumerate(comments):
                await asyncio.sleep(max(0.0, start + n / self.rate_per_s - loop.time()))
                tasks.append(asyncio.create_task(self._deliver(client, comment)))
                self.sent += 1
            await asyncio.gather(*tasks)

    async def _deliver(self, client: httpx.AsyncClient, comment: Comment) -> None:
        deadline = asyncio.get_running_loop().time() + self.patience_s
        pause = 0.2
        while True:
            try:
                response = await client.post(
                    comment.path, content=comment.body, headers=comment.headers
                )
            except httpx.TransportError:
                status = 0
            else:
                status = response.status_code
            if 200 <= status < 300:
                self.accepted.append(comment)
                return
            if 400 <= status < 500:
                self.refused.append((comment, status))
                return
            if asyncio.get_running_loop().time() > deadline:
                self.given_up.append(comment)
                return
            self.retries += 1
            await asyncio.sleep(pause)
            pause = min(pause * 2, 3.0)
