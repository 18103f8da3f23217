"""Roles, each allowing what the one below allows: viewer < moderator < admin."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    VIEWER = "viewer"  # reads cases, comments' classifications, silences
    MODERATOR = "moderator"  # works cases: ack, assign, resolve, approve, silences, labels
    ADMIN = "admin"  # manages users and API keys


_RANK = {Role.VIEWER: 0, Role.MODERATOR: 1, Role.ADMIN: 2}


def allows(held: Role, needed: Role) -> bool:
    return _RANK[held] >= _RANK[needed]


def parse_role(value: str) -> Role:
    """A role from its name, or ``ValueError`` naming the ones that exist."""
    try:
        return Role(value.strip().lower())
    except ValueError:
        names = ", ".join(r.value for r in Role)
        raise ValueError(f"unknown role {value!r} (expected one of {names})") from None
