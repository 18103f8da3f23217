"""Checks of the deployment files that no schema expresses: the Dockerfile's targets, the
compose file's references and variables, the Kubernetes manifests' probes and hardening.

Every check is a pure function returning a list of problems (empty when all is well), so a
test shows them all at once and a table of broken inputs can prove that each check bites.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DOCKERFILE = REPO / "Dockerfile"
COMPOSE_FILE = REPO / "docker-compose.yml"
K8S_DIR = REPO / "deploy" / "k8s"
TOOLS_HINT = "run `scripts/tools.sh up`"

# The four services and the port each one listens on (their settings' defaults).
SERVICE_PORTS = {"ingest": 8081, "router": 8082, "classifier": 8083, "notifier": 8084}
TARGETS = (*SERVICE_PORTS, "migrate")
SECRET_WORDS = ("SECRET", "TOKEN", "PASSWORD", "API_KEY", "DATABASE_URL")


class MissingTool(Exception):
    """A validator that ``scripts/tools.sh up`` installs is not there."""


def tools_dir() -> Path:
    bin_dir = os.environ.get("VIGIE_TOOLS_BIN")
    return Path(bin_dir).parent if bin_dir else REPO / ".local" / "tools"


def tool(name: str) -> Path:
    path = tools_dir() / "bin" / name
    if not os.access(path, os.X_OK):
        raise MissingTool(f"{name} is not installed at {path}: {TOOLS_HINT}")
    return path


def tool_file(variable: str, default: Path) -> Path:
    path = Path(os.environ.get(variable) or default)
    if not path.exists():
        raise MissingTool(f"{path} ({variable}) does not exist: {TOOLS_HINT}")
    return path


# ---------------------------------------------------------------------------------------------
# Dockerfile
# ---------------------------------------------------------------------------------------------


@dataclass
class Stage:
    name: str
    base: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def last(self, keyword: str) -> str | None:
        found = [args for key, args in self.instructions if key == keyword]
        return found[-1] if found else None


def instructions(text: str) -> Iterator[tuple[str, str]]:
    """(KEYWORD, arguments) of each instruction, continuation lines joined, comments dropped."""
    logical = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not logical and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            logical += line[:-1] + " "
            continue
        logical += line
        keyword, _, args = logical.partition(" ")
        yield keyword.upper(), args.strip()
        logical = ""


def stages(text: str) -> tuple[dict[str, str], list[Stage]]:
    """The global ARG defaults and the stages, in order."""
    args: dict[str, str] = {}
    found: list[Stage] = []
    for keyword, rest in instructions(text):
        if keyword == "FROM":
            words = [w for w in rest.split() if not w.startswith("--")]
            base = words[0]
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else str(len(found))
            found.append(Stage(name=name, base=base))
        elif found:
            found[-1].instructions.append((keyword, rest))
        elif keyword == "ARG" and "=" in rest:
            key, _, value = rest.partition("=")
            args[key] = value.strip('"')
    return args, found


def _expand(image: str, args: Mapping[str, str]) -> str:
    return re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), m.group(0)), image)


def _exec_form(args: str) -> list[str] | None:
    try:
        value = json.loads(args)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, list) and all(isinstance(v, str) for v in value) else None


def _effective(stage: Stage, by_name: Mapping[str, Stage], keyword: str) -> str | None:
    """The value of ``keyword`` a stage ends with, inherited from the stage it builds on."""
    chain = [stage]
    while chain[-1].base in by_name and len(chain) <= len(by_name):
        chain.append(by_name[chain[-1].base])
    values = [value for value in (s.last(keyword) for s in chain) if value is not None]
    return values[0] if values else None


def dockerfile_problems(text: str) -> list[str]:
    args, found = stages(text)
    by_name = {stage.name: stage for stage in found}
    problems: list[str] = []
    for stage in found:
        image = _expand(stage.base, args)
        tag = image.split("@")[0].rpartition(":")[2] if ":" in image.split("/")[-1] else ""
        if stage.base not in by_name and "@sha256:" not in image and tag in ("", "latest"):
            problems.append(f"stage {stage.name}: base image {image!r} has no pinned tag")
    if not any("uv sync --frozen" in a for s in found for k, a in s.instructions if k == "RUN"):
        problems.append("no `uv sync --frozen`: the build would not follow uv.lock")
    for target in TARGETS:
        if target in by_name:
            problems += _target_problems(target, by_name[target], by_name)
        else:
            problems.append(f"no target {target!r}")
    return problems


def _target_problems(target: str, stage: Stage, by_name: Mapping[str, Stage]) -> list[str]:
    problems: list[str] = []
    user = _effective(stage, by_name, "USER")
    if user is None or user.split(":")[0] in ("0", "root"):
        problems.append(f"target {target}: runs as root (USER {user})")
    command = _exec_form(stage.last("CMD") or "")
    healthcheck = stage.last("HEALTHCHECK")
    port = SERVICE_PORTS.get(target)
    if port is None:
        if command != ["vigie", "db", "upgrade"]:
            problems.append(f"target {target}: CMD {command} is not `vigie db upgrade`")
        if healthcheck != "NONE":
            problems.append(f"target {target}: a one-shot job needs HEALTHCHECK NONE")
        return problems
    if command != ["python", "-m", f"services.{target}"]:
        problems.append(f"target {target}: CMD {command} does not run services.{target}")
    if stage.last("EXPOSE") != str(port):
        problems.append(f"target {target}: EXPOSE {stage.last('EXPOSE')}, not {port}")
    if f"VIGIE_HTTP_PORT={port}" not in (stage.last("ENV") or ""):
        problems.append(f"target {target}: ENV VIGIE_HTTP_PORT={port} is missing")
    if healthcheck is None or "/readyz" not in healthcheck or " CMD " not in healthcheck:
        problems.append(f"target {target}: no HEALTHCHECK on /readyz")
    return problems


# ---------------------------------------------------------------------------------------------
# docker-compose.yml
# ---------------------------------------------------------------------------------------------

# ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error}, ${VAR:+alt}, $VAR;
# `$$` is a literal dollar.
VARIABLE = re.compile(r"(?<!\$)\$(?:\{(?P<braced>\w+)(?P<op>:?[-?+])?[^}]*\}|(?P<bare>\w+))")


def header(text: str) -> str:
    lines = []
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        lines.append(line)
    return "\n".join(lines)


def variables(text: str) -> dict[str, bool]:
    """Every variable the file interpolates -> whether it has a default (``:-``/``-``)."""
    found: dict[str, bool] = {}
    for line in text.splitlines():
        if line.lstrip().startswith("#"):
            continue
        for match in VARIABLE.finditer(line):
            name = match.group("braced") or match.group("bare")
            defaulted = (match.group("op") or "") in (":-", "-")
            found[name] = found.get(name, True) and defaulted
    return found


def variable_problems(text: str) -> list[str]:
    documented = header(text)
    return [
        f"${{{name}}} ({'optional' if defaulted else 'required'}) is not in the header comment"
        for name, defaulted in sorted(variables(text).items())
        if not re.search(rf"\b{re.escape(name)}\b", documented)
    ]


def _depends_on(service: Mapping[str, Any]) -> list[str]:
    value = service.get("depends_on") or []
    return list(value) if isinstance(value, list | dict) else []


def _bind_sources(service: Mapping[str, Any]) -> Iterator[str]:
    for volume in service.get("volumes") or []:
        if isinstance(volume, str):
            source = volume.split(":")[0]
            if source.startswith((".", "/", "~")):
                yield source
        elif isinstance(volume, dict) and volume.get("type") == "bind":
            yield str(volume["source"])


def _named_volumes(service: Mapping[str, Any]) -> Iterator[str]:
    for volume in service.get("volumes") or []:
        if isinstance(volume, str) and ":" in volume and not volume.startswith((".", "/", "~")):
            yield volume.split(":")[0]
        elif isinstance(volume, dict) and volume.get("type") == "volume":
            yield str(volume["source"])


def _literal_secrets(service: Mapping[str, Any]) -> Iterator[str]:
    environment = service.get("environment") or {}
    if isinstance(environment, list):
        environment = dict(item.partition("=")[::2] for item in environment)
    for key, value in environment.items():
        secret = any(word in key.upper() for word in SECRET_WORDS)
        if secret and value not in (None, "") and "${" not in str(value):
            yield key


def compose_problems(model: Mapping[str, Any], *, root: Path, dockerfile: str) -> list[str]:
    """``model`` is the file as YAML (merge keys resolved), paths relative to ``root``."""
    services: Mapping[str, Any] = model.get("services") or {}
    declared_volumes = set(model.get("volumes") or {})
    targets = {stage.name for stage in stages(dockerfile)[1]}
    problems: list[str] = []
    for name, service in sorted(services.items()):
        for dependency in _depends_on(service):
            if dependency not in services:
                problems.append(f"{name}: depends_on {dependency!r}, which is not a service")
        for source in _bind_sources(service):
            if not (root / source).exists():
                problems.append(f"{name}: mounts {source}, which does not exist")
        for volume in _named_volumes(service):
            if volume not in declared_volumes:
                problems.append(f"{name}: volume {volume!r} is not declared")
        for env_file in service.get("env_file") or []:
            path, required = (
                (env_file, True)
                if isinstance(env_file, str)
                else (env_file["path"], env_file.get("required", True))
            )
            if required and not (root / path).exists():
                problems.append(f"{name}: env_file {path} is required but does not exist")
        for key in _literal_secrets(service):
            problems.append(f"{name}: {key} is written in the file; interpolate it")
        if "restart" not in service:
            problems.append(f"{name}: no restart policy")
        build = service.get("build")
        if isinstance(build, dict) and build.get("target") not in (None, *targets):
            problems.append(f"{name}: build target {build['target']!r} is not in the Dockerfile")
    for name in TARGETS:
        service = services.get(name)
        if service is None:
            problems.append(f"no {name} service")
            continue
        build = service.get("build") or {}
        if not isinstance(build, dict) or build.get("target") != name:
            problems.append(f"{name}: does not build the Dockerfile target {name!r}")
        if name not in SERVICE_PORTS:
            continue
        test = (service.get("healthcheck") or {}).get("test")
        if not test or service["healthcheck"].get("disable"):
            problems.append(f"{name}: no health check")
        port = (service.get("environment") or {}).get("VIGIE_HTTP_PORT")
        if port != str(SERVICE_PORTS[name]):
            problems.append(f"{name}: VIGIE_HTTP_PORT {port!r}, not {SERVICE_PORTS[name]}")
        if service.get("restart") not in ("always", "unless-stopped", "on-failure"):
            problems.append(f"{name}: restart {service.get('restart')!r} does not restart it")
    return problems


# ---------------------------------------------------------------------------------------------
# Kubernetes (the output of `kustomize build deploy/k8s`)
# ---------------------------------------------------------------------------------------------


def _by_kind(documents: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in documents if d.get("kind") == kind}


def _matches(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


def _container_problems(where: str, pod: Mapping[str, Any], container: dict[str, Any]) -> list[str]:
    pod_context = pod.get("securityContext") or {}
    context = container.get("securityContext") or {}
    seccomp = (context.get("seccompProfile") or pod_context.get("seccompProfile") or {}).get("type")
    checks = {
        "runAsNonRoot": context.get("runAsNonRoot", pod_context.get("runAsNonRoot")) is True,
        "readOnlyRootFilesystem": context.get("readOnlyRootFilesystem") is True,
        "allowPrivilegeEscalation: false": context.get("allowPrivilegeEscalation") is False,
        "capabilities drop ALL": (context.get("capabilities") or {}).get("drop") == ["ALL"],
        "seccomp RuntimeDefault": seccomp == "RuntimeDefault",
        "resources requests and limits": {"requests", "limits"}
        <= set(container.get("resources") or {}),
    }
    problems = [f"{where}: no {what}" for what, held in checks.items() if not held]
    for variable in container.get("env") or []:
        secret = any(word in variable["name"] for word in SECRET_WORDS)
        if secret and "value" in variable:
            problems.append(f"{where}: {variable['name']} is a literal, not a secretKeyRef")
    return problems


def k8s_problems(documents: list[dict[str, Any]]) -> list[str]:
    secrets = _by_kind(documents, "Secret")
    problems = [f"Secret {name} is shipped: reference it, never carry it" for name in secrets]
    deployments = _by_kind(documents, "Deployment")
    services = _by_kind(documents, "Service").values()
    hpas = _by_kind(documents, "HorizontalPodAutoscaler").values()
    pdbs = _by_kind(documents, "PodDisruptionBudget").values()
    if not _by_kind(documents, "NetworkPolicy"):
        problems.append("no NetworkPolicy")
    for name, port in SERVICE_PORTS.items():
        deployment = deployments.get(f"vigie-{name}")
        if deployment is None:
            problems.append(f"no Deployment vigie-{name}")
            continue
        pod = deployment["spec"]["template"]["spec"]
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        container = pod["containers"][0]
        where = f"Deployment vigie-{name}"
        problems += _container_problems(where, pod, container)
        ports = {p.get("name"): p["containerPort"] for p in container.get("ports") or []}
        env = {e["name"]: e.get("value") for e in container.get("env") or []}
        if ports.get("http") != port or env.get("VIGIE_HTTP_PORT") != str(port):
            problems.append(f"{where}: port {ports} / VIGIE_HTTP_PORT {env.get('VIGIE_HTTP_PORT')}")
        for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
            get = (container.get(probe) or {}).get("httpGet") or {}
            if get.get("path") != path or ports.get(str(get.get("port"))) != port:
                problems.append(f"{where}: {probe} is not GET {path} on port {port}")
        if not any(_matches(s["spec"].get("selector") or {}, labels) for s in services):
            problems.append(f"{where}: no Service selects its pods")
        if not any(h["spec"]["scaleTargetRef"]["name"] == f"vigie-{name}" for h in hpas):
            problems.append(f"{where}: no HorizontalPodAutoscaler")
        if not any(_matches(p["spec"]["selector"]["matchLabels"], labels) for p in pdbs):
            problems.append(f"{where}: no PodDisruptionBudget")
    jobs = _by_kind(documents, "Job")
    job = jobs.get("vigie-migrate")
    if job is None:
        problems.append("no Job vigie-migrate")
    else:
        pod = job["spec"]["template"]["spec"]
        for container in pod["containers"]:
            problems += _container_problems("Job vigie-migrate", pod, container)
    return problems
