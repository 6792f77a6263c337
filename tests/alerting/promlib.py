"""Real Prometheus, promtool and Alertmanager for the alerting tests.

Built from source with the Go toolchain (only the Go module proxy is reachable here) into the
git-ignored ``.cache/``, with a stamp so later runs skip the build, as ``tests/chart/chartlib``
builds helm. No web UI assets are needed. Servers listen on 127.0.0.1 only.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from ico_analytics.services.process import free_ports
from tests.chart.chartlib import Helm, Manifest

REPO_ROOT = Path(__file__).resolve().parents[2]
#: Prometheus 3.x is published to the module proxy as v0.3xx.y (3.16.0 here).
PROMETHEUS_VERSION = "v0.316.0"
#: Alertmanager 0.32 and later embed a built web UI that their module lacks (``go install``
#: fails on ``ui/app/dist``); 0.31.1 still carries generated assets and builds.
ALERTMANAGER_VERSION = "v0.31.1"
BUILD_TIMEOUT = 3600.0


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
        pytest.fail(f"building {module}@{version} failed:\n{result.stdout}\n{result.stderr}")
    stamp.write_text(f"built in {time.monotonic() - began:.0f} s\n")
    return binaries


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


def chart_monitoring(helm: Helm, *set_values: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The chart's rule groups and Alertmanager configuration as rendered without the
    Prometheus Operator (its scrape ConfigMap and Alertmanager Secret)."""
    docs: list[Manifest] = helm.render(set_values=set_values)
    (scrape,) = [
        d
        for d in docs
        if d["kind"] == "ConfigMap" and d["metadata"]["name"].endswith("-prometheus")
    ]
    (secret,) = [
        d for d in docs if d["kind"] == "Secret" and d["metadata"]["name"].endswith("-alertmanager")
    ]
    rules = yaml.safe_load(scrape["data"]["rules.yaml"])
    config = yaml.safe_load(secret["stringData"]["alertmanager.yaml"])
    return rules, config


@dataclass
class Server:
    """A started Prometheus or Alertmanager on 127.0.0.1."""

    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def logs(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


@contextmanager
def serving(binary: Path, args: list[str], port: int, workdir: Path) -> Iterator[Server]:
    """Run ``binary`` until its ``/-/ready`` answers; stop it (SIGTERM, then SIGKILL) after."""
    log = workdir / f"{binary.name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(binary), *args], cwd=workdir, stdout=out, stderr=subprocess.STDOUT
        )
    server = Server(f"http://127.0.0.1:{port}", process, log)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, f"{binary.name} exited:\n{server.logs()}"
            try:
                if httpx.get(f"{server.url}/-/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, f"{binary.name} not ready:\n{server.logs()}"
            time.sleep(0.2)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def alertmanager(
    binary: Path, config: dict[str, Any], workdir: Path, port: int | None = None
) -> Iterator[Server]:
    """An Alertmanager on 127.0.0.1 (on ``port``, or a free one)."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "alertmanager.yml").write_text(yaml.safe_dump(config))
    if port is None:
        (port,) = free_ports(1)
    args = [
        "--config.file=alertmanager.yml",
        f"--storage.path={workdir / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",  # no gossip port: a single, loopback-only instance
    ]
    with serving(binary, args, port, workdir) as server:
        yield server


@contextmanager
def prometheus(
    binary: Path,
    *,
    scrape_configs: list[dict[str, Any]],
    rules: dict[str, Any],
    alertmanager_url: str,
    workdir: Path,
) -> Iterator[Server]:
    """A Prometheus scraping and evaluating every second, alerting ``alertmanager_url``."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "rules.yml").write_text(yaml.safe_dump(rules))
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": ["rules.yml"],
        "alerting": {
            "alertmanagers": [{"static_configs": [{"targets": [alertmanager_url.split("//")[1]]}]}]
        },
        "scrape_configs": scrape_configs,
    }
    (workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
    (port,) = free_ports(1)
    args = [
        "--config.file=prometheus.yml",
        f"--storage.tsdb.path={workdir / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    with serving(binary, args, port, workdir) as server:
        yield server


def query(server: Server, expr: str) -> list[dict[str, Any]]:
    """An instant query's result vector (raises with Prometheus's error)."""
    response = httpx.get(f"{server.url}/api/v1/query", params={"query": expr}, timeout=10)
    body = response.json()
    assert body["status"] == "success", (expr, body)
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


@contextmanager
def http_receiver(reply: bytes = b"") -> Iterator[tuple[str, queue.Queue[dict[str, Any]]]]:
    """An HTTP receiver on 127.0.0.1 answering each JSON POST 200 with ``reply``: its URL and
    the bodies received. Anything but a JSON POST is answered 400, which Alertmanager logs."""
    received: queue.Queue[dict[str, Any]] = queue.Queue()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if self.headers.get("Content-Type", "").split(";")[0] != "application/json":
                self.send_response(400)
                self.end_headers()
                return
            received.put(json.loads(body))
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/alerts", received
    finally:
        server.shutdown()
        server.server_close()


def post_alerts(server: Server, alerts: list[dict[str, Any]], valid_for: float = 240) -> None:
    """POST firing alerts to Alertmanager's v2 API as Prometheus does: ``startsAt`` now and
    ``endsAt`` a few evaluation intervals ahead, renewed by each later POST."""
    now = datetime.now(UTC)
    body = [
        {
            "startsAt": now.isoformat(),
            "endsAt": (now + timedelta(seconds=valid_for)).isoformat(),
            "generatorURL": "http://prometheus.example/graph",
            **alert,
        }
        for alert in alerts
    ]
    response = httpx.post(f"{server.url}/api/v2/alerts", json=body, timeout=10)
    assert response.status_code == 200, response.text
