"""Access control's pure parts: password and key hashing, roles, session lifetime on an
injected clock, the CSRF comparison, and the name the audit log gives each principal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.router.access.hashing import (
    KEY_PREFIX,
    ScryptCost,
    digest,
    hash_password,
    key_prefix,
    new_api_key,
    verify_password,
)
from services.router.access.identity import Principal, Via, valid_name
from services.router.access.roles import Role, allows, parse_role
from services.router.access.sessions import SessionPolicy, SessionState, csrf_matches

FAST = ScryptCost(n=2**10)
T0 = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)


def test_a_password_verifies_against_its_hash_and_nothing_else() -> None:
    stored = hash_password("correct horse battery", cost=FAST)

    assert verify_password("correct horse battery", stored)
    assert not verify_password("correct horse batterY", stored)
    assert not verify_password("", stored)


def test_a_password_hash_carries_its_parameters_and_a_fresh_salt() -> None:
    first = hash_password("same password", cost=FAST)
    second = hash_password("same password", cost=FAST)

    scheme, n, r, p, salt, _ = first.split("$")
    assert (scheme, int(n), int(r), int(p)) == ("scrypt", FAST.n, FAST.r, FAST.p)
    assert salt != second.split("$")[4]  # per-user salt: equal passwords, different hashes
    assert "same password" not in first
    # Stronger parameters later still verify the hashes stored before.
    assert verify_password(
        "same password", hash_password("same password", cost=ScryptCost(n=2**11))
    )


@pytest.mark.parametrize(
    "stored",
    ["", "plain", "bcrypt$1$2$3$4$5", "scrypt$x$8$1$AAAA$BBBB", "scrypt$1024$8$1$!!$BBBB"],
)
def test_a_damaged_or_foreign_hash_never_verifies(stored: str) -> None:
    assert not verify_password("anything", stored)


def test_api_keys_are_random_and_only_their_digest_identifies_them() -> None:
    key, other = new_api_key(), new_api_key()

    assert key.startswith(KEY_PREFIX) and key != other
    assert len(key) >= len(KEY_PREFIX) + 40  # 256 random bits, base64url
    assert digest(key) == digest(key) and digest(key) != digest(other)
    assert len(digest(key)) == 64 and key not in digest(key)
    assert key.startswith(key_prefix(key)) and len(key_prefix(key)) < len(key) // 3


@pytest.mark.parametrize(
    ("held", "needed", "allowed"),
    [
        (Role.VIEWER, Role.VIEWER, True),
        (Role.VIEWER, Role.MODERATOR, False),
        (Role.VIEWER, Role.ADMIN, False),
        (Role.MODERATOR, Role.VIEWER, True),
        (Role.MODERATOR, Role.MODERATOR, True),
        (Role.MODERATOR, Role.ADMIN, False),
        (Role.ADMIN, Role.VIEWER, True),
        (Role.ADMIN, Role.MODERATOR, True),
        (Role.ADMIN, Role.ADMIN, True),
    ],
)
def test_each_role_allows_what_the_roles_below_allow(
    held: Role, needed: Role, allowed: bool
) -> None:
    assert allows(held, needed) is allowed


def test_a_role_is_parsed_from_its_name_or_refused_naming_the_roles() -> None:
    assert parse_role(" Moderator ") is Role.MODERATOR
    with pytest.raises(ValueError, match="viewer, moderator, admin"):
        parse_role("root")


POLICY = SessionPolicy(
    ttl=timedelta(hours=12), idle=timedelta(minutes=30), touch_every=timedelta(minutes=1)
)


@pytest.mark.parametrize(
    ("last_seen_min", "now_min", "state"),
    [
        (0, 0, SessionState.LIVE),
        (0, 29, SessionState.LIVE),
        (0, 30, SessionState.IDLE),
        (700, 719, SessionState.LIVE),
        (700, 720, SessionState.EXPIRED),  # active, but 12 h after login
        (0, 720, SessionState.EXPIRED),
    ],
)
def test_a_session_ends_at_its_expiry_or_when_idle(
    last_seen_min: int, now_min: int, state: SessionState
) -> None:
    minutes = timedelta(minutes=1)

    assert (
        POLICY.state(
            expires_at=POLICY.expires_at(T0),
            last_seen_at=T0 + last_seen_min * minutes,
            now=T0 + now_min * minutes,
        )
        is state
    )


def test_activity_is_written_back_at_most_once_a_minute() -> None:
    assert not POLICY.needs_touch(last_seen_at=T0, now=T0 + timedelta(seconds=59))
    assert POLICY.needs_touch(last_seen_at=T0, now=T0 + timedelta(seconds=60))


@pytest.mark.parametrize(
    ("given", "ok"),
    [("tok-123", True), ("tok-124", False), ("", False), (None, False), ("tok-1234", False)],
)
def test_the_csrf_token_must_be_the_sessions(given: str | None, ok: bool) -> None:
    assert csrf_matches("tok-123", given) is ok


@pytest.mark.parametrize(
    ("principal", "by", "actor"),
    [
        (Principal("ana", Role.MODERATOR, Via.SESSION, "c"), None, "user:ana"),
        (Principal("ana", Role.MODERATOR, Via.SESSION, "c"), "ana", "user:ana"),
        (Principal("bot", Role.MODERATOR, Via.API_KEY), None, "key:bot"),
        (Principal("bot", Role.MODERATOR, Via.API_KEY), "ana", "key:bot/ana"),
        (Principal("router-api-token", Role.ADMIN, Via.TOKEN), "bob", "key:router-api-token/bob"),
    ],
)
def test_the_audit_log_names_the_authenticated_principal(
    principal: Principal, by: str | None, actor: str
) -> None:
    assert principal.actor(by) == actor


def test_a_person_cannot_act_under_another_name() -> None:
    with pytest.raises(ValueError, match="your own name"):
        Principal("ana", Role.ADMIN, Via.SESSION, "c").actor("bob")


@pytest.mark.parametrize(
    ("name", "ok"),
    [("ana", True), ("ana.b@team-1", True), ("-ana", False), ("a b", False), ("x" * 41, False)],
)
def test_names_are_short_and_plain(name: str, ok: bool) -> None:
    if ok:
        assert valid_name(name) == name
    else:
        with pytest.raises(ValueError, match="not a valid name"):
            valid_name(name)
