"""The webhook fixture corpus: documented platform payloads and what Vigie makes of them.

Each ``tests/fixtures/webhooks/<platform>/<name>.json`` holds::

    {
      "origin": "where the payload comes from (documentation URL, client library file)",
      "note": "what it exercises",
      "content_type": "application/json",          # optional, this is the default
      "headers": {"x-discourse-event": "post_created"},   # unsigned headers, optional
      "path_params": {"source": "forum"},                  # route parameters, optional
      "body": {...}            # a JSON body, sent as json.dumps(body)
      # or "body_raw": "..."  # the exact text to send (XML, or JSON whose bytes matter)
      "expect": {
        "comments": [{"comment_id": "...", "kind": "created", ...}],  # fields to compare
        "ignored": ["reaction"],
        "changes": [{"source": "...", "item_id": "..."}],
        "reply": {"status": 200, "body": "..."}
      }
    }

Signatures are not stored: tests sign each body with their own secrets, so the same corpus
serves unit tests, integration tests on the real broker and the benchmark.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.ingest.adapters.base import InboundRequest, Parsed

ROOT = Path(__file__).parent / "fixtures" / "webhooks"


@dataclass(frozen=True)
class Fixture:
    platform: str
    name: str
    origin: str
    content_type: str
    headers: dict[str, str]
    path_params: dict[str, str]
    body: bytes
    expect: dict[str, Any]

    @property
    def id(self) -> str:
        return f"{self.platform}/{self.name}"

    def request(self, signed_headers: dict[str, str] | None = None) -> InboundRequest:
        headers = {"content-type": self.content_type, **self.headers, **(signed_headers or {})}
        return InboundRequest(body=self.body, headers=headers, path_params=self.path_params)


def load(platform: str) -> list[Fixture]:
    fixtures = []
    for path in sorted((ROOT / platform).glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        if "body_raw" in data:
            body = data["body_raw"].encode()
        else:
            body = json.dumps(data["body"]).encode()
        fixtures.append(
            Fixture(
                platform=platform,
                name=path.stem,
                origin=data["origin"],
                content_type=data.get("content_type", "application/json"),
                headers={k.lower(): v for k, v in data.get("headers", {}).items()},
                path_params=data.get("path_params", {}),
                body=body,
                expect=data["expect"],
            )
        )
    return fixtures


def platforms() -> list[str]:
    return sorted(p.name for p in ROOT.iterdir() if p.is_dir())


def assert_matches(parsed: Parsed, expect: dict[str, Any]) -> None:
    """Every field named in ``expect`` equals what the adapter produced, in order."""
    comments = [c.model_dump(mode="json") for c in parsed.comments]
    for c in comments:
        c["author_id"] = c["author"]["id"]
        c["author_name"] = c["author"]["name"]
    wanted = expect.get("comments", [])
    assert len(comments) == len(wanted), (comments, wanted)
    for got, want in zip(comments, wanted, strict=True):
        assert {k: got[k] for k in want} == want
    assert sorted(parsed.ignored) == sorted(expect.get("ignored", []))
    changes = [c.model_dump(mode="json") for c in parsed.changes]
    wanted_changes = expect.get("changes", [])
    assert len(changes) == len(wanted_changes)
    for got, want in zip(changes, wanted_changes, strict=True):
        assert {k: got[k] for k in want} == want
    if "reply" in expect:
        assert parsed.reply is not None
        assert parsed.reply.status == expect["reply"]["status"]
        assert parsed.reply.body.decode() == expect["reply"]["body"]
    else:
        assert parsed.reply is None
