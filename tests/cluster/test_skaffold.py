"""The `skaffold dev` loop, done as `skaffold.yaml` declares it (skaffold itself is refused by
the Go module proxy, so this test reads the file and does each step):

1. the `dev` profile's JSON patches applied to the config;
2. the artifact built from its context and Dockerfile, with skaffold's local-build rule: no
   registry, so no digest, and the manifests name the image by a tag made of its image ID
   (`skaffold-build.sh`);
3. `helm upgrade --install` of the release with its namespace, values files, `setValues` and
   `setValueTemplates` (the image's repo, tag and, empty, digest);
4. the port-forward it lists, with skaffold's fallback to a free port when the local one is
   taken;
5. a code change in the build context: rebuilt, redeployed, and the new image rolls out.

One addition, as in every e2e release: Kafka is the in-cluster fixture
(`kafka.enabled=false`), since no Strimzi operator runs here.
"""

from __future__ import annotations

import json
import re
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

import jsonpatch
import yaml

from tests.cluster.kube import (
    BIN,
    E2E_DIR,
    REPO_ROOT,
    get_json,
    kubectl,
    local_port,
    port_forward,
    record,
    run,
    wait_until,
)

PROFILE = "dev"


def _config(profile: str) -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load((REPO_ROOT / "skaffold.yaml").read_text())
    [chosen] = [p for p in config["profiles"] if p["name"] == profile]
    patched: dict[str, Any] = jsonpatch.apply_patch(config, chosen["patches"])
    return patched


def _template(value: object, variables: dict[str, str]) -> str:
    """A setValueTemplates value: `{{.NAME}}` is the variable, anything else itself."""
    text = str(value)
    match = re.fullmatch(r"\{\{\s*\.(\w+)\s*\}\}", text)
    return variables[match.group(1)] if match else text


def _build(context: Path, artifact: dict[str, Any]) -> str:
    """Build the artifact as skaffold's local builder would; the image ID tag."""
    started = time.monotonic()
    out = run(
        [E2E_DIR / "skaffold-build.sh", "build", context, artifact["docker"]["dockerfile"],
         artifact["image"]],
        timeout=900,
    ).stdout  # fmt: skip
    record(event="skaffold-build", seconds=round(time.monotonic() - started, 1))
    return out.strip().splitlines()[-1]


def _deploy(release: dict[str, Any], artifact: dict[str, Any], tag: str) -> None:
    name = artifact["image"].replace("-", "_").replace("/", "_")
    variables = {
        f"IMAGE_REPO_{name}": artifact["image"],
        f"IMAGE_TAG_{name}": tag,
        f"IMAGE_DIGEST_{name}": "",
    }
    argv: list[str | Path] = [BIN / "helm", "upgrade", "--install", release["name"],
                              REPO_ROOT / release["chartPath"], "-n", release["namespace"]]  # fmt: skip
    if release.get("createNamespace"):
        argv.append("--create-namespace")
    for values in release.get("valuesFiles", []):
        argv += ["--values", REPO_ROOT / values]
    for key, value in release.get("setValues", {}).items():
        argv += ["--set", f"{key}={str(value).lower() if isinstance(value, bool) else value}"]
    for key, value in release["setValueTemplates"].items():
        argv += ["--set", f"{key}={_template(value, variables)}"]
    ns = release["namespace"]
    argv += ["--set", "kafka.enabled=false",
             "--set", f"kafka.externalBootstrapServers=kafka.{ns}.svc.cluster.local:9092",
             "--wait", "--timeout", "8m"]  # fmt: skip
    started = time.monotonic()
    run(argv, timeout=500)
    record(event="skaffold-deploy", seconds=round(time.monotonic() - started, 1))


def _images(ns: str) -> set[str]:
    """The images of the release's running app containers (not the third-party ones)."""
    pods = json.loads(kubectl("-n", ns, "get", "pods", "-o", "json"))["items"]
    return {
        c["image"]
        for p in pods
        if p["status"].get("phase") == "Running"
        for c in p["spec"]["containers"]
        if "ico-analytics:" in c["image"]
    }


def test_skaffold_dev_loop_builds_deploys_forwards_and_rolls_out_a_code_change(
    cluster: None, tmp_path: Path
) -> None:
    config = _config(PROFILE)
    [artifact] = config["build"]["artifacts"]
    [release] = config["deploy"]["helm"]["releases"]
    [forward] = config["portForward"]
    ns = release["namespace"]
    assert config["build"]["local"]["push"] is False
    # The build context as the working tree has it (tracked files only, as .dockerignore keeps).
    context = tmp_path / "context"
    tracked = run(["git", "-C", REPO_ROOT, "ls-files"], timeout=60).stdout.splitlines()
    for path in tracked:
        source = REPO_ROOT / path
        if source.is_file():
            (context / path).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, context / path)
    context = context / artifact["context"]
    tags: list[str] = []
    kubectl("create", "namespace", ns)
    try:
        kubectl("-n", ns, "apply", "-f", str(E2E_DIR / "manifests" / "kafka.yaml"))
        kubectl("-n", ns, "rollout", "status", "statefulset/kafka", "--timeout=180s", timeout=190)
        tags.append(_build(context, artifact))
        _deploy(release, artifact, tags[0])
        assert _images(ns) == {f"{artifact['image']}:{tags[0]}"}

        target = f"{forward['resourceType']}/{forward['resourceName']}"
        port = local_port(forward["localPort"])  # skaffold too takes a free one when it is busy
        with port_forward(forward["namespace"], target, forward["port"], port) as url:
            body = wait_until(
                "Grafana through skaffold's port-forward",
                lambda: get_json(f"{url}/api/health"),
                timeout=90,
            )
        assert body["database"] == "ok", body

        # The code change a developer saves; skaffold rebuilds and redeploys.
        mark = f"dev loop change {uuid.uuid4()}"
        with (context / "ico_analytics" / "__init__.py").open("a") as f:
            f.write(f"# {mark}\n")
        tags.append(_build(context, artifact))
        assert tags[1] != tags[0]
        _deploy(release, artifact, tags[1])
        new_image = f"{artifact['image']}:{tags[1]}"
        wait_until("only the new image running", lambda: _images(ns) == {new_image}, timeout=300)
        source = kubectl("-n", ns, "exec", f"{release['name']}-dataflow-0", "-c", "dataflow",
                         "--", "python", "-c",
                         "import ico_analytics; print(open(ico_analytics.__file__).read())")  # fmt: skip
        assert mark in source
    finally:
        run([BIN / "helm", "uninstall", release["name"], "-n", ns, "--wait"], timeout=300,
            check=False)  # fmt: skip
        run(["kubectl", "delete", "namespace", ns, "--timeout=180s"], timeout=190, check=False)
        run([E2E_DIR / "skaffold-build.sh", "remove", artifact["image"], *tags], timeout=120,
            check=False)  # fmt: skip
