"""Helpers of the chart tests: the chart rendered per scenario with helm (``tests/tools``
builds it), against a pinned Kubernetes version, the same one the manifests are validated
against.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
CHART = REPO_ROOT / "helm" / "ico-analytics"
CI_VALUES = sorted((CHART / "ci").glob("*-values.yaml"))
#: The Kubernetes version the chart renders for and is validated against (kubernetes-validate).
KUBE_VERSION = "1.33.0"
RELEASE = "ico-analytics"
NAMESPACE = "analytics"
MONITORING_API = "monitoring.coreos.com/v1"

Manifest = dict[str, Any]


@dataclass(frozen=True)
class Helm:
    binary: Path
    #: The Kubernetes version to render for (``.Capabilities.KubeVersion``).
    kube_version: str = KUBE_VERSION

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.binary), *args], capture_output=True, text=True, check=False
        )

    def template(
        self,
        *,
        values: Sequence[Path] = (),
        set_values: Sequence[str] = (),
        api_versions: Sequence[str] = (),
        chart: Path = CHART,
    ) -> subprocess.CompletedProcess[str]:
        args = ["template", RELEASE, str(chart), "--namespace", NAMESPACE]
        args += ["--kube-version", self.kube_version]
        for path in values:
            args += ["--values", str(path)]
        for assignment in set_values:
            args += ["--set", assignment]
        for api in api_versions:
            args += ["--api-versions", api]
        return self.run(*args)

    def render(
        self,
        *,
        values: Sequence[Path] = (),
        set_values: Sequence[str] = (),
        api_versions: Sequence[str] = (),
        chart: Path = CHART,
    ) -> list[Manifest]:
        result = self.template(
            values=values, set_values=set_values, api_versions=api_versions, chart=chart
        )
        assert result.returncode == 0, result.stderr
        return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@dataclass(frozen=True)
class Scenario:
    name: str
    values: tuple[Path, ...]
    api_versions: tuple[str, ...]


def scenarios() -> list[Scenario]:
    """The chart's defaults and each ci/*-values.yaml; monitoring also with its API served."""
    found = [Scenario("defaults", (), ())]
    for path in CI_VALUES:
        name = path.name.removesuffix("-values.yaml")
        found.append(Scenario(name, (path,), ()))
        if name == "monitoring":
            found.append(Scenario(f"{name}+api", (path,), (MONITORING_API,)))
    return found


def by_kind(docs: list[Manifest], kind: str) -> list[Manifest]:
    return [d for d in docs if d["kind"] == kind]


def one(docs: list[Manifest], kind: str, name: str) -> Manifest:
    matches = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(matches) == 1, f"{kind}/{name}: {len(matches)} found"
    return matches[0]


def env_of(container: Manifest) -> dict[str, Any]:
    """name -> value, or the valueFrom mapping for references."""
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())
