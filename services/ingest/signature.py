"""HMAC-SHA256 signatures of raw request bodies, compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from enum import StrEnum


class SignatureVerdict(StrEnum):
    VALID = "valid"
    MISSING = "missing"
    MALFORMED = "malformed"
    MISMATCH = "mismatch"


def sign(secret: bytes, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def verify(header: str | None, body: bytes, secrets: Sequence[bytes]) -> SignatureVerdict:
    """Check ``sha256=<hex>`` against every live secret (two during a rotation)."""
    if not header:
        return SignatureVerdict.MISSING
    scheme, _, digest = header.strip().partition("=")
    if scheme.lower() != "sha256" or len(digest) != 64:
        return SignatureVerdict.MALFORMED
    try:
        given = bytes.fromhex(digest)
    except ValueError:
        return SignatureVerdict.MALFORMED
    matched = False
    for secret in secrets:
        # Every secret is checked so that timing does not tell which one matched.
        expected = hmac.new(secret, body, hashlib.sha256).digest()
        matched |= hmac.compare_digest(expected, given)
    return SignatureVerdict.VALID if matched else SignatureVerdict.MISMATCH
