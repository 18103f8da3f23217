"""Kubernetes OpenAPI v2 document -> kubeconform's offline schema layout.

kubeconform looks a manifest's schema up at
``{dir}/{version}-standalone{-strict}/{kind}{-group}-{apiversion}.json`` (for example
``v1.35.4-standalone-strict/deployment-apps-v1.json``): one self-contained JSON schema per kind.
This converter writes that layout from ``api/openapi-spec/swagger.json`` of the
``k8s.io/kubernetes`` Go module, so that validation needs no download from GitHub.

Each file holds the kind's definition as its root and every definition it reaches under
``definitions`` (local ``#/definitions/...`` references, so recursive types stay finite). Types
the API server parses leniently are widened as it does: an IntOrString accepts a string or an
integer, a Quantity a string or a number. The strict variant forbids properties that a
definition does not declare. Standard library only: it runs before any virtualenv exists.

    python3 deploy/tools/openapi2jsonschema.py SWAGGER_JSON OUT_DIR --kubernetes-version v1.35.4
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

REF_PREFIX = "#/definitions/"
INT_OR_STRING = {"oneOf": [{"type": "string"}, {"type": "integer"}]}
QUANTITY_NAME = "io.k8s.apimachinery.pkg.api.resource.Quantity"
QUANTITY = {"oneOf": [{"type": "string"}, {"type": "number"}]}
GVK_KEY = "x-kubernetes-group-version-kind"

Schema = dict[str, Any]


def kind_file_name(kind: str, group: str, version: str) -> str:
    """The file kubeconform asks for: ``apps/v1 Deployment`` -> ``deployment-apps-v1.json``
    (only the first label of a dotted group is kept, as kubeconform does)."""
    suffix = f"-{group.split('.')[0].lower()}-{version}" if group else f"-{version}"
    return f"{kind.lower()}{suffix.lower()}.json"


def refs(node: Any) -> Iterator[str]:
    """Names of the definitions that ``node`` refers to, at any depth."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(REF_PREFIX):
            yield ref[len(REF_PREFIX) :]
        for value in node.values():
            yield from refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from refs(item)


def reachable(root: str, definitions: Mapping[str, Schema]) -> list[str]:
    """Every definition reachable from ``root`` (itself excluded unless it is recursive)."""
    seen: set[str] = set()
    stack = list(refs(definitions[root]))
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        if name not in definitions:
            raise ValueError(f"{root}: reference to an unknown definition {name!r}")
        seen.add(name)
        stack.extend(refs(definitions[name]))
    return sorted(seen)


def widen(name: str, schema: Schema) -> Schema:
    """The API server's lenient scalars: IntOrString and Quantity."""
    if schema.get("format") == "int-or-string":
        return {**_described(schema), **INT_OR_STRING}
    if name == QUANTITY_NAME:
        return {**_described(schema), **QUANTITY}
    return schema


def _described(schema: Schema) -> Schema:
    return {"description": schema["description"]} if "description" in schema else {}


def strictly(node: Any) -> Any:
    """A copy of ``node`` where every object that lists its properties forbids others."""
    if isinstance(node, list):
        return [strictly(item) for item in node]
    if not isinstance(node, dict):
        return node
    copy = {key: strictly(value) for key, value in node.items()}
    if (
        isinstance(node.get("properties"), dict)
        and "additionalProperties" not in node
        and not node.get("x-kubernetes-preserve-unknown-fields")
    ):
        copy["additionalProperties"] = False
    return copy


def kind_schema(
    name: str, gvk: Mapping[str, str], definitions: Mapping[str, Schema], *, strict: bool
) -> Schema:
    """The standalone schema of one group/version/kind whose root is definition ``name``."""
    root = dict(widen(name, definitions[name]))
    properties = dict(root.get("properties", {}))
    api_version = f"{gvk['group']}/{gvk['version']}" if gvk["group"] else gvk["version"]
    # The file is chosen by apiVersion and kind: pin them so that a copied schema cannot lie.
    if "apiVersion" in properties:
        properties["apiVersion"] = {**properties["apiVersion"], "enum": [api_version]}
    if "kind" in properties:
        properties["kind"] = {**properties["kind"], "enum": [gvk["kind"]]}
    if properties:
        root["properties"] = properties
    used = {ref: widen(ref, definitions[ref]) for ref in reachable(name, definitions)}
    schema: Schema = {"$schema": "http://json-schema.org/draft-04/schema#", **root}
    if used:
        schema["definitions"] = used
    return strictly(schema) if strict else schema


def convert(swagger: Mapping[str, Any], out_dir: Path, *, kubernetes_version: str) -> int:
    """Write both variants (``-standalone`` and ``-standalone-strict``); return the number of
    kinds written."""
    definitions: dict[str, Schema] = swagger["definitions"]
    written: dict[str, str] = {}
    for name, definition in sorted(definitions.items()):
        for gvk in definition.get(GVK_KEY, []):
            file_name = kind_file_name(gvk["kind"], gvk["group"], gvk["version"])
            if written.get(file_name, name) != name:
                raise ValueError(f"{file_name}: both {written[file_name]} and {name}")
            written[file_name] = name
            for strict, suffix in ((False, ""), (True, "-strict")):
                target = out_dir / f"{kubernetes_version}-standalone{suffix}" / file_name
                target.parent.mkdir(parents=True, exist_ok=True)
                schema = kind_schema(name, gvk, definitions, strict=strict)
                target.write_text(json.dumps(schema, separators=(",", ":")), encoding="utf-8")
    return len(written)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("swagger", type=Path, help="api/openapi-spec/swagger.json")
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--kubernetes-version", required=True, help="e.g. v1.35.4")
    args = parser.parse_args(argv)
    if not args.kubernetes_version.startswith("v"):
        parser.error("--kubernetes-version must start with 'v' (v1.35.4)")
    swagger = json.loads(args.swagger.read_text(encoding="utf-8"))
    count = convert(swagger, args.out_dir, kubernetes_version=args.kubernetes_version)
    print(f"{count} kinds written under {args.out_dir}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
