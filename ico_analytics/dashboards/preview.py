"""Every query in ``grafana-dashboards/`` run on PostgreSQL as Grafana would run it.

Grafana cannot run here; this is how the dashboards are proven: the panel targets, template
variable queries and alert-rule queries are read from the committed JSON, expanded
(``grafana_sql.expand``) for a time range and the selected projects, and run in a read-only
transaction as the ``grafana_reader`` role the Grafana user has.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

import psycopg

from ico_analytics.dashboards.build import ALERT_RULES_FILE
from ico_analytics.dashboards.grafana_sql import expand, panel_interval
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
    max_data_points: int | None = None  # the panel's, which sets $__interval
    min_interval: timedelta = timedelta(0)  # the panel's lower bound of $__interval

    @classmethod
    def of(
        cls,
        file: str,
        title: str,
        sql: str,
        options: Mapping[str, Any],
        lookback: timedelta | None = None,
    ) -> GrafanaQuery:
        """The query ``sql`` of a panel (or alert-rule query) whose query options (its
        ``maxDataPoints`` and minimum ``interval``) are in ``options``."""
        interval = _duration(options.get("interval") or "0s")
        return cls(file, title, sql, lookback, options.get("maxDataPoints"), interval)

    def interval(self, time_from: datetime, time_to: datetime) -> timedelta | None:
        """``$__interval`` of the panel over the range; None if it sets no maxDataPoints."""
        if self.max_data_points is None:
            return None
        return panel_interval(time_from, time_to, self.max_data_points, self.min_interval)


@dataclass(frozen=True, slots=True)
class QueryResult:
    query: GrafanaQuery
    columns: list[str]
    rows: list[tuple[Any, ...]]
    seconds: float  # execution and fetch, as the data source would wait for it


_DURATION = re.compile(r"(\d+)(ms|s|m|h|d)")
_UNIT = {
    "ms": timedelta(milliseconds=1),
    "s": timedelta(seconds=1),
    "m": timedelta(minutes=1),
    "h": timedelta(hours=1),
    "d": timedelta(days=1),
}


def _duration(text: str) -> timedelta:
    """A panel's minimum interval ("1m", "30s"); Grafana's other forms are not used here."""
    match = _DURATION.fullmatch(text)
    if match is None:
        raise DashboardError(f"unsupported interval: {text!r}")
    return int(match.group(1)) * _UNIT[match.group(2)]


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))  # a collapsed row holds its panels


class _Query(NamedTuple):
    """A query model found in a dashboard file: a panel target or an alert rule's query."""

    file: str
    title: str  # panel title, or "alert <title>"
    model: dict[str, Any]
    lookback: timedelta | None  # alert rules: evaluated over [now - lookback, now]
    siblings: int  # queries of the same panel or rule with the same language
    panel: dict[str, Any]  # the panel, or the alert rule's query


def _queries(directory: Path, language: str) -> Iterator[_Query]:
    """Every panel target and alert-rule query in ``directory`` written in ``language``
    (the model's key: ``rawSql`` or ``expr``)."""
    for path in sorted(directory.glob("*.json")):
        content = json.loads(path.read_text(encoding="utf-8"))
        if path.name == ALERT_RULES_FILE:
            for group in content["groups"]:
                for rule in group["rules"]:
                    data = [
                        d
                        for d in rule["data"]
                        if language in d["model"] and d["datasourceUid"] != "__expr__"
                    ]
                    for item in data:
                        window = timedelta(seconds=item["relativeTimeRange"]["from"])
                        title = f"alert {rule['title']}"
                        yield _Query(path.name, title, item["model"], window, len(data), item)
            continue
        for panel in _panels(content.get("panels", [])):
            targets = [t for t in panel.get("targets", []) if language in t]
            for target in targets:
                yield _Query(path.name, panel["title"], target, None, len(targets), panel)


def queries_in(directory: Path) -> list[GrafanaQuery]:
    """The SQL of every panel target, query variable and alert rule in ``directory``."""
    found = [
        GrafanaQuery.of(q.file, q.title, q.model["rawSql"], q.panel, q.lookback)
        for q in _queries(directory, "rawSql")
    ]
    for path in sorted(directory.glob("*.json")):
        content = json.loads(path.read_text(encoding="utf-8"))
        for variable in content.get("templating", {}).get("list", []):
            if variable["type"] == "query":
                found.append(
                    GrafanaQuery(path.name, f"variable {variable['name']}", variable["query"])
                )
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
    return [
        PromQuery(
            q.file,
            f"{q.title} {q.model['refId']}" if q.siblings > 1 and q.lookback is None else q.title,
            q.model["expr"],
            q.lookback is not None or bool(q.model.get("instant")),
        )
        for q in _queries(directory, "expr")
    ]


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
            sql = expand(
                q.sql,
                time_from=start,
                time_to=time_to,
                variables=variables,
                interval=q.interval(start, time_to),
            )
            began = time.perf_counter()
            try:
                cursor = conn.execute(sql.encode())
                rows = cursor.fetchall()
            except psycopg.Error as exc:
                raise DashboardError(f"{q.file}: {q.title}: {exc}") from exc
            columns = [c.name for c in cursor.description or []]
            results.append(QueryResult(q, columns, rows, time.perf_counter() - began))
    return results
