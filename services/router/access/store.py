"""Users, API keys and console sessions in the database. Every change by someone is written
to the audit log with its author."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from services.router import store as router_store
from services.router.access.roles import Role
from shared.storage.tables import api_keys, console_sessions, users


class NameTaken(ValueError):
    pass


async def _audit(
    conn: AsyncConnection,
    *,
    action: str,
    subject_type: str,
    subject_id: str,
    actor: str,
    reason: str,
    now: datetime,
    details: dict[str, Any] | None = None,
) -> None:
    await router_store.audit(
        conn,
        dedup_key=f"{action}:{uuid.uuid4()}",
        at=now,
        action=action,
        subject_id=subject_id,
        subject_type=subject_type,
        reason=reason,
        policy_version="",
        trace_id=None,
        details=details or {},
        actor=actor,
    )


# Users


async def add_user(
    conn: AsyncConnection, *, name: str, role: Role, password_hash: str, now: datetime, actor: str
) -> int:
    try:
        result = await conn.execute(
            users.insert().values(
                name=name,
                role=role.value,
                password_hash=password_hash,
                created_at=now,
                updated_at=now,
            )
        )
    except IntegrityError as exc:
        raise NameTaken(f"a user named {name!r} exists") from exc
    await _audit(
        conn,
        action="user.added",
        subject_type="user",
        subject_id=name,
        actor=actor,
        reason=f"added with role {role.value}",
        now=now,
        details={"role": role.value},
    )
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


async def user_by_name(conn: AsyncConnection, name: str) -> Any | None:
    return (await conn.execute(select(users).where(users.c.name == name))).first()


async def list_users(conn: AsyncConnection) -> list[Any]:
    query = select(
        users.c.name, users.c.role, users.c.created_at, users.c.disabled_at, users.c.last_login_at
    ).order_by(users.c.name)
    return list((await conn.execute(query)).all())


async def count_users(conn: AsyncConnection) -> int:
    return len((await conn.execute(select(users.c.id).limit(1))).all())


async def disable_user(conn: AsyncConnection, name: str, *, now: datetime, actor: str) -> bool:
    """Disable a user and end their sessions; False when there is no such user."""
    row = await user_by_name(conn, name)
    if row is None:
        return False
    if row.disabled_at is None:
        await conn.execute(
            update(users).where(users.c.id == row.id).values(disabled_at=now, updated_at=now)
        )
        await conn.execute(delete(console_sessions).where(console_sessions.c.user_id == row.id))
        await _audit(
            conn,
            action="user.disabled",
            subject_type="user",
            subject_id=name,
            actor=actor,
            reason="disabled",
            now=now,
        )
    return True


async def set_password(
    conn: AsyncConnection, name: str, password_hash: str, *, now: datetime, actor: str
) -> bool:
    """A new password ends the user's sessions; False when there is no such user."""
    row = await user_by_name(conn, name)
    if row is None:
        return False
    await conn.execute(
        update(users)
        .where(users.c.id == row.id)
        .values(password_hash=password_hash, updated_at=now)
    )
    await conn.execute(delete(console_sessions).where(console_sessions.c.user_id == row.id))
    await _audit(
        conn,
        action="user.password_set",
        subject_type="user",
        subject_id=name,
        actor=actor,
        reason="password set",
        now=now,
    )
    return True


# API keys


@dataclass(frozen=True, slots=True)
class NewKey:
    name: str
    role: Role
    key_hash: str
    prefix: str


async def add_api_key(conn: AsyncConnection, key: NewKey, *, now: datetime, actor: str) -> None:
    try:
        await conn.execute(
            api_keys.insert().values(
                name=key.name,
                role=key.role.value,
                key_hash=key.key_hash,
                prefix=key.prefix,
                created_at=now,
                created_by=actor,
            )
        )
    except IntegrityError as exc:
        raise NameTaken(f"a live API key named {key.name!r} exists; revoke it first") from exc
    await _audit(
        conn,
        action="api_key.created",
        subject_type="api_key",
        subject_id=key.name,
        actor=actor,
        reason=f"created with role {key.role.value}",
        now=now,
        details={"role": key.role.value, "prefix": key.prefix},
    )


async def live_key(conn: AsyncConnection, key_hash: str) -> Any | None:
    query = select(api_keys).where(api_keys.c.key_hash == key_hash, api_keys.c.revoked_at.is_(None))
    return (await conn.execute(query)).first()


async def key_used(conn: AsyncConnection, key_id: int, now: datetime) -> None:
    await conn.execute(update(api_keys).where(api_keys.c.id == key_id).values(last_used_at=now))


async def list_api_keys(conn: AsyncConnection) -> list[Any]:
    query = select(
        api_keys.c.name,
        api_keys.c.role,
        api_keys.c.prefix,
        api_keys.c.created_at,
        api_keys.c.created_by,
        api_keys.c.last_used_at,
        api_keys.c.revoked_at,
    ).order_by(api_keys.c.created_at, api_keys.c.id)
    return list((await conn.execute(query)).all())


async def revoke_api_key(conn: AsyncConnection, name: str, *, now: datetime, actor: str) -> bool:
    """Revoke the live key of that name; False when there is none."""
    result = await conn.execute(
        update(api_keys)
        .where(api_keys.c.name == name, api_keys.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    if not result.rowcount:
        return False
    await _audit(
        conn,
        action="api_key.revoked",
        subject_type="api_key",
        subject_id=name,
        actor=actor,
        reason="revoked",
        now=now,
    )
    return True


# Console sessions


async def open_session(
    conn: AsyncConnection,
    *,
    session_hash: str,
    user: Any,
    csrf_token: str,
    now: datetime,
    expires_at: datetime,
) -> None:
    await conn.execute(
        console_sessions.insert().values(
            id=session_hash,
            user_id=user.id,
            csrf_token=csrf_token,
            created_at=now,
            last_seen_at=now,
            expires_at=expires_at,
        )
    )
    await conn.execute(update(users).where(users.c.id == user.id).values(last_login_at=now))
    await _audit(
        conn,
        action="session.login",
        subject_type="user",
        subject_id=user.name,
        actor=f"user:{user.name}",
        reason="logged in to the console",
        now=now,
    )


async def session_of(conn: AsyncConnection, session_hash: str) -> Any | None:
    """The session with its user's name, role and whether they are disabled."""
    query = (
        select(
            console_sessions,
            users.c.name.label("user_name"),
            users.c.role,
            users.c.disabled_at,
        )
        .select_from(console_sessions.join(users, users.c.id == console_sessions.c.user_id))
        .where(console_sessions.c.id == session_hash)
    )
    return (await conn.execute(query)).first()


async def session_seen(conn: AsyncConnection, session_hash: str, now: datetime) -> None:
    await conn.execute(
        update(console_sessions)
        .where(console_sessions.c.id == session_hash)
        .values(last_seen_at=now)
    )


async def close_session(
    conn: AsyncConnection, session_hash: str, *, now: datetime, actor: str | None
) -> None:
    """Delete the session; ``actor`` set: a logout, recorded."""
    result = await conn.execute(
        delete(console_sessions).where(console_sessions.c.id == session_hash)
    )
    if actor is not None and result.rowcount:
        await _audit(
            conn,
            action="session.logout",
            subject_type="user",
            subject_id=actor.partition(":")[2],
            actor=actor,
            reason="logged out",
            now=now,
        )
