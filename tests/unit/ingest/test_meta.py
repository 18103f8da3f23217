"""The Meta adapter: handshake, signature of the raw body, Facebook, Instagram and WhatsApp."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import SecretStr

from services.ingest.adapters import meta
from services.ingest.adapters.base import (
    NO_SOURCE,
    Context,
    InboundRequest,
    Parsed,
    PayloadError,
    Rejected,
    Verdict,
)
from services.ingest.adapters.meta import MetaAdapter, parse, platform_headers
from services.ingest.settings import IngestSettings
from shared.events import CommentKind, derive_id
from tests.unit import factories as f
from tests.webhook_fixtures import Fixture, assert_matches, load

OLD, NEW = "old-app-secret", "new-app-secret"
TOKENS = "old-verify-token,new-verify-token"
FIXTURES = load("meta")
CONTEXT = Context(received_at=f.NOW, delivery_id="d-1", trace_id="t-1")
PAGE = "1234567890321"
COMMENT: dict[str, Any] = {
    "item": "comment",
    "verb": "add",
    "comment_id": "901097836652708_903438993085259",
    "post_id": f"{PAGE}_901097836652708",
    "parent_id": f"{PAGE}_901097836652708",
    "from": {"id": "705955836155788", "name": "Ana"},
    "created_time": 1448555737,
    "message": "hello",
}


def make_adapter(secret: str | None = f"{OLD},{NEW}", tokens: str | None = TOKENS) -> MetaAdapter:
    return MetaAdapter(
        IngestSettings(
            meta_app_secret=SecretStr(secret) if secret is not None else None,
            meta_verify_token=SecretStr(tokens) if tokens is not None else None,
        )
    )


def fixture(name: str) -> Fixture:
    (found,) = (fx for fx in FIXTURES if fx.name == name)
    return found


def feed(*values: dict[str, Any], time: Any = 1449135003) -> dict[str, Any]:
    changes = [{"field": "feed", "value": value} for value in values]
    return {"object": "page", "entry": [{"id": PAGE, "time": time, "changes": changes}]}


def parse_data(data: Any) -> Parsed:
    return parse(json.dumps(data).encode(), CONTEXT)


# --- the corpus -------------------------------------------------------------------------------


@pytest.mark.parametrize("fx", FIXTURES, ids=lambda fx: fx.name)
def test_every_fixture_parses_as_documented(fx: Fixture) -> None:
    assert_matches(make_adapter().parse(fx.request(), CONTEXT), fx.expect)


@pytest.mark.parametrize("secret", [OLD, NEW], ids=["current", "rotated"])
@pytest.mark.parametrize("fx", FIXTURES, ids=lambda fx: fx.name)
def test_every_fixture_verifies_when_signed_with_a_live_secret(fx: Fixture, secret: str) -> None:
    request = fx.request(platform_headers(fx.body, secret.encode(), f.NOW))

    assert make_adapter().verify(request, f.NOW) is Verdict.VALID


def test_the_corpus_covers_the_three_products_and_batching() -> None:
    platforms = {c.platform for fx in FIXTURES for c in parse(fx.body, CONTEXT).comments}
    batched = [fx.name for fx in FIXTURES if len(json.loads(fx.body)["entry"]) > 1]

    assert platforms == {"facebook", "instagram", "whatsapp"}
    assert batched


# --- signature --------------------------------------------------------------------------------


def signed(body: bytes, header: str | None) -> InboundRequest:
    headers = {} if header is None else {meta.SIGNATURE_HEADER: header}
    return InboundRequest(body=body, headers=headers)


BODY = json.dumps(feed(COMMENT)).encode()


@pytest.mark.parametrize("secret", [OLD, NEW], ids=["current", "rotated"])
def test_a_body_signed_with_either_live_secret_is_valid(secret: str) -> None:
    header = platform_headers(BODY, secret.encode(), f.NOW)[meta.SIGNATURE_HEADER]

    assert header.startswith("sha256=")
    assert make_adapter().verify(signed(BODY, header), f.NOW) is Verdict.VALID


@pytest.mark.parametrize(
    ("header", "verdict"),
    [
        (None, Verdict.MISSING),
        ("", Verdict.MISSING),
        ("sha256=" + "0" * 64, Verdict.MISMATCH),
        ("sha1=" + "0" * 40, Verdict.MALFORMED),
        ("sha256=not-hex", Verdict.MALFORMED),
        ("sha256=" + "0" * 62, Verdict.MALFORMED),
        ("0" * 64, Verdict.MALFORMED),
    ],
    ids=["absent", "empty", "wrong-digest", "sha1-only", "not-hex", "short", "no-prefix"],
)
def test_bad_signatures(header: str | None, verdict: Verdict) -> None:
    assert make_adapter().verify(signed(BODY, header), f.NOW) is verdict


def test_a_signature_from_a_retired_secret_or_of_another_body_is_a_mismatch() -> None:
    retired = platform_headers(BODY, b"retired-secret", f.NOW)[meta.SIGNATURE_HEADER]
    other = platform_headers(BODY + b" ", OLD.encode(), f.NOW)[meta.SIGNATURE_HEADER]

    assert make_adapter().verify(signed(BODY, retired), f.NOW) is Verdict.MISMATCH
    assert make_adapter().verify(signed(BODY, other), f.NOW) is Verdict.MISMATCH


def test_without_an_app_secret_the_adapter_is_not_configured_and_verifies_nothing() -> None:
    adapter = make_adapter(secret=None)
    header = platform_headers(BODY, b"", f.NOW)[meta.SIGNATURE_HEADER]

    assert not adapter.configured()
    assert make_adapter().configured()
    assert adapter.verify(signed(BODY, header), f.NOW) is Verdict.MISMATCH


def test_the_signature_covers_the_exact_bytes_meta_sent() -> None:
    raw = fixture("fb_unicode_escapes").body
    header = platform_headers(raw, OLD.encode(), f.NOW)[meta.SIGNATURE_HEADER]
    same_json = json.loads(raw)
    reserialised = [
        json.dumps(same_json, ensure_ascii=False).encode(),
        json.dumps(same_json).encode(),
        json.dumps(same_json, separators=(",", ":"), ensure_ascii=False).encode(),
    ]

    assert raw.isascii() and b"L\\u00e9a" in raw
    assert make_adapter().verify(signed(raw, header), f.NOW) is Verdict.VALID
    for body in reserialised:
        assert json.loads(body) == same_json and body != raw
        assert make_adapter().verify(signed(body, header), f.NOW) is Verdict.MISMATCH
    (comment,) = parse(raw, CONTEXT).comments
    assert (comment.text, comment.author.name) == ("Très déçue 😡", "Léa Durand")


# --- handshake --------------------------------------------------------------------------------


def hub(**query: str) -> InboundRequest:
    return InboundRequest(body=b"", query={f"hub.{k}": v for k, v in query.items()})


@pytest.mark.parametrize("token", ["old-verify-token", "new-verify-token"])
def test_the_handshake_echoes_the_challenge_for_a_live_token(token: str) -> None:
    reply = make_adapter().handshake(hub(mode="subscribe", verify_token=token, challenge="1158"))

    assert (reply.status, reply.body, reply.media_type) == (200, b"1158", "text/plain")


@pytest.mark.parametrize(
    ("query", "outcome"),
    [
        ({"mode": "subscribe", "verify_token": "wrong", "challenge": "1"}, "bad_token"),
        ({"mode": "subscribe", "verify_token": "old-verify", "challenge": "1"}, "bad_token"),
        ({"mode": "subscribe", "verify_token": "", "challenge": "1"}, "bad_token"),
        ({"mode": "subscribe", "challenge": "1"}, "bad_token"),
        ({"mode": "unsubscribe", "verify_token": "old-verify-token", "challenge": "1"}, None),
        ({"verify_token": "old-verify-token", "challenge": "1"}, None),
        ({"mode": "subscribe", "verify_token": "old-verify-token"}, None),
        ({"mode": "subscribe", "verify_token": "old-verify-token", "challenge": "<b>"}, None),
        ({"mode": "subscribe", "verify_token": "old-verify-token", "challenge": "9" * 257}, None),
    ],
    ids=[
        "wrong-token",
        "token-prefix",
        "empty-token",
        "no-token",
        "wrong-mode",
        "no-mode",
        "no-challenge",
        "markup-challenge",
        "long-challenge",
    ],
)
def test_a_bad_handshake_is_forbidden(query: dict[str, str], outcome: str | None) -> None:
    with pytest.raises(Rejected) as caught:
        make_adapter().handshake(hub(**query))

    assert caught.value.status == 403
    assert caught.value.reason
    assert caught.value.outcome == (outcome or "bad_handshake")


def test_without_a_verify_token_the_handshake_is_unavailable() -> None:
    with pytest.raises(Rejected) as caught:
        make_adapter(tokens=None).handshake(hub(mode="subscribe", verify_token="", challenge="1"))

    assert caught.value.status == 503
    assert "VIGIE_META_VERIFY_TOKEN" in caught.value.reason


def test_the_route_and_its_protocol() -> None:
    adapter = make_adapter()
    request = fixture("fb_reply_add").request()

    assert (adapter.platform, adapter.path) == ("meta", "/webhooks/meta")
    assert adapter.secret_setting == "VIGIE_META_APP_SECRET"
    assert (adapter.content_types, adapter.accepted_status) == (("application/json",), 200)
    assert adapter.route_source(request) == NO_SOURCE
    assert adapter.delivery_id(request) is None


# --- Facebook ---------------------------------------------------------------------------------


def test_event_ids_are_stable_across_redeliveries() -> None:
    body = fixture("fb_batch").body
    first = parse(body, CONTEXT)
    again = parse(body, Context(received_at=datetime.now(UTC), delivery_id="d-2", trace_id="t"))

    assert [c.event_id for c in first.comments] == [c.event_id for c in again.comments]
    created = first.comments[2]
    assert created.event_id == derive_id("comment", "facebook", created.comment_id, "0")


def test_hide_and_unhide_of_one_comment_are_distinct_events() -> None:
    hidden, unhidden, _ = parse(fixture("fb_batch").body, CONTEXT).comments

    assert hidden.comment_id == unhidden.comment_id
    assert hidden.revision == unhidden.revision
    assert (hidden.kind, unhidden.kind) == (CommentKind.HIDDEN, CommentKind.UNHIDDEN)
    assert hidden.event_id != unhidden.event_id


def test_an_edit_in_seconds_or_iso_is_the_same_event() -> None:
    (legacy,) = parse(fixture("fb_comment_edited_legacy_sender").body, CONTEXT).comments
    (iso,) = parse(fixture("fb_comment_edited_iso_time").body, CONTEXT).comments

    assert legacy.event_id == iso.event_id


@pytest.mark.parametrize(
    "created_time",
    [
        1448555737,
        1448555737000,
        "1448555737",
        "2015-11-26T16:35:37+0000",
        "2015-11-26T16:35:37Z",
        "2015-11-26T17:35:37+01:00",
        "2015-11-26T16:35:37",
    ],
    ids=["seconds", "milliseconds", "digits", "graph-api", "zulu", "offset", "naive-is-utc"],
)
def test_the_edit_revision_is_its_time_in_milliseconds(created_time: Any) -> None:
    data = feed({**COMMENT, "verb": "edited", "created_time": created_time})

    (comment,) = parse_data(data).comments

    assert comment.kind is CommentKind.EDITED
    assert comment.revision == 1448555737000
    assert comment.created_at == datetime(2015, 11, 26, 16, 35, 37, tzinfo=UTC)


def test_an_event_without_created_time_takes_the_entry_time() -> None:
    value = {k: v for k, v in COMMENT.items() if k != "created_time"}

    (edit,) = parse_data(feed({**value, "verb": "edited"}, time=1449135003)).comments
    (hide,) = parse_data(feed({**value, "verb": "hide"}, time=1449135003000)).comments
    (created,) = parse_data(feed(value)).comments

    assert (edit.revision, hide.revision) == (1449135003000, 1449135003000)
    assert (created.revision, created.created_at) == (0, None)


def test_an_edit_without_any_time_is_skipped_rather_than_aliasing_the_creation() -> None:
    value = {k: v for k, v in COMMENT.items() if k != "created_time"}
    data = feed({**value, "verb": "edited"})
    del data["entry"][0]["time"]

    assert parse_data(data) == Parsed(ignored=("undated_edit",))


@pytest.mark.parametrize(
    ("verb", "kind"),
    [
        ("add", CommentKind.CREATED),
        ("edited", CommentKind.EDITED),
        ("edit", CommentKind.EDITED),
        ("remove", CommentKind.DELETED),
        ("hide", CommentKind.HIDDEN),
        ("unhide", CommentKind.UNHIDDEN),
    ],
)
def test_verbs(verb: str, kind: CommentKind) -> None:
    (comment,) = parse_data(feed({**COMMENT, "verb": verb})).comments

    assert comment.kind is kind
    assert comment.revision == (0 if kind is CommentKind.CREATED else 1448555737000)


def test_unknown_verbs_and_items_are_ignored_not_refused() -> None:
    parsed = parse_data(
        feed(
            {**COMMENT, "verb": "block"}, {**COMMENT, "item": "milestone"}, {**COMMENT, "item": ""}
        )
    )

    assert parsed == Parsed(ignored=("unsupported_verb", "unknown_item", "unknown_item"))


def test_the_page_own_new_text_is_skipped_but_its_moderation_passes() -> None:
    own = {**COMMENT, "from": {"id": PAGE, "name": "Brand"}}
    legacy = {k: v for k, v in own.items() if k != "from"} | {"sender_id": int(PAGE)}

    parsed = parse_data(
        feed(
            own,
            {**own, "verb": "edited"},
            legacy,
            {**own, "verb": "hide"},
            {**own, "verb": "remove"},
        )
    )

    assert parsed.ignored == ("own_post", "own_post", "own_post")
    assert [c.kind for c in parsed.comments] == [CommentKind.HIDDEN, CommentKind.DELETED]


@pytest.mark.parametrize(
    ("parent_id", "expected"),
    [
        (f"{PAGE}_901097836652708", None),
        ("901097836652708", None),
        (None, None),
        ("901097836652708_903438993085000", "901097836652708_903438993085000"),
    ],
    ids=["post-id", "object-id", "absent", "a-comment"],
)
def test_the_canonical_parent_is_never_the_post(
    parent_id: str | None, expected: str | None
) -> None:
    (comment,) = parse_data(feed({**COMMENT, "parent_id": parent_id})).comments

    assert comment.parent_id == expected
    assert comment.thread_id == (expected or comment.comment_id)


def test_a_comment_without_author_or_text_still_reaches_moderation() -> None:
    value = {k: v for k, v in COMMENT.items() if k not in ("from", "message")}

    (comment,) = parse_data(feed(value)).comments

    assert (comment.author.id, comment.author.name, comment.text) == ("unknown", None, "")


def test_a_lone_surrogate_is_replaced_so_the_comment_can_be_published() -> None:
    body = json.dumps(feed({**COMMENT, "message": "a\ud800b"})).encode()

    (comment,) = parse(body, CONTEXT).comments

    assert comment.text == "a\ufffdb"
    assert json.loads(comment.model_dump_json())["text"] == "a\ufffdb"


# --- Instagram and WhatsApp -------------------------------------------------------------------


def test_an_instagram_mention_with_text_becomes_a_comment() -> None:
    value = {"comment_id": "17894227972186120", "media_id": "17918195224117851", "text": "@brand"}
    data = {"object": "instagram", "entry": [{"id": "17841405726653026", "changes": [
        {"field": "mentions", "value": value}
    ]}]}  # fmt: skip

    (comment,) = parse_data(data).comments

    assert (comment.platform, comment.comment_id) == ("instagram", "17894227972186120")
    assert (comment.post_id, comment.text, comment.author.id) == (
        "17918195224117851",
        "@brand",
        "unknown",
    )


def test_a_whatsapp_sender_without_contact_has_no_name() -> None:
    data = json.loads(fixture("wa_text").body)
    del data["entry"][0]["changes"][0]["value"]["contacts"]

    (comment,) = parse_data(data).comments

    assert (comment.author.id, comment.author.name) == ("972987654321", None)


# --- bodies Vigie cannot read -----------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [b"", b"{", b"\xff\xfe{}", b"[]", b'"page"', b"1" * 5000, b"[" * 100_000],
    ids=["empty", "truncated", "not-utf8", "list", "string", "huge-number", "deep"],
)
def test_unreadable_json_is_a_payload_error(raw: bytes) -> None:
    with pytest.raises(PayloadError) as caught:
        parse(raw, CONTEXT)

    assert caught.value.reason.startswith("body ")
    assert caught.value.errors == []


def ig(value: Any, field: str = "comments") -> dict[str, Any]:
    change = {"field": field, "value": value}
    return {"object": "instagram", "entry": [{"id": "1784", "changes": [change]}]}


def wa(value: Any) -> dict[str, Any]:
    change = {"field": "messages", "value": value}
    return {"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [change]}]}


IG_COMMENT = {"id": "1", "text": "hi", "from": {"id": "2"}, "media": {"id": "3"}}
WA_MESSAGE = {"from": "33", "id": "wamid.1", "type": "text", "text": {"body": "hi"}}
WA_VALUE = {"metadata": {"phone_number_id": "5"}, "messages": [WA_MESSAGE]}
V = "body.entry[0].changes[0].value"
M = f"{V}.messages[0]"


def entry(**fields: Any) -> dict[str, Any]:
    return {"object": "page", "entry": [fields]}


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"entry": []}, "body.object"),
        ({"object": 1, "entry": []}, "body.object"),
        ({"object": "page"}, "body.entry"),
        ({"object": "page", "entry": {}}, "body.entry"),
        ({"object": "page", "entry": [1]}, "body.entry[0]"),
        ({"object": "page", "entry": [{"changes": []}]}, "body.entry[0].id"),
        ({"object": "page", "entry": [{"id": True}]}, "body.entry[0].id"),
        ({"object": "page", "entry": [{"id": "a b"}]}, "body.entry[0].id"),
        ({"object": "page", "entry": [{"id": "9" * 257}]}, "body.entry[0].id"),
        ({"object": "page", "entry": [{"id": "1", "time": "soon"}]}, "body.entry[0].time"),
        ({"object": "page", "entry": [{"id": "1", "changes": {}}]}, "body.entry[0].changes"),
        ({"object": "page", "entry": [{"id": "1", "changes": [[]]}]}, "body.entry[0].changes[0]"),
        (entry(id="1", changes=[{}]), "body.entry[0].changes[0].field"),
        ({"object": "page", "entry": [{"id": "1", "messaging": {}}]}, "body.entry[0].messaging"),
        ({"object": "page", "entry": [{"id": "1", "changes": [{"field": "feed"}]}]}, V),
        (entry(id="1", changes=[{"field": "feed", "value": []}]), V),
        (feed({k: v for k, v in COMMENT.items() if k != "item"}), f"{V}.item"),
        (feed({k: v for k, v in COMMENT.items() if k != "verb"}), f"{V}.verb"),
        (feed({k: v for k, v in COMMENT.items() if k != "comment_id"}), f"{V}.comment_id"),
        (feed({**COMMENT, "comment_id": 1.5}), f"{V}.comment_id"),
        (feed({**COMMENT, "post_id": None}), f"{V}.post_id"),
        (feed({**COMMENT, "parent_id": {}}), f"{V}.parent_id"),
        (feed({**COMMENT, "from": "Ana"}), f"{V}.from"),
        (feed({**COMMENT, "from": {"id": []}}), f"{V}.from.id"),
        (feed({**COMMENT, "message": 5}), f"{V}.message"),
        (feed({**COMMENT, "created_time": "yesterday"}), f"{V}.created_time"),
        (feed({**COMMENT, "created_time": True}), f"{V}.created_time"),
        (feed({**COMMENT, "created_time": -1}), f"{V}.created_time"),
        (feed({**COMMENT, "created_time": 10**30}), f"{V}.created_time"),
        (feed({**COMMENT, "created_time": 1.5e9}), f"{V}.created_time"),
        (feed({**COMMENT, "created_time": "0001-01-01T00:00:00+01:00"}), f"{V}.created_time"),
        (ig({k: v for k, v in IG_COMMENT.items() if k != "media"}), f"{V}.media"),
        (ig({**IG_COMMENT, "media": {"id": None}}), f"{V}.media.id"),
        (ig({k: v for k, v in IG_COMMENT.items() if k != "id"}), f"{V}.comment_id"),
        (ig({"comment_id": "1"}, "mentions"), f"{V}.media_id"),
        (wa({**WA_VALUE, "messages": {}}), f"{V}.messages"),
        (wa({"messages": [WA_MESSAGE]}), f"{V}.metadata"),
        (wa({**WA_VALUE, "messages": ["hi"]}), f"{V}.messages[0]"),
        (wa({**WA_VALUE, "messages": [{**WA_MESSAGE, "type": None}]}), f"{V}.messages[0].type"),
        (wa({**WA_VALUE, "messages": [{**WA_MESSAGE, "text": {"body": 1}}]}), f"{M}.text.body"),
        (wa({**WA_VALUE, "messages": [{**WA_MESSAGE, "text": {}}]}), f"{M}.text.body"),
        (wa({**WA_VALUE, "contacts": [1]}), f"{V}.contacts[0]"),
        (wa({**WA_VALUE, "statuses": "read"}), f"{V}.statuses"),
    ],
)  # fmt: skip
def test_an_oddly_shaped_body_names_the_field(data: Any, field: str) -> None:
    with pytest.raises(PayloadError) as caught:
        parse_data(data)

    assert [e["field"] for e in caught.value.errors] == [field]
    assert caught.value.reason.startswith(f"invalid Meta payload: {field} ")
    assert caught.value.status == 422


def test_a_value_breaking_the_event_limits_is_a_payload_error() -> None:
    with pytest.raises(PayloadError) as caught:
        parse_data(feed({**COMMENT, "from": {"id": "1", "name": "n" * 513}}))

    assert caught.value.status == 422
    assert "name" in caught.value.reason


ODD_VALUES: list[Any] = [
    None, True, -1, 0, 2**70, 1.5, "", " ", "x" * 300, "\ud800", [], {}, [{}], {"id": {}},
]  # fmt: skip


def variants(doc: Any) -> Iterator[Any]:
    """The document with each value in turn replaced by an odd one, or its key removed."""

    def paths(node: Any, path: tuple[Any, ...]) -> Iterator[tuple[Any, ...]]:
        if isinstance(node, dict | list):
            for key, child in node.items() if isinstance(node, dict) else enumerate(node):
                yield (*path, key)
                yield from paths(child, (*path, key))

    def edited(path: tuple[Any, ...], value: Any, *, remove: bool = False) -> Any:
        changed = copy.deepcopy(doc)
        parent = changed
        for key in path[:-1]:
            parent = parent[key]
        if remove:
            del parent[path[-1]]
        else:
            parent[path[-1]] = value
        return changed

    for path in list(paths(doc, ())):
        yield from (edited(path, odd) for odd in ODD_VALUES)
        if isinstance(path[-1], str):
            yield edited(path, None, remove=True)


@pytest.mark.parametrize("fx", FIXTURES, ids=lambda fx: fx.name)
def test_any_odd_value_anywhere_gives_comments_or_a_payload_error(fx: Fixture) -> None:
    for doc in variants(json.loads(fx.body)):
        try:
            parsed = parse_data(doc)
        except PayloadError as exc:
            assert exc.reason
            continue
        for comment in parsed.comments:
            comment.model_dump_json()  # publishable as it is
