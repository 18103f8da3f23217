"""Signed, expiring acknowledgement links: a stakeholder acks a case from an e-mail or a
chat message without an account. Pure: the secrets and the time are passed in.

A token is ``<payload>.<signature>``, both base64url without padding. The payload is
``v1|<purpose>|<case id>|<receiver>|<expiry, unix seconds>``; the signature is the
HMAC-SHA256 of the payload under the first live secret (``VIGIE_ACK_TOKEN_SECRET``), and a
token signed with any live secret verifies, so that a rotation keeps links already sent.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

_VERSION = "v1"


class Purpose(StrEnum):
    ACK = "ack"


class TokenError(ValueError):
    """Why a token is refused; ``expired`` tells a late click from a forgery."""

    def __init__(self, reason: str, *, expired: bool = False) -> None:
        super().__init__(reason)
        self.expired = expired


@dataclass(frozen=True, slots=True)
class Grant:
    purpose: Purpose
    case_id: uuid.UUID
    receiver: str
    expires_at: datetime


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: bytes, payload: bytes) -> bytes:
    return hmac.new(secret, payload, hashlib.sha256).digest()


def sign(grant: Grant, secrets: Sequence[bytes]) -> str:
    if not secrets:
        raise ValueError("no secret to sign with")
    expiry = int(grant.expires_at.timestamp())
    payload = f"{_VERSION}|{grant.purpose.value}|{grant.case_id}|{grant.receiver}|{expiry}"
    raw = payload.encode()
    return f"{_b64(raw)}.{_b64(_mac(secrets[0], raw))}"


def verify(token: str, secrets: Sequence[bytes], *, now: datetime) -> Grant:
    """The grant a token carries, or ``TokenError`` saying why not."""
    try:
        encoded, signature = token.split(".")
        raw, mac = _unb64(encoded), _unb64(signature)
    except (ValueError, binascii.Error) as exc:
        raise TokenError("this link is malformed") from exc
    if not any(hmac.compare_digest(mac, _mac(secret, raw)) for secret in secrets):
        raise TokenError("this link's signature is not valid")
    try:
        version, purpose, case_id, receiver, expiry = raw.decode().split("|")
        if version != _VERSION:
            raise ValueError(version)
        grant = Grant(
            Purpose(purpose), uuid.UUID(case_id), receiver, datetime.fromtimestamp(int(expiry), UTC)
        )
    except (ValueError, UnicodeDecodeError) as exc:  # signed by us, so only an old format
        raise TokenError("this link's format is no longer supported") from exc
    if now >= grant.expires_at:
        raise TokenError("this link has expired", expired=True)
    return grant


@dataclass(frozen=True, slots=True)
class AckLinks:
    """Builds the ack link of a page; none when no secret is configured."""

    secrets: tuple[bytes, ...]
    base_url: str
    ttl: timedelta

    def url(self, case_id: uuid.UUID, receiver: str, *, now: datetime) -> str | None:
        if not self.secrets:
            return None
        token = sign(Grant(Purpose.ACK, case_id, receiver, now + self.ttl), self.secrets)
        return f"{self.base_url.rstrip('/')}/ack/{token}"
