"""The programs the tests run, made here before pytest starts (``make test`` runs
``python -m tests.tools``): a cold build takes about 10 minutes on 2 cores, time that would
otherwise count against the first test's timeout, and the test run's two workers would both
start the same build. A test that finds a program missing still makes it.

- Go programs, built from source (only the Go module proxy is reachable here) into the
  git-ignored ``.cache/<name>/<version>/``, with a stamp so later runs skip the build: helm for
  the chart tests; Prometheus, promtool, Alertmanager and amtool for the alerting tests (no web
  UI assets are needed).
- Kafka's jars and the Apicurio registry's runnable build, from Maven Central into the same
  cache (``ico_analytics.services``).
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from ico_analytics.services.kafka import kafka_libs
from ico_analytics.services.registry import apicurio_runner
from ico_core.settings import get_settings

REPO_ROOT = Path(__file__).resolve().parents[1]
HELM_VERSION = "v3.22.0"
#: Prometheus 3.x is published to the module proxy as v0.3xx.y (3.16.0 here).
PROMETHEUS_VERSION = "v0.316.0"
#: Alertmanager 0.32 and later embed a built web UI that their module lacks (``go install``
#: fails on ``ui/app/dist``); 0.31.1 still carries generated assets and builds.
ALERTMANAGER_VERSION = "v0.31.1"
BUILD_TIMEOUT = 3600.0


class ToolBuildError(RuntimeError):
    """``go install`` of a test tool failed."""


def go_install(
    name: str, module: str, version: str, commands: list[str], tags: str = ""
) -> dict[str, Path]:
    """``go install module/cmd/<c>@version`` for each command, once: ``.cache/<name>/<version>``."""
    cache = REPO_ROOT / ".cache"
    bin_dir = cache / name / version
    stamp = bin_dir / ".built"
    binaries = {c: bin_dir / c for c in commands}
    if stamp.exists() and all(b.exists() for b in binaries.values()):
        return binaries
    go = cache / "go"
    env = {
        **os.environ,
        "GOBIN": str(bin_dir),
        "GOPATH": str(go),
        "GOMODCACHE": str(go / "mod"),
        "GOCACHE": str(go / "build"),
        # Read-only module cache files would make `rm -rf .cache` fail; no VCS stamping of a
        # module build.
        "GOFLAGS": "-modcacherw -buildvcs=false",
        "CGO_ENABLED": "0",
    }
    began = time.monotonic()
    result = subprocess.run(
        [
            *("nice", "-n", "10", "go", "install", f"-tags={tags}"),
            *(f"{module}/cmd/{c}@{version}" for c in commands),
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=BUILD_TIMEOUT,
    )
    if result.returncode != 0 or not all(b.exists() for b in binaries.values()):
        raise ToolBuildError(
            f"building {module}@{version} failed:\n{result.stdout}\n{result.stderr}"
        )
    stamp.write_text(f"built in {time.monotonic() - began:.0f} s\n")
    return binaries


def helm_binary() -> Path:
    return go_install("helm", "helm.sh/helm/v3", HELM_VERSION, ["helm"])["helm"]


def prometheus_binaries() -> dict[str, Path]:
    return go_install(
        "prometheus",
        "github.com/prometheus/prometheus",
        PROMETHEUS_VERSION,
        ["prometheus", "promtool"],
        # Static targets and the chart's kubernetes_sd_configs are all the tests use: leaving
        # out the cloud service discoveries halves a cold build (3.1 min against 6.6 here).
        tags="remove_all_sd,enable_kubernetes_sd",
    )


def alertmanager_binaries() -> dict[str, Path]:
    return go_install(
        "alertmanager",
        "github.com/prometheus/alertmanager",
        ALERTMANAGER_VERSION,
        ["alertmanager", "amtool"],
    )


def kafka_jars() -> Path:
    return kafka_libs(get_settings().cache_dir)


def registry_runner() -> Path:
    return apicurio_runner(get_settings().cache_dir)


def main() -> None:
    builds: tuple[Callable[[], Path | dict[str, Path]], ...] = (
        helm_binary,
        prometheus_binaries,
        alertmanager_binaries,
        kafka_jars,
        registry_runner,
    )
    for build in builds:
        began = time.monotonic()
        build()
        print(f"{build.__name__}: ready in {time.monotonic() - began:.0f} s")


if __name__ == "__main__":
    main()
