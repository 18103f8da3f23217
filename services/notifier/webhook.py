"""The signed webhook channel's payload and signature: pure functions.

A receiver verifies ``X-Vigie-Signature: sha256=<hex>`` as the HMAC-SHA256, under the shared
secret, of ``<X-Vigie-Timestamp>.<raw body>``, and rejects timestamps older than a few
minutes. During a rotation the header holds one signature per live secret, comma-separated.
For sensitive cases the payload carries no comment text and no author: only the case.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Sequence
from typing import Any

from shared.events import Action

SIGNATURE_HEADER = "X-Vigie-Signature"
TIMESTAMP_HEADER = "X-Vigie-Timestamp"
IDEMPOTENCY_HEADER = "X-Vigie-Idempotency-Key"


def payload(action: Action, *, console_url: str) -> dict[str, Any]:
    return {
        "type": f"case.{action.kind.value}",
        "action_id": action.action_id,
        "case_id": str(action.case_id),
        "case_url": f"{console_url.rstrip('/')}/api/v1/cases/{action.case_id}",
        "severity": action.severity.value,
        "labels": [label.value for label in action.labels],
        "categories": list(action.categories),
        "route": action.route,
        "platform": action.comment.platform,
        "comment_url": action.comment_url,
        "case_opened_at": action.case_opened_at.isoformat(),
        "policy_version": action.policy_version,
        "trace_id": action.trace_id,
    }


def encode(body: dict[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":"), sort_keys=True).encode()


def signature(secrets: Sequence[bytes], timestamp: int, body: bytes) -> str:
    signed = f"{timestamp}.".encode() + body
    return ",".join(
        "sha256=" + hmac.new(secret, signed, hashlib.sha256).hexdigest() for secret in secrets
    )


def verify(secret: bytes, header: str, timestamp: str, body: bytes) -> bool:
    """What a receiver does (used by ``vigie receiver`` and the tests)."""
    expected = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return any(
        hmac.compare_digest(part.strip().removeprefix("sha256=").encode(), expected.encode())
        for part in header.split(",")
    )


def headers(
    secrets: Sequence[bytes], timestamp: int, body: bytes, action: Action
) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": "vigie-notifier",
        SIGNATURE_HEADER: signature(secrets, timestamp, body),
        TIMESTAMP_HEADER: str(timestamp),
        IDEMPOTENCY_HEADER: action.action_id,
    }
