"""HMAC signatures of raw request bodies, compared in constant time over every live secret.

Platforms differ only in the digest (SHA-1 for WebSub, SHA-256 elsewhere), the prefix
(``sha256=``, ``v0=``) and the encoding of the digest (hex, or base64 for X).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Sequence
from typing import Literal

from services.ingest.adapters.base import Verdict

Encoding = Literal["hex", "base64"]


def digest(secret: bytes, message: bytes, *, algorithm: str = "sha256") -> bytes:
    return hmac.new(secret, message, getattr(hashlib, algorithm)).digest()


def encode(raw: bytes, encoding: Encoding) -> str:
    return raw.hex() if encoding == "hex" else base64.b64encode(raw).decode()


def sign(
    secret: bytes,
    message: bytes,
    *,
    prefix: str = "sha256=",
    algorithm: str = "sha256",
    encoding: Encoding = "hex",
) -> str:
    """The header value a platform would send for ``message``."""
    return prefix + encode(digest(secret, message, algorithm=algorithm), encoding)


def _decode(value: str, encoding: Encoding, size: int) -> bytes | None:
    try:
        raw = bytes.fromhex(value) if encoding == "hex" else base64.b64decode(value, validate=True)
    except (ValueError, binascii.Error):
        return None
    return raw if len(raw) == size else None


def verify(
    header: str | None,
    message: bytes,
    secrets: Sequence[bytes],
    *,
    prefix: str = "sha256=",
    algorithm: str = "sha256",
    encoding: Encoding = "hex",
) -> Verdict:
    """Check ``<prefix><digest>`` against every live secret (two during a rotation).

    The prefix is matched case-insensitively and surrounding blanks are ignored. Every secret
    is checked, so timing does not tell which one matched.
    """
    if not header:
        return Verdict.MISSING
    value = header.strip()
    if not value.lower().startswith(prefix.lower()):
        return Verdict.MALFORMED
    size = getattr(hashlib, algorithm)().digest_size
    given = _decode(value[len(prefix) :], encoding, size)
    if given is None:
        return Verdict.MALFORMED
    matched = False
    for secret in secrets:
        matched |= hmac.compare_digest(digest(secret, message, algorithm=algorithm), given)
    return Verdict.VALID if matched else Verdict.MISMATCH
