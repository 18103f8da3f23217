"""The escalation policy file: loading, validation with references checked, compiling.

``load_policy`` returns a frozen ``Policy`` or raises ``PolicyError``, whose findings name
the field and the line of every problem at once. The resource directory the policy names is
read from beside the policy file and validated the same way.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from services.router.policy.matchers import Matcher, parse_matcher
from services.router.policy.references import config_problems, resource_problems
from services.router.policy.resources import ResourceDirectory
from services.router.policy.schema import (
    GROUP_FIELDS,
    ChainConfig,
    InhibitRule,
    PolicyConfig,
    ReceiverConfig,
    TemplateConfig,
)
from services.router.policy.timewindows import TimeWindow
from services.router.policy.tree import Loc, Problem, Route, compile_tree

_M = TypeVar("_M", bound=BaseModel)

__all__ = ["GROUP_FIELDS", "Finding", "Policy", "PolicyError", "load_policy", "parse_policy"]


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing wrong (or worth a look) in a policy or resource file."""

    origin: str
    loc: Loc
    line: int | None
    message: str
    level: Literal["error", "warning"] = "error"

    def __str__(self) -> str:
        where = ".".join(str(p) for p in self.loc) or "(top level)"
        at = f" (line {self.line})" if self.line else ""
        return f"{self.origin}: {where}{at}: {self.message}"


class PolicyError(ValueError):
    def __init__(self, findings: Sequence[Finding]) -> None:
        self.findings = tuple(findings)
        super().__init__("\n".join(str(f) for f in self.findings))


@dataclass(frozen=True, slots=True)
class CompiledInhibitRule:
    name: str
    source: tuple[Matcher, ...]
    target: tuple[Matcher, ...]
    equal: tuple[str, ...]


class Policy:
    """A validated policy: the frozen route tree and everything its routes name."""

    def __init__(
        self,
        config: PolicyConfig,
        digest: str,
        *,
        directory: ResourceDirectory | None = None,
    ) -> None:
        root, problems = compile_tree(config)
        problems = config_problems(config) + problems + resource_problems(config, root, directory)
        if problems:
            raise PolicyError([Finding("<policy>", loc, None, msg) for loc, msg in problems])
        self.config = config
        self.version = f"{config.version}+{digest[:8]}"
        self.root = root
        self.routes: tuple[Route, ...] = tuple(root.walk()[1:])
        self.receivers: dict[str, ReceiverConfig] = {r.name: r for r in config.receivers}
        self.windows: dict[str, TimeWindow] = {w.name: w for w in config.time_windows}
        self.templates: dict[str, TemplateConfig] = {t.name: t for t in config.templates}
        self.chains: dict[str, ChainConfig] = {c.name: c for c in config.chains}
        self.inhibit_rules = tuple(_compile_rule(rule) for rule in config.inhibit_rules)
        self.directory = directory

    def route(self, name: str) -> Route:
        return next(r for r in self.routes if r.name == name)


def _compile_rule(rule: InhibitRule) -> CompiledInhibitRule:
    return CompiledInhibitRule(
        name=rule.name,
        source=tuple(parse_matcher(m) for m in rule.source_matchers),
        target=tuple(parse_matcher(m) for m in rule.target_matchers),
        equal=rule.equal,
    )


def line_of(text: str, loc: Loc) -> int | None:
    """Best effort: the line of the YAML node at ``loc`` (or of its nearest parent)."""
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


def _findings(text: str, origin: str, problems: Sequence[Problem]) -> list[Finding]:
    return [Finding(origin, loc, line_of(text, loc), message) for loc, message in problems]


def read_yaml_mapping(text: str, origin: str, what: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = int(mark.line) + 1 if mark is not None else None
        raise PolicyError([Finding(origin, (), line, f"not valid YAML: {exc}")]) from exc
    if not isinstance(data, dict):
        raise PolicyError([Finding(origin, (), None, f"the {what} must be a mapping")])
    return data


def validate(model: type[_M], data: dict[str, Any], text: str, origin: str) -> _M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = [(tuple(error["loc"]), str(error["msg"])) for error in exc.errors()]
        raise PolicyError(_findings(text, origin, problems)) from exc


def parse_directory(text: str, *, origin: str = "<resources>") -> ResourceDirectory:
    data = read_yaml_mapping(text, origin, "resource directory")
    directory = validate(ResourceDirectory, data, text, origin)
    problems = directory.problems()
    if problems:
        raise PolicyError(_findings(text, origin, problems))
    return directory


def parse_policy(text: str, *, origin: str = "<policy>", base_dir: Path | None = None) -> Policy:
    """``base_dir`` is where a relative ``resources.file`` is found (default: the working
    directory)."""
    config = validate(PolicyConfig, read_yaml_mapping(text, origin, "policy"), text, origin)
    directory, resources_text = None, ""
    if config.resources is not None:
        path = (base_dir or Path.cwd()) / config.resources.file
        try:
            resources_text = path.read_text(encoding="utf-8")
        except OSError as exc:
            loc = ("resources", "file")
            message = f"cannot read the resource directory {str(path)!r}: {exc.strerror}"
            raise PolicyError(_findings(text, origin, [(loc, message)])) from exc
        directory = parse_directory(resources_text, origin=str(path))
    digest = hashlib.sha256(f"{text}\0{resources_text}".encode()).hexdigest()
    try:
        return Policy(config, digest, directory=directory)
    except PolicyError as exc:
        problems = [(f.loc, f.message) for f in exc.findings]
        raise PolicyError(_findings(text, origin, problems)) from None


def load_policy(path: Path) -> Policy:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        message = f"cannot read the policy: {exc.strerror}"
        raise PolicyError([Finding(str(path), (), None, message)]) from exc
    return parse_policy(text, origin=str(path), base_dir=path.parent)
