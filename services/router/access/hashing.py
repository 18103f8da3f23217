"""Hashes of the secrets people and machines present: pure, the randomness aside.

- Passwords: scrypt with a per-user random salt; the parameters travel with the hash
  (``scrypt$<n>$<r>$<p>$<salt>$<hash>``, base64url) so that they can be raised later without
  invalidating stored hashes.
- API keys and session ids: 256 random bits, so a plain SHA-256 is enough (nothing to
  brute-force); the database holds the digest only.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from dataclasses import dataclass

KEY_PREFIX = "vigie_"


@dataclass(frozen=True, slots=True)
class ScryptCost:
    n: int = 2**14
    r: int = 8
    p: int = 1

    @property
    def maxmem(self) -> int:
        return 128 * self.n * self.r * self.p + 1024 * 1024


DEFAULT_COST = ScryptCost()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _scrypt(password: str, salt: bytes, cost: ScryptCost) -> bytes:
    return hashlib.scrypt(
        password.encode(), salt=salt, n=cost.n, r=cost.r, p=cost.p, maxmem=cost.maxmem, dklen=32
    )


def hash_password(password: str, *, cost: ScryptCost = DEFAULT_COST) -> str:
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, cost)
    return f"scrypt${cost.n}${cost.r}${cost.p}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    """True when ``password`` hashes to ``stored``; False for a wrong one or a damaged hash."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        cost = ScryptCost(int(n), int(r), int(p))
        expected = _unb64(digest)
        given = _scrypt(password, _unb64(salt), cost)
    except (ValueError, binascii.Error):
        return False
    return hmac.compare_digest(given, expected)


# Verified against when the user does not exist, so that a wrong name costs as much time
# as a wrong password and names cannot be told apart by timing.
DECOY_HASH = hash_password(secrets.token_urlsafe(16))


def new_api_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    """SHA-256 (hex) of a high-entropy secret: an API key or a session id."""
    return hashlib.sha256(secret.encode()).hexdigest()


def key_prefix(key: str) -> str:
    """The first characters of a key, shown to tell keys apart (never enough to use one)."""
    return key[: len(KEY_PREFIX) + 6]


def new_token() -> str:
    """A session id or a CSRF token."""
    return secrets.token_urlsafe(32)
