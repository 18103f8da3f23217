"""HMAC-SHA256 of the raw body, two live secrets during a rotation."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from services.ingest.signature import SignatureVerdict, sign, verify

BODY = b'{"id":"c-1","text":"hello"}'
OLD, NEW = b"old-secret", b"new-secret"


def test_sign_is_the_hex_hmac_sha256_of_the_body() -> None:
    expected = hmac.new(OLD, BODY, hashlib.sha256).hexdigest()

    assert sign(OLD, BODY) == f"sha256={expected}"


@pytest.mark.parametrize(
    ("header", "secrets", "verdict"),
    [
        (sign(OLD, BODY), [OLD], SignatureVerdict.VALID),
        (sign(OLD, BODY).upper().replace("SHA256=", "sha256="), [OLD], SignatureVerdict.VALID),
        ("SHA256=" + sign(OLD, BODY).removeprefix("sha256="), [OLD], SignatureVerdict.VALID),
        (f"  {sign(OLD, BODY)} ", [OLD], SignatureVerdict.VALID),
        # Rotation: either live secret is accepted.
        (sign(OLD, BODY), [OLD, NEW], SignatureVerdict.VALID),
        (sign(NEW, BODY), [OLD, NEW], SignatureVerdict.VALID),
        (None, [OLD], SignatureVerdict.MISSING),
        ("", [OLD], SignatureVerdict.MISSING),
        ("sha256", [OLD], SignatureVerdict.MALFORMED),
        ("sha256=", [OLD], SignatureVerdict.MALFORMED),
        ("sha256=abc", [OLD], SignatureVerdict.MALFORMED),
        ("sha256=" + "z" * 64, [OLD], SignatureVerdict.MALFORMED),
        ("sha1=" + "0" * 64, [OLD], SignatureVerdict.MALFORMED),
        ("md5=" + sign(OLD, BODY).removeprefix("sha256="), [OLD], SignatureVerdict.MALFORMED),
        (sign(OLD, BODY) + "00", [OLD], SignatureVerdict.MALFORMED),
        (sign(b"wrong", BODY), [OLD], SignatureVerdict.MISMATCH),
        (sign(b"wrong", BODY), [OLD, NEW], SignatureVerdict.MISMATCH),
        (sign(OLD, BODY + b" "), [OLD], SignatureVerdict.MISMATCH),
        ("sha256=" + "0" * 64, [OLD], SignatureVerdict.MISMATCH),
        # No live secret: nothing can be valid.
        (sign(OLD, BODY), [], SignatureVerdict.MISMATCH),
    ],
)
def test_verify(header: str | None, secrets: list[bytes], verdict: SignatureVerdict) -> None:
    assert verify(header, BODY, secrets) is verdict


def test_a_retired_secret_no_longer_verifies() -> None:
    assert verify(sign(OLD, BODY), BODY, [NEW]) is SignatureVerdict.MISMATCH
