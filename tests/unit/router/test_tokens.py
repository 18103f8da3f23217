"""Ack links: signed, expiring, verifiable across a secret rotation; a case's life."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.router.lifecycle import InvalidTransition, Move, Transition, move
from services.router.tokens import AckLinks, Grant, Purpose, TokenError, sign, verify
from shared.events import CaseStatus

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
CASE = uuid.UUID("3d2c8b0a-5f1e-4c3b-8a7d-1e2f3a4b5c6d")
GRANT = Grant(Purpose.ACK, CASE, "crisis-team", NOW + timedelta(hours=1))
OLD, NEW = b"old-secret", b"new-secret"


def test_a_token_names_the_case_and_the_receiver_until_it_expires() -> None:
    token = sign(GRANT, [OLD])

    assert verify(token, [OLD], now=NOW) == GRANT
    assert verify(token, [OLD], now=NOW + timedelta(minutes=59)) == GRANT
    with pytest.raises(TokenError, match="expired") as refused:
        verify(token, [OLD], now=NOW + timedelta(hours=1))
    assert refused.value.expired


def test_during_a_rotation_links_signed_with_either_secret_verify() -> None:
    before, after = sign(GRANT, [OLD]), sign(GRANT, [NEW, OLD])

    assert verify(before, [NEW, OLD], now=NOW) == verify(after, [NEW, OLD], now=NOW) == GRANT
    with pytest.raises(TokenError, match="signature"):
        verify(before, [NEW], now=NOW)  # the rotation is over: the old secret is gone


def _tampered() -> str:
    payload, signature = sign(GRANT, [OLD]).split(".")
    other = sign(Grant(Purpose.ACK, uuid.uuid4(), "crisis-team", GRANT.expires_at), [b"x"])
    return f"{other.split('.')[0]}.{signature}"


@pytest.mark.parametrize(
    ("token", "says"),
    [
        ("", "malformed"),
        ("abc", "malformed"),
        ("a.b.c", "malformed"),
        ("!!!.???", "malformed|signature"),
        (sign(GRANT, [b"someone-else"]), "signature"),
        (_tampered(), "signature"),
    ],
    ids=["empty", "one-part", "three-parts", "not-base64", "other-key", "payload-swapped"],
)
def test_a_forged_or_broken_token_is_refused_and_not_as_expired(token: str, says: str) -> None:
    with pytest.raises(TokenError, match=says) as refused:
        verify(token, [OLD], now=NOW)
    assert not refused.value.expired


def test_links_carry_a_token_only_when_a_secret_is_set() -> None:
    url = AckLinks((OLD,), "https://vigie.test/", timedelta(hours=2)).url(CASE, "leads", now=NOW)

    assert url is not None and url.startswith("https://vigie.test/ack/")
    grant = verify(url.rsplit("/", 1)[1], [OLD], now=NOW)
    assert (grant.case_id, grant.receiver) == (CASE, "leads")
    assert grant.expires_at == NOW + timedelta(hours=2)
    assert AckLinks((), "https://vigie.test", timedelta(hours=2)).url(CASE, "x", now=NOW) is None


OPEN, A, R = CaseStatus.OPEN, CaseStatus.ACKNOWLEDGED, CaseStatus.RESOLVED


@pytest.mark.parametrize(
    ("status", "change", "result"),
    [
        (OPEN, Transition.ACKNOWLEDGE, Move(A, True)),
        (A, Transition.ACKNOWLEDGE, Move(A, False)),
        (R, Transition.ACKNOWLEDGE, "reopen it first"),
        (OPEN, Transition.RESOLVE, Move(R, True)),
        (A, Transition.RESOLVE, Move(R, True)),
        (R, Transition.RESOLVE, Move(R, False)),
        (OPEN, Transition.REOPEN, "not resolved"),
        (A, Transition.REOPEN, "not resolved"),
        (R, Transition.REOPEN, Move(OPEN, True)),
    ],
)
def test_a_case_moves_open_acknowledged_resolved_and_back(
    status: CaseStatus, change: Transition, result: Move | str
) -> None:
    if isinstance(result, Move):
        assert move(status, change) == result
    else:
        with pytest.raises(InvalidTransition, match=result):
            move(status, change)
