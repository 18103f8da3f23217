"""``/api/v1/users`` and ``/api/v1/api-keys``: admins manage who may use Vigie."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from services.router.access import store
from services.router.access.guard import Gate, needs
from services.router.access.hashing import digest, hash_password, key_prefix, new_api_key
from services.router.access.identity import NAME_RULE, Principal, valid_name
from services.router.access.roles import Role
from services.router.backend import Backend, started

MIN_PASSWORD = 12


class NewUser(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description=NAME_RULE)
    role: Role
    password: SecretStr = Field(description=f"At least {MIN_PASSWORD} characters.")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return valid_name(value)

    @field_validator("password")
    @classmethod
    def _long_enough(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value()) < MIN_PASSWORD:
            raise ValueError(f"at least {MIN_PASSWORD} characters")
        return value


class NewApiKey(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description=NAME_RULE)
    role: Role

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return valid_name(value)


def _rows(rows: list[Any]) -> list[dict[str, Any]]:
    return [dict(row._mapping) for row in rows]


def admin_routes(backend: Backend, gate: Gate) -> APIRouter:
    router = APIRouter(tags=["access"])
    admin = Depends(gate.require(Role.ADMIN))
    missing: dict[int | str, dict[str, Any]] = {404: {"description": "No such user or live key."}}

    @router.get("/users", summary="Users and their roles.", openapi_extra=needs(Role.ADMIN))
    async def list_users(_: Principal = admin) -> dict[str, Any]:
        async with started(backend)[0].connect() as conn:
            return {"users": _rows(await store.list_users(conn))}

    @router.post(
        "/users",
        status_code=201,
        summary="Add a user who logs in to the console.",
        openapi_extra=needs(Role.ADMIN),
        responses={409: {"description": "The name is taken."}},
    )
    async def add_user(body: NewUser, who: Principal = admin) -> dict[str, Any]:
        # scrypt takes ~70 ms of CPU: never on the loop that routes crisis comments.
        hashed = await asyncio.to_thread(hash_password, body.password.get_secret_value())
        try:
            async with started(backend)[0].begin() as conn:
                await store.add_user(
                    conn,
                    name=body.name,
                    role=body.role,
                    password_hash=hashed,
                    now=backend.now(),
                    actor=who.actor(),
                )
        except store.NameTaken as exc:
            raise HTTPException(409, str(exc)) from exc
        return {"user": {"name": body.name, "role": body.role.value}}

    @router.post(
        "/users/{name}/disable",
        summary="Disable a user and end their sessions.",
        openapi_extra=needs(Role.ADMIN),
        responses=missing,
    )
    async def disable_user(name: str, who: Principal = admin) -> dict[str, Any]:
        async with started(backend)[0].begin() as conn:
            found = await store.disable_user(conn, name, now=backend.now(), actor=who.actor())
        if not found:
            raise HTTPException(404, f"no user {name!r}")
        return {"user": {"name": name, "disabled": True}}

    @router.get("/api-keys", summary="API keys (never the keys).", openapi_extra=needs(Role.ADMIN))
    async def list_keys(_: Principal = admin) -> dict[str, Any]:
        async with started(backend)[0].connect() as conn:
            return {"api_keys": _rows(await store.list_api_keys(conn))}

    @router.post(
        "/api-keys",
        status_code=201,
        summary="Create an API key; the answer is the only time the key is shown.",
        openapi_extra=needs(Role.ADMIN),
        responses={409: {"description": "A live key has this name."}},
    )
    async def create_key(body: NewApiKey, who: Principal = admin) -> dict[str, Any]:
        key = new_api_key()
        new = store.NewKey(body.name, body.role, digest(key), key_prefix(key))
        try:
            async with started(backend)[0].begin() as conn:
                await store.add_api_key(conn, new, now=backend.now(), actor=who.actor())
        except store.NameTaken as exc:
            raise HTTPException(409, str(exc)) from exc
        return {"name": body.name, "role": body.role.value, "prefix": new.prefix, "key": key}

    @router.post(
        "/api-keys/{name}/revoke",
        summary="Revoke the live key of that name.",
        openapi_extra=needs(Role.ADMIN),
        responses=missing,
    )
    async def revoke_key(name: str, who: Principal = admin) -> dict[str, Any]:
        async with started(backend)[0].begin() as conn:
            found = await store.revoke_api_key(conn, name, now=backend.now(), actor=who.actor())
        if not found:
            raise HTTPException(404, f"no live API key {name!r}")
        return {"name": name, "revoked": True}

    return router
