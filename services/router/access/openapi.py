"""The OpenAPI description says how to authenticate and what each operation needs: an API
key (HTTP bearer) or a console session (cookie), plus the CSRF header for a session's
changes. Each operation's role comes from its ``x-vigie-role``."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from services.router.access.guard import COOKIE, CSRF_HEADER, ROLE_KEY

SCHEMES: dict[str, dict[str, Any]] = {
    "apiKey": {
        "type": "http",
        "scheme": "bearer",
        "description": "An API key (vigie api-keys create), or VIGIE_ROUTER_API_TOKEN (admin).",
    },
    "session": {
        "type": "apiKey",
        "in": "cookie",
        "name": COOKIE,
        "description": "A console session, opened at /console/login.",
    },
    "csrf": {
        "type": "apiKey",
        "in": "header",
        "name": CSRF_HEADER,
        "description": "The session's CSRF token: required with the cookie on every change.",
    },
}
_READS = {"get", "head", "options"}


def add_security(schema: dict[str, Any]) -> dict[str, Any]:
    schema.setdefault("components", {}).setdefault("securitySchemes", {}).update(SCHEMES)
    for item in schema.get("paths", {}).values():
        for method, operation in item.items():
            role = operation.get(ROLE_KEY) if isinstance(operation, dict) else None
            if role is None:
                continue
            session: dict[str, list[str]] = (
                {"session": []} if method in _READS else {"session": [], "csrf": []}
            )
            operation["security"] = [{"apiKey": []}, session]
            operation.setdefault("description", "")
            operation["description"] = (
                f"{operation['description']}\n\nNeeds the **{role}** role.".strip()
            )
    return schema


def document_security(app: FastAPI) -> None:
    """Make ``app.openapi()`` describe the security schemes and requirements."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = add_security(
                get_openapi(
                    title=app.title,
                    version=app.version,
                    description=app.description,
                    routes=app.routes,
                )
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
