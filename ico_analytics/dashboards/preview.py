"""Every query in ``grafana-dashboards/`` run on PostgreSQL as Grafana would run it.

Grafana cannot run here; this is how the dashboards are proven: the panel targets, template
variable queries and alert-rule queries are read from the committed JSON, expanded
(``grafana_sql.expand``) for a time range and the selected projects, and run in a read-only
transaction as the ``grafana_reader`` role the Grafana user has.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from ico_analytics.dashboards.build import ALERT_RULES_FILE
from ico_analytics.dashboards.grafana_sql import expand
from ico_core.db import libpq_url
from ico_core.errors import DashboardError

READER_ROLE = "grafana_reader"


@dataclass(frozen=True, slots=True)
class GrafanaQuery:
    """One SQL query found in a dashboard or alert-rule file."""

    file: str
    title: str  # panel title, "variable <name>" or "alert <title>"
    sql: str  # as committed: macros and variables unexpanded
    lookback: timedelta | None = None  # alert rules: evaluated over [now - lookback, now]


@dataclass(frozen=True, slots=True)
class QueryResult:
    query: GrafanaQuery
    columns: list[str]
    rows: list[tuple[Any, ...]]
    seconds: float  # execution and fetch, as the data source would wait for it


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))  # a collapsed row holds its panels


def queries_in(directory: Path) -> list[GrafanaQuery]:
    """The SQL of every panel target, query variable and alert rule in ``directory``."""
    found: list[GrafanaQuery] = []
    for path in sorted(directory.glob("*.json")):
        content = json.loads(path.read_text(encoding="utf-8"))
        if path.name == ALERT_RULES_FILE:
            for group in content["groups"]:
                for rule in group["rules"]:
                    for data in rule["data"]:
                        if "rawSql" in data["model"]:
                            window = timedelta(seconds=data["relativeTimeRange"]["from"])
                            title = f"alert {rule['title']}"
                            found.append(
                                GrafanaQuery(path.name, title, data["model"]["rawSql"], window)
                            )
            continue
        for variable in content.get("templating", {}).get("list", []):
            if variable["type"] == "query":
                found.append(
                    GrafanaQuery(path.name, f"variable {variable['name']}", variable["query"])
                )
        for panel in _panels(content.get("panels", [])):
            for target in panel.get("targets", []):
                if "rawSql" in target:
                    found.append(GrafanaQuery(path.name, panel["title"], target["rawSql"]))
    return found


@dataclass(frozen=True, slots=True)
class PromQuery:
    """One PromQL expression found in a dashboard panel or an alert rule."""

    file: str
    title: str  # panel title or "alert <title>", with the refId when a panel has several
    expr: str  # as committed: Grafana's $__ variables unexpanded
    instant: bool


def promql_in(directory: Path) -> list[PromQuery]:
    """The PromQL of every Prometheus panel target and alert-rule query in ``directory``."""
    found: list[PromQuery] = []
    for path in sorted(directory.glob("*.json")):
        content = json.loads(path.read_text(encoding="utf-8"))
        if path.name == ALERT_RULES_FILE:
            for group in content["groups"]:
                for rule in group["rules"]:
                    for data in rule["data"]:
                        if "expr" in data["model"] and data["datasourceUid"] != "__expr__":
                            model = data["model"]
                            title = f"alert {rule['title']}"
                            found.append(PromQuery(path.name, title, model["expr"], True))
            continue
        for panel in _panels(content.get("panels", [])):
            targets = [t for t in panel.get("targets", []) if "expr" in t]
            for target in targets:
                title = panel["title"]
                if len(targets) > 1:
                    title += f" {target['refId']}"
                found.append(
                    PromQuery(path.name, title, target["expr"], bool(target.get("instant")))
                )
    return found


def _as_reader(conn: psycopg.Connection[Any]) -> None:
    conn.execute("SET TRANSACTION READ ONLY")
    conn.execute(f"SET LOCAL ROLE {READER_ROLE}")


def run_queries(
    database_url: str,
    queries: Sequence[GrafanaQuery],
    *,
    time_from: datetime,
    time_to: datetime,
    projects: Sequence[int] | None = None,
) -> list[QueryResult]:
    """Run each query for the range and projects (``None``: all, as the "All" option does).

    Alert-rule queries use their own lookback before ``time_to``, as Grafana evaluates them.
    """
    results: list[QueryResult] = []
    with psycopg.connect(libpq_url(database_url)) as conn:
        _as_reader(conn)
        if projects is None:
            projects = [
                row[0] for row in conn.execute("SELECT id FROM processed_data.ico_websites")
            ]
        variables: Mapping[str, Sequence[str]] = {"project": [str(p) for p in projects]}
        for q in queries:
            start = time_from if q.lookback is None else time_to - q.lookback
            sql = expand(q.sql, time_from=start, time_to=time_to, variables=variables)
            began = time.perf_counter()
            try:
                cursor = conn.execute(sql.encode())
                rows = cursor.fetchall()
            except psycopg.Error as exc:
                raise DashboardError(f"{q.file}: {q.title}: {exc}") from exc
            columns = [c.name for c in cursor.description or []]
            results.append(QueryResult(q, columns, rows, time.perf_counter() - began))
    return results
