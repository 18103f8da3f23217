"""The signed webhook: payload without personal data, timestamped HMAC, rotation."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime

import pytest

from services.notifier import webhook
from shared.events import Action
from tests.unit import factories as f

OLD, NEW = b"old-signing-secret", b"new-signing-secret"
TS = 1_795_000_000
BODY = b'{"action_id":"a-1","type":"case.notify"}'


def test_a_signature_verifies_with_its_secret_and_timestamp() -> None:
    header = webhook.signature([OLD], TS, BODY)

    expected = hmac.new(OLD, f"{TS}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert header == f"sha256={expected}"
    assert webhook.verify(OLD, header, str(TS), BODY)


@pytest.mark.parametrize(
    ("secret", "timestamp", "body"),
    [
        (b"another-secret", str(TS), BODY),
        (OLD, str(TS + 1), BODY),
        (OLD, "", BODY),
        (OLD, str(TS), BODY + b" "),
        (OLD, str(TS), b""),
    ],
    ids=["wrong-secret", "replayed-with-new-timestamp", "no-timestamp", "body-changed", "empty"],
)
def test_any_change_breaks_the_signature(secret: bytes, timestamp: str, body: bytes) -> None:
    header = webhook.signature([OLD], TS, BODY)

    assert not webhook.verify(secret, header, timestamp, body)


def test_during_a_rotation_either_secret_verifies() -> None:
    header = webhook.signature([OLD, NEW], TS, BODY)

    assert header.count("sha256=") == 2
    assert webhook.verify(OLD, header, str(TS), BODY)
    assert webhook.verify(NEW, header, str(TS), BODY)
    assert not webhook.verify(b"retired", header, str(TS), BODY)


@pytest.mark.parametrize(
    "header",
    ["", "sha256=", "sha256=deadbeef", "garbage", ",,,"],
)
def test_garbage_headers_do_not_verify(header: str) -> None:
    assert not webhook.verify(OLD, header, str(TS), BODY)


def test_headers_carry_signature_timestamp_and_idempotency_key() -> None:
    action = f.action()
    body = webhook.encode(webhook.payload(action, console_url="http://console.test"))

    headers = webhook.headers([OLD, NEW], TS, body, action)

    assert headers["Content-Type"] == "application/json"
    assert headers[webhook.TIMESTAMP_HEADER] == str(TS)
    assert headers[webhook.IDEMPOTENCY_HEADER] == action.action_id
    for secret in (OLD, NEW):
        assert webhook.verify(
            secret, headers[webhook.SIGNATURE_HEADER], headers[webhook.TIMESTAMP_HEADER], body
        )


def sensitive_action(text: str, author_id: str, author_name: str) -> Action:
    """A crisis action that even carries the text: the webhook must still leave it out."""
    return f.action().model_copy(update={"comment_text": f"{text} ({author_id}, {author_name})"})


def test_a_sensitive_payload_carries_no_comment_text_and_no_author() -> None:
    text = "I want to kill myself tonight"
    action = sensitive_action(text, author_id="author-4711", author_name="Jeanne Dupont")

    body = webhook.payload(action, console_url="http://console.test/")
    wire = webhook.encode(body).decode()

    assert text not in wire and "kill myself" not in wire
    assert "author-4711" not in wire
    assert "Jeanne Dupont" not in wire
    assert set(body) == {
        "type",
        "action_id",
        "case_id",
        "case_url",
        "severity",
        "labels",
        "categories",
        "route",
        "platform",
        "comment_url",
        "case_opened_at",
        "policy_version",
        "trace_id",
    }
    assert body["type"] == "case.notify"
    assert body["severity"] == "critical"
    assert body["labels"] == ["sensitive"]
    assert body["case_url"] == f"http://console.test/api/v1/cases/{action.case_id}"
    assert body["comment_url"] == "https://forum.test/p-1#c-1"
    assert datetime.fromisoformat(body["case_opened_at"]) == f.NOW


def test_encode_is_compact_sorted_and_stable() -> None:
    body = webhook.payload(f.action(), console_url="http://c.test")

    encoded = webhook.encode(body)

    assert encoded == webhook.encode(dict(reversed(list(body.items()))))
    assert b": " not in encoded and b", " not in encoded
    assert json.loads(encoded) == body
    assert datetime.fromisoformat(body["case_opened_at"]).tzinfo == UTC


def test_a_non_ascii_signature_header_does_not_verify() -> None:
    assert not webhook.verify(OLD, "sha256=é" + "0" * 63, str(TS), BODY)
