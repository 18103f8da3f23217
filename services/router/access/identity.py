"""Who a request acts as, and the name the audit log gives them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from services.router.access.roles import Role

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,39}$")
NAME_RULE = "1 to 40 characters: letters, digits, . _ @ - (not first)"


class Via(StrEnum):
    SESSION = "session"  # a person in the console: cookie, CSRF token on every change
    API_KEY = "api-key"  # a machine's key, from the database
    TOKEN = "token"  # VIGIE_ROUTER_API_TOKEN: the bootstrap key, role admin


@dataclass(frozen=True, slots=True)
class Principal:
    name: str
    role: Role
    via: Via
    csrf_token: str | None = None  # sessions only

    @property
    def is_person(self) -> bool:
        return self.via is Via.SESSION

    def actor(self, on_behalf_of: str | None = None) -> str:
        """``user:<name>`` for a person; ``key:<name>`` for a machine, with the person it
        says it acts for (a chat bot relaying a click) after a slash. A person acts under
        their own name only: ``ValueError`` otherwise."""
        if self.is_person:
            if on_behalf_of not in (None, self.name):
                raise ValueError(f"logged in as {self.name!r}: you act under your own name")
            return f"user:{self.name}"
        return f"key:{self.name}" + (f"/{on_behalf_of}" if on_behalf_of else "")

    def label(self, on_behalf_of: str | None = None) -> str:
        """The actor without ``user:``, for columns that hold a person's bare name."""
        return self.actor(on_behalf_of).removeprefix("user:")


BOOTSTRAP_KEY = "router-api-token"


def valid_name(value: str) -> str:
    if not NAME.match(value):
        raise ValueError(f"{value!r} is not a valid name ({NAME_RULE})")
    return value
