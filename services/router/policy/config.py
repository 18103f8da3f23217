"""The escalation policy file: schema, validation with references checked, loading.

The file is YAML; ``load_policy`` returns a frozen ``Policy`` or raises ``PolicyError``
whose message names the field (and the line, when YAML gives one).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from services.router.policy.matchers import Matcher, parse_matcher
from shared.events import Channel, Severity

GROUP_FIELDS = ("platform", "source", "author_id", "post_id", "thread_id", "label")


class PolicyError(ValueError):
    pass


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ReceiverConfig(_Frozen):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    channel: Channel
    url: str = Field(pattern=r"^https?://")


class RouteConfig(_Frozen):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    matchers: tuple[str, ...] = ()
    severity: Severity | None = Field(
        default=None, description="Case severity; default: the classification's."
    )
    open_case: bool = True
    notify: tuple[str, ...] = ()
    group_by: tuple[str, ...] = ("platform", "author_id")
    continue_: bool = Field(default=False, alias="continue")

    @field_validator("matchers")
    @classmethod
    def _parse(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for text in value:
            parse_matcher(text)
        return value

    @model_validator(mode="after")
    def _notify_needs_a_case(self) -> RouteConfig:
        if self.notify and not self.open_case:
            raise ValueError("notify needs open_case: true (receivers are paged about a case)")
        return self

    @field_validator("group_by")
    @classmethod
    def _group_fields(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [f for f in value if f not in GROUP_FIELDS]
        if unknown:
            raise ValueError(f"unknown group_by field(s) {unknown}; known: {list(GROUP_FIELDS)}")
        return value

    @property
    def compiled(self) -> tuple[Matcher, ...]:
        return tuple(parse_matcher(m) for m in self.matchers)


class PolicyConfig(_Frozen):
    version: str = Field(min_length=1, max_length=40)
    receivers: tuple[ReceiverConfig, ...] = ()
    routes: tuple[RouteConfig, ...] = Field(min_length=1)

    def reference_problems(self) -> list[tuple[tuple[int | str, ...], str]]:
        """(location, message) for every broken cross-reference; a location is a YAML path."""
        problems: list[tuple[tuple[int | str, ...], str]] = []
        receivers: set[str] = set()
        for i, receiver in enumerate(self.receivers):
            if receiver.name in receivers:
                problems.append(
                    (("receivers", i, "name"), f"receivers defined twice: {receiver.name!r}")
                )
            receivers.add(receiver.name)
        routes: set[str] = set()
        for i, route in enumerate(self.routes):
            if route.name in routes:
                problems.append((("routes", i, "name"), "route names must be unique"))
            routes.add(route.name)
            missing = [n for n in route.notify if n not in receivers]
            if missing:
                message = f"routes[{i}] ({route.name}) notifies unknown receiver(s) {missing}"
                problems.append((("routes", i, "notify"), message))
        return problems


class Policy:
    """A validated policy, with matchers compiled once."""

    def __init__(self, config: PolicyConfig, digest: str) -> None:
        problems = config.reference_problems()
        if problems:
            raise PolicyError("\n".join(message for _, message in problems))
        self.config = config
        self.version = f"{config.version}+{digest[:8]}"
        self.receivers = {r.name: r for r in config.receivers}
        self.routes = tuple((route, route.compiled) for route in config.routes)


def _line_of(text: str, loc: tuple[int | str, ...]) -> int | None:
    """Best effort: the line of the YAML node at ``loc``."""
    try:
        node: Any = yaml.compose(text)
    except yaml.YAMLError:
        return None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = next((v for k, v in node.value if k.value == part), None)
            if match is None:
                break
            node = match
        elif (
            isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value)
        ):
            node = node.value[part]
        else:
            break
    return int(node.start_mark.line) + 1 if node is not None else None


def parse_policy(text: str, *, origin: str = "<policy>") -> Policy:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PolicyError(f"{origin}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise PolicyError(f"{origin}: the policy must be a mapping")
    try:
        config = PolicyConfig.model_validate(data)
    except ValidationError as exc:
        problems = [(tuple(error["loc"]), str(error["msg"])) for error in exc.errors()]
        raise PolicyError(_describe(text, origin, problems)) from exc
    problems = config.reference_problems()
    if problems:
        raise PolicyError(_describe(text, origin, problems))
    return Policy(config, hashlib.sha256(text.encode()).hexdigest())


def _describe(text: str, origin: str, problems: list[tuple[tuple[int | str, ...], str]]) -> str:
    lines = []
    for loc, message in problems:
        where = ".".join(str(p) for p in loc) or "(top level)"
        line = _line_of(text, loc)
        at = f" (line {line})" if line else ""
        lines.append(f"{origin}: {where}{at}: {message}")
    return "\n".join(lines)


def load_policy(path: Path) -> Policy:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(f"{path}: cannot read the policy: {exc.strerror}") from exc
    return parse_policy(text, origin=str(path))
