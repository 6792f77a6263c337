"""Offline validation of rendered manifests.

Core kinds: the strict JSON schemas kubernetes-validate ships (unknown fields are errors).
Custom resources: the openAPIV3Schema of the CRDs copied into ``crds/``, made strict the way the
API server's strict field validation is (an object with declared properties takes no others,
unless it preserves unknown fields). Anything else is an unknown kind and an error.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import referencing
import referencing.jsonschema
import yaml

CRD_DIR = Path(__file__).resolve().parent / "crds"


class UnknownKindError(Exception):
    """No schema for this apiVersion and kind."""


def _schema_dir(kube_version: str) -> Any:
    major_minor = ".".join(kube_version.split(".")[:2])
    root = resources.files("kubernetes_validate") / "kubernetes-json-schema"
    return root / f"v{major_minor}.0-local-strict"


@cache
def _core_registry(kube_version: str) -> referencing.Registry[Any]:
    definitions = json.loads((_schema_dir(kube_version) / "_definitions.json").read_text())
    resource = referencing.Resource.from_contents(definitions)
    return resource @ referencing.Registry()


@cache
def _core_validator(kube_version: str, api_version: str, kind: str) -> jsonschema.Validator:
    # kubernetes-validate's file naming: apps/v1 -> apps-v1, rbac.authorization.k8s.io/v1 -> rbac-v1.
    group, _, version = api_version.rpartition("/")
    suffix = f"{group.split('.')[0]}-{version}" if group else version
    path = _schema_dir(kube_version) / f"{kind.lower()}-{suffix}.json"
    if not path.is_file():
        raise UnknownKindError(f"{api_version} {kind}")
    schema = json.loads(path.read_text())
    return jsonschema.Draft202012Validator(schema, registry=_core_registry(kube_version))


def _strict(node: Any) -> Any:
    """An openAPIV3 schema as JSON Schema, closed to undeclared properties."""
    if isinstance(node, list):
        return [_strict(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _strict(v) for k, v in node.items()}
    if out.pop("x-kubernetes-int-or-string", False):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if out.pop("nullable", False) and "type" in out:
        out["type"] = [out["type"], "null"]
    preserve = out.pop("x-kubernetes-preserve-unknown-fields", False)
    if "properties" in out and "additionalProperties" not in out and not preserve:
        out["additionalProperties"] = False
    return {k: v for k, v in out.items() if not k.startswith("x-kubernetes-")}


@cache
def _crd_validators() -> dict[tuple[str, str], jsonschema.Validator]:
    validators: dict[tuple[str, str], jsonschema.Validator] = {}
    for path in sorted(CRD_DIR.glob("*/*.yaml")):
        for crd in yaml.safe_load_all(path.read_text()):
            if not crd or crd.get("kind") != "CustomResourceDefinition":
                continue
            group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
            for version in crd["spec"]["versions"]:
                if not version.get("served"):
                    continue
                schema = _strict(version["schema"]["openAPIV3Schema"])
                # The API server validates metadata itself; the CRD schema leaves it open.
                schema["properties"]["metadata"] = {"type": "object"}
                key = (f"{group}/{version['name']}", kind)
                validators[key] = jsonschema.Draft7Validator(schema)
    return validators


def crd_kinds() -> set[tuple[str, str]]:
    """(apiVersion, kind) of every custom resource version the copied CRDs serve."""
    return set(_crd_validators())


def validate(manifest: dict[str, Any], kube_version: str) -> list[str]:
    """Error messages of ``manifest`` (empty when valid); raises UnknownKindError."""
    api_version, kind = manifest["apiVersion"], manifest["kind"]
    validator = _crd_validators().get((api_version, kind))
    if validator is None:
        validator = _core_validator(kube_version, api_version, kind)
    return [
        f"{kind}/{manifest['metadata'].get('name')}: {'.'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator.iter_errors(manifest)
    ]


def validation_errors(manifests: list[dict[str, Any]], kube_version: str) -> list[str]:
    """Every manifest's errors, an unknown kind being one."""
    errors: list[str] = []
    for manifest in manifests:
        try:
            errors += validate(manifest, kube_version)
        except UnknownKindError as exc:
            errors.append(f"unknown kind {exc}")
    return errors
