"""Stand-in for the Grafana server (no registry serves grafana/grafana here), on port 3000.

It reads the chart's provisioning files where Grafana reads them, resolves the data source's
settings as Grafana does (``$VAR`` / ``${VAR}`` from the environment), runs every provisioned
dashboard panel, template variable and alert-rule query through that data source (with the
project's own Grafana macro expansion, as the grafana_reader role), and answers ``/api/health``
with the result: ``database`` is "ok" only when the data source connects and every query ran.
"""

from __future__ import annotations

import json
import os
import re
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote

import yaml

from ico_analytics.dashboards.preview import queries_in, run_queries

PROVISIONING = Path(os.environ.get("GF_PATHS_PROVISIONING", "/etc/grafana/provisioning"))
VERSION = "12.4.0-standin"
_ENV_REF = re.compile(r"\$\{(\w+)\}|\$(\w+)")
_cache: tuple[float, dict[str, Any]] | None = None


def _expand_env(text: str) -> str:
    """Grafana expands $VAR and ${VAR} in provisioning files from its environment."""
    return _ENV_REF.sub(lambda m: os.environ.get(m.group(1) or m.group(2), ""), text)


def _provisioned(kind: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for path in sorted((PROVISIONING / kind).glob("*.y*ml")):
        doc = yaml.safe_load(_expand_env(path.read_text())) or {}
        items.extend(doc.get(kind if kind != "dashboards" else "providers", []))
    return items


def _database_url(source: dict[str, Any]) -> str:
    if source["type"] not in ("grafana-postgresql-datasource", "postgres"):
        raise ValueError(f"data source type {source['type']} is not PostgreSQL")
    host, _, port = source["url"].partition(":")
    user = quote(source["user"], safe="")
    password = quote(source.get("secureJsonData", {}).get("password", ""), safe="")
    database = source["jsonData"]["database"]
    sslmode = source["jsonData"].get("sslmode", "require")
    return f"postgresql://{user}:{password}@{host}:{port or 5432}/{database}?sslmode={sslmode}"


def check() -> dict[str, Any]:
    """Run every provisioned query through the default data source; cached for 10 s."""
    global _cache
    if _cache and time.monotonic() - _cache[0] < 10:
        return _cache[1]
    result: dict[str, Any] = {"version": VERSION, "database": "failing"}
    try:
        sources = _provisioned("datasources")
        source = next(s for s in sources if s.get("isDefault")) if len(sources) > 1 else sources[0]
        queries = []
        for provider in _provisioned("dashboards"):
            queries.extend(queries_in(Path(provider["options"]["path"])))
        queries.extend(queries_in(PROVISIONING / "alerting"))
        now = datetime.now(UTC)
        results = run_queries(
            _database_url(source), queries, time_from=now - timedelta(hours=6), time_to=now
        )
        result.update(
            database="ok",
            datasource=source["name"],
            queries=len(results),
            rows=sum(len(r.rows) for r in results),
        )
    except Exception as exc:  # reported through /api/health, as Grafana reports its database
        result["error"] = f"{type(exc).__name__}: {exc}"
    _cache = (time.monotonic(), result)
    print(json.dumps(result), flush=True)
    return result


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path.split("?")[0] != "/api/health":
            self.send_error(404)
            return
        result = check()
        body = json.dumps(result).encode()
        self.send_response(200 if result["database"] == "ok" else 503)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # probes every few seconds; the check prints its own result


if __name__ == "__main__":
    ThreadingHTTPServer(
        ("", int(os.environ.get("GF_SERVER_HTTP_PORT", "3000"))), Handler
    ).serve_forever()
