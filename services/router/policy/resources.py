"""The crisis-resource directory: help lines per country, each dated with when a person last
checked it against its official source. Replies list entries from here, never free text."""

from __future__ import annotations

import re
from datetime import date, timedelta

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, field_validator

COUNTRY = r"^[A-Z]{2}$"
LANGUAGE = r"^[a-z]{2,3}$"
KINDS = ("suicide-prevention", "emergency", "domestic-violence", "listening", "youth")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Resource(_Frozen):
    """One help line or service."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    country: str = Field(pattern=COUNTRY, description="ISO 3166-1 alpha-2.")
    kind: str
    name: dict[str, str] = Field(min_length=1, description="Display name by language.")
    contact: str = Field(min_length=1, description="Number, text code or address, as dialled.")
    hours: dict[str, str] = Field(default_factory=dict, description="Opening hours by language.")
    languages: tuple[str, ...] = Field(default=(), description="Languages spoken on the line.")
    source: HttpUrl = Field(description="The official page the entry was checked against.")
    verified_on: date

    @field_validator("kind")
    @classmethod
    def _kind(cls, value: str) -> str:
        if value not in KINDS:
            raise ValueError(f"unknown kind {value!r}; known: {', '.join(KINDS)}")
        return value

    @field_validator("name", "hours")
    @classmethod
    def _languages(cls, value: dict[str, str]) -> dict[str, str]:
        bad = [lang for lang in value if not re.match(LANGUAGE, lang)]
        if bad:
            raise ValueError(f"keys must be language codes (fr, en, nl...): {bad}")
        return value

    def localised_name(self, lang: str) -> str:
        return self.name.get(lang) or self.name.get("en") or next(iter(self.name.values()))

    def localised_hours(self, lang: str) -> str | None:
        return self.hours.get(lang) or self.hours.get("en")


class ResourceDirectory(_Frozen):
    version: str = Field(min_length=1, max_length=40)
    resources: tuple[Resource, ...] = Field(min_length=1)

    def problems(self) -> list[tuple[tuple[int | str, ...], str]]:
        seen: set[str] = set()
        found: list[tuple[tuple[int | str, ...], str]] = []
        for i, entry in enumerate(self.resources):
            if entry.id in seen:
                found.append((("resources", i, "id"), f"resource defined twice: {entry.id!r}"))
            seen.add(entry.id)
        return found

    def lookup(self, *, country: str, kinds: tuple[str, ...]) -> tuple[Resource, ...]:
        """The entries of ``country`` of any of ``kinds``, in the order of ``kinds`` then of
        the file."""
        return tuple(
            entry
            for kind in kinds
            for entry in self.resources
            if entry.country == country and entry.kind == kind
        )

    def stale(self, *, today: date, max_age: timedelta) -> tuple[tuple[int, Resource], ...]:
        """(index, entry) of every entry verified longer than ``max_age`` before ``today``."""
        return tuple(
            (i, entry)
            for i, entry in enumerate(self.resources)
            if today - entry.verified_on > max_age
        )
