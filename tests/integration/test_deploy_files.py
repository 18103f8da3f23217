"""The deployment files, validated by the real tools that ``scripts/tools.sh up`` installs:
kustomize renders deploy/k8s, kubeconform checks every object strictly against the Kubernetes
API schemas (converted offline from the OpenAPI document of k8s.io/kubernetes), compose-go
loads docker-compose.yml as `docker compose config` would and the Compose Specification schema
validates it; then the checks no schema expresses (tests/deploy_validation.py). No image is
built and nothing is started: there is no container engine here.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import jsonschema
import pytest
import yaml

from services.classifier.settings import ClassifierSettings
from services.ingest.settings import IngestSettings
from services.notifier.settings import NotifierSettings
from services.router.policy.config import load_policy
from services.router.settings import RouterSettings
from tests.deploy_validation import (
    COMPOSE_FILE,
    DOCKERFILE,
    K8S_DIR,
    REPO,
    SERVICE_PORTS,
    MissingTool,
    compose_problems,
    dockerfile_problems,
    k8s_problems,
    tool,
    tool_file,
    tools_dir,
    variable_problems,
    variables,
)

pytestmark = pytest.mark.integration

GVK = "x-kubernetes-group-version-kind"

# Placeholders for the variables the compose file requires: not secrets, never printed.
REQUIRED_PLACEHOLDERS = {
    name: "placeholder"
    for name, defaulted in variables(COMPOSE_FILE.read_text(encoding="utf-8")).items()
    if not defaulted
}


def installed(name: str) -> Path:
    try:
        return tool(name)
    except MissingTool as exc:
        pytest.fail(str(exc))


def run(command: list[str | Path], *, stdin: str | None = None, **kwargs: Any) -> str:
    """Run a validator; fail the test with its own message when it says no."""
    result = subprocess.run(
        [str(part) for part in command],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        **kwargs,
    )
    if result.returncode != 0:
        pytest.fail(f"{Path(str(command[0])).name} failed:\n{result.stdout}{result.stderr}")
    output: str = result.stdout
    return output


@pytest.fixture(scope="module")
def rendered() -> str:
    return run([installed("kustomize"), "build", K8S_DIR])


@pytest.fixture(scope="module")
def documents(rendered: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(rendered) if d]


def deployment(documents: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return next(d for d in documents if d["kind"] == "Deployment" and d["metadata"]["name"] == name)


def kubeconform(manifests: str) -> subprocess.CompletedProcess[str]:
    try:
        schemas = tool_file("VIGIE_K8S_SCHEMAS", tools_dir() / "k8s-schemas")
    except MissingTool as exc:
        pytest.fail(str(exc))
    version = os.environ.get("VIGIE_KUBERNETES_VERSION")
    if not version:
        pytest.fail("VIGIE_KUBERNETES_VERSION is not set: run `scripts/tools.sh up`")
    command = [
        str(installed("kubeconform")),
        *("-strict", "-summary", "-output", "text"),
        *("-kubernetes-version", version, "-schema-location", str(schemas)),
        "-",
    ]
    return subprocess.run(
        command, input=manifests, capture_output=True, text=True, timeout=120, check=False
    )


def test_kustomize_output_is_valid_against_the_kubernetes_schemas(
    rendered: str, documents: list[dict[str, Any]]
) -> None:
    result = kubeconform(rendered)

    assert result.returncode == 0, result.stdout + result.stderr
    # Nothing skipped: a kind without a schema would pass unchecked.
    count = len(documents)
    summary = f"{count} resources found parsing stdin - Valid: {count}, Invalid: 0, Errors: 0"
    assert f"{summary}, Skipped: 0" in result.stdout, result.stdout


@pytest.mark.parametrize(
    ("old", "new", "complaint"),
    [
        ("readOnlyRootFilesystem: true", "readOnlyRootFilesytem: true", "readOnlyRootFilesytem"),
        ("maxReplicas: 10", "maxReplicas: ten", "/spec/maxReplicas"),
        ("kind: PodDisruptionBudget", "kind: PodDisruptionBudgets", "could not find schema"),
    ],
)
def test_kubeconform_rejects_a_broken_manifest(
    rendered: str, old: str, new: str, complaint: str
) -> None:
    assert old in rendered
    result = kubeconform(rendered.replace(old, new, 1))

    assert result.returncode == 1
    assert complaint in result.stdout


@pytest.mark.parametrize(
    ("old", "new"),
    [
        # What the API server parses leniently, the converted schemas accept too.
        ("memory: 128Mi", "memory: 134217728"),  # a Quantity given as a number
        ("maxUnavailable: 1", "maxUnavailable: 50%"),  # an IntOrString given as a string
    ],
)
def test_kubeconform_accepts_what_the_api_server_accepts(rendered: str, old: str, new: str) -> None:
    assert old in rendered
    result = kubeconform(rendered.replace(old, new))

    assert result.returncode == 0, result.stdout


def load_converter() -> ModuleType:
    path = REPO / "deploy" / "tools" / "openapi2jsonschema.py"
    spec = importlib.util.spec_from_file_location("openapi2jsonschema", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("kind", "group", "version", "file_name"),
    [
        ("Deployment", "apps", "v1", "deployment-apps-v1.json"),
        ("ConfigMap", "", "v1", "configmap-v1.json"),
        ("NetworkPolicy", "networking.k8s.io", "v1", "networkpolicy-networking-v1.json"),
        (
            "HorizontalPodAutoscaler",
            "autoscaling",
            "v2",
            "horizontalpodautoscaler-autoscaling-v2.json",
        ),
    ],
)
def test_the_converter_names_files_as_kubeconform_looks_them_up(
    kind: str, group: str, version: str, file_name: str
) -> None:
    assert load_converter().kind_file_name(kind, group, version) == file_name


def test_the_converter_keeps_recursive_definitions_finite() -> None:
    gvk = {"group": "example.org", "version": "v1", "kind": "Node"}
    children = {"type": "array", "items": {"$ref": "#/definitions/Node"}}
    definitions = {"Node": {"type": "object", "properties": {"children": children}, GVK: [gvk]}}

    schema = load_converter().kind_schema("Node", gvk, definitions, strict=True)

    assert schema["additionalProperties"] is False
    assert set(schema["definitions"]) == {"Node"}
    validator = jsonschema.Draft4Validator(schema)
    assert validator.is_valid({"children": [{"children": []}]})
    assert not validator.is_valid({"children": [{"childs": []}]})


def test_the_manifests_probe_harden_and_scale_every_service(
    documents: list[dict[str, Any]],
) -> None:
    assert k8s_problems(documents) == []


def test_k8s_problems_finds_a_missing_probe_and_a_literal_secret(
    documents: list[dict[str, Any]],
) -> None:
    broken = json.loads(json.dumps(documents))
    router = deployment(broken, "vigie-router")
    container = router["spec"]["template"]["spec"]["containers"][0]
    del container["readinessProbe"]
    container["env"].append({"name": "VIGIE_ACK_TOKEN_SECRET", "value": "s3cret"})

    assert k8s_problems(broken) == [
        "Deployment vigie-router: VIGIE_ACK_TOKEN_SECRET is a literal, not a secretKeyRef",
        "Deployment vigie-router: readinessProbe is not GET /readyz on port 8082",
    ]


def test_the_policy_configmap_carries_the_shipped_policy_and_resources(
    documents: list[dict[str, Any]], tmp_path: Path
) -> None:
    """config/policy.yaml and config/resources.yaml are what the router loads in the image
    (Dockerfile) and, on Kubernetes, from the vigie-policy ConfigMap: they must not drift, and
    the router must find the directory beside the policy where the ConfigMap is mounted."""
    configmap = next(d for d in documents if d["metadata"]["name"] == "vigie-policy")
    assert set(configmap["data"]) == {"policy.yaml", "resources.yaml"}
    for key in configmap["data"]:
        assert configmap["data"][key] == (REPO / "config" / key).read_text(encoding="utf-8")

    router = deployment(documents, "vigie-router")
    pod = router["spec"]["template"]["spec"]
    env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
    volume = next(v["name"] for v in pod["volumes"] if v.get("configMap", {}).get("name"))
    mount = next(m for m in pod["containers"][0]["volumeMounts"] if m["name"] == volume)
    assert Path(env["VIGIE_POLICY_FILE"]).parent == Path(mount["mountPath"])

    for key, text in configmap["data"].items():
        (tmp_path / key).write_text(text, encoding="utf-8")
    policy = load_policy(tmp_path / Path(env["VIGIE_POLICY_FILE"]).name)
    assert policy.directory is not None and policy.directory.resources


def test_the_compose_file_loads_with_compose_go() -> None:
    environment = {"PATH": os.environ.get("PATH", ""), **REQUIRED_PLACEHOLDERS}

    output = run([installed("composecheck"), COMPOSE_FILE], env=environment)

    assert "valid" in output


def test_compose_go_rejects_a_dependency_on_a_missing_service(tmp_path: Path) -> None:
    broken = tmp_path / "docker-compose.yml"
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    broken.write_text(
        text.replace("    depends_on:\n      postgres:", "    depends_on:\n      pg:")
    )
    environment = {"PATH": os.environ.get("PATH", ""), **REQUIRED_PLACEHOLDERS}

    result = subprocess.run(
        [str(installed("composecheck")), str(broken)],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 1
    assert 'depends on undefined service "pg"' in result.stderr


def compose_model() -> Mapping[str, Any]:
    model: Mapping[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    return model


def test_the_compose_file_follows_the_compose_specification() -> None:
    try:
        schema_path = tool_file("VIGIE_COMPOSE_SCHEMA", tools_dir() / "schemas/compose-spec.json")
    except MissingTool as exc:
        pytest.fail(str(exc))
    schema = json.loads(schema_path.read_text(encoding="utf-8"))
    validator = jsonschema.validators.validator_for(schema)(schema)

    errors = [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator.iter_errors(compose_model())
    ]

    assert errors == []


def test_the_compose_file_references_and_documents_what_it_uses() -> None:
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    dockerfile = DOCKERFILE.read_text(encoding="utf-8")

    assert compose_problems(compose_model(), root=REPO, dockerfile=dockerfile) == []
    assert variable_problems(text) == []


def test_compose_problems_finds_what_the_schema_cannot() -> None:
    model = json.loads(json.dumps(compose_model()))
    model["services"]["router"]["depends_on"]["broker"] = {"condition": "service_healthy"}
    model["services"]["grafana"]["volumes"].append("./deploy/grafana/absent:/x:ro")
    del model["services"]["notifier"]["healthcheck"]
    model["services"]["ingest"]["environment"]["VIGIE_GENERIC_WEBHOOK_SECRET"] = "s3cret"
    model["services"]["classifier"]["build"]["target"] = "clasifier"
    del model["services"]["postgres"]["restart"]

    problems = compose_problems(model, root=REPO, dockerfile=DOCKERFILE.read_text(encoding="utf-8"))

    assert problems == [
        "classifier: build target 'clasifier' is not in the Dockerfile",
        "grafana: mounts ./deploy/grafana/absent, which does not exist",
        "ingest: VIGIE_GENERIC_WEBHOOK_SECRET is written in the file; interpolate it",
        "postgres: no restart policy",
        "router: depends_on 'broker', which is not a service",
        "classifier: does not build the Dockerfile target 'classifier'",
        "notifier: no health check",
    ]


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("      X: ${UNDOCUMENTED:?set it}\n", "${UNDOCUMENTED} (required) is not in the header"),
        ("      X: ${UNDOCUMENTED:-1}\n", "${UNDOCUMENTED} (optional) is not in the header"),
        ("      X: $$UNDOCUMENTED\n", None),
    ],
)
def test_every_variable_must_be_documented_in_the_header(line: str, problem: str | None) -> None:
    text = COMPOSE_FILE.read_text(encoding="utf-8").replace(
        '      VIGIE_HTTP_PORT: "8084"\n', '      VIGIE_HTTP_PORT: "8084"\n' + line
    )

    problems = variable_problems(text)

    assert problems == ([f"{problem} comment"] if problem else [])


def test_the_dockerfile_has_a_non_root_target_per_service() -> None:
    assert dockerfile_problems(DOCKERFILE.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        ("FROM runtime AS router\n", "FROM runtime AS routr\n", "no target 'router'"),
        ("USER 10001:10001", "USER root", "runs as root (USER root)"),
        ("ARG PYTHON_IMAGE=python:3.11-slim", "ARG PYTHON_IMAGE=python", "has no pinned tag"),
        ("EXPOSE 8083", "EXPOSE 8080", "target classifier: EXPOSE 8080, not 8083"),
        ('"services.notifier"]', '"services.router"]', "does not run services.notifier"),
        ("uv sync --frozen", "uv sync", "no `uv sync --frozen`"),
        ("HEALTHCHECK NONE", "", "target migrate: a one-shot job needs HEALTHCHECK NONE"),
    ],
)
def test_dockerfile_problems_finds_a_broken_target(old: str, new: str, problem: str) -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    assert old in text

    problems = dockerfile_problems(text.replace(old, new))

    assert problems and all(problem in p for p in problems), problems


def test_the_ports_everywhere_are_the_services_own() -> None:
    defaults = {
        "ingest": IngestSettings.model_fields["http_port"].default,
        "router": RouterSettings.model_fields["http_port"].default,
        "classifier": ClassifierSettings.model_fields["http_port"].default,
        "notifier": NotifierSettings.model_fields["http_port"].default,
    }

    assert defaults == SERVICE_PORTS
