"""HMAC-SHA256 of the raw body, two live secrets during a rotation."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from services.ingest.adapters.base import Verdict
from services.ingest.signature import sign, verify

BODY = b'{"id":"c-1","text":"hello"}'
OLD, NEW = b"old-secret", b"new-secret"


def test_sign_is_the_hex_hmac_sha256_of_the_body() -> None:
    expected = hmac.new(OLD, BODY, hashlib.sha256).hexdigest()

    assert sign(OLD, BODY) == f"sha256={expected}"


@pytest.mark.parametrize(
    ("header", "secrets", "verdict"),
    [
        (sign(OLD, BODY), [OLD], Verdict.VALID),
        (sign(OLD, BODY).upper().replace("SHA256=", "sha256="), [OLD], Verdict.VALID),
        ("SHA256=" + sign(OLD, BODY).removeprefix("sha256="), [OLD], Verdict.VALID),
        (f"  {sign(OLD, BODY)} ", [OLD], Verdict.VALID),
        # Rotation: either live secret is accepted.
        (sign(OLD, BODY), [OLD, NEW], Verdict.VALID),
        (sign(NEW, BODY), [OLD, NEW], Verdict.VALID),
        (None, [OLD], Verdict.MISSING),
        ("", [OLD], Verdict.MISSING),
        ("sha256", [OLD], Verdict.MALFORMED),
        ("sha256=", [OLD], Verdict.MALFORMED),
        ("sha256=abc", [OLD], Verdict.MALFORMED),
        ("sha256=" + "z" * 64, [OLD], Verdict.MALFORMED),
        ("sha1=" + "0" * 64, [OLD], Verdict.MALFORMED),
        ("md5=" + sign(OLD, BODY).removeprefix("sha256="), [OLD], Verdict.MALFORMED),
        (sign(OLD, BODY) + "00", [OLD], Verdict.MALFORMED),
        (sign(b"wrong", BODY), [OLD], Verdict.MISMATCH),
        (sign(b"wrong", BODY), [OLD, NEW], Verdict.MISMATCH),
        (sign(OLD, BODY + b" "), [OLD], Verdict.MISMATCH),
        ("sha256=" + "0" * 64, [OLD], Verdict.MISMATCH),
        # No live secret: nothing can be valid.
        (sign(OLD, BODY), [], Verdict.MISMATCH),
    ],
)
def test_verify(header: str | None, secrets: list[bytes], verdict: Verdict) -> None:
    assert verify(header, BODY, secrets) is verdict


def test_a_retired_secret_no_longer_verifies() -> None:
    assert verify(sign(OLD, BODY), BODY, [NEW]) is Verdict.MISMATCH
