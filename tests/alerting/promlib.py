"""Real Prometheus and Alertmanager servers for the alerting tests (``tests/tools`` builds
them), the chart's monitoring configuration, and a webhook receiver. Servers listen on
127.0.0.1 only.
"""

from __future__ import annotations

import json
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
import yaml

from ico_analytics.services.process import free_ports
from tests.chart.chartlib import Helm, Manifest


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
