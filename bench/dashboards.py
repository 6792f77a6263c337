"""How long Grafana waits for each dashboard query, on a week of traffic.

The embedded pipeline stores the day of seeded traffic ending on the last whole hour at
``events_per_minute`` (1,000 by default: 1.44 M events a day), then the day is copied to each of the ``days - 1`` days
before it, shifted in time with new event and session ids (``INSERT … SELECT`` inside
PostgreSQL: a week is ~10 M events in minutes rather than the pipeline's quarter hour a day),
the sessions' rollups are recomputed for every hour as the sessions refresher would, and the
daily KPIs are refreshed as ``maintain`` would. Every panel, variable and alert-rule
query of ``grafana-dashboards/`` then runs as Grafana would, as the read-only Grafana role, over
the last 1 hour, 24 hours and 7 days for all projects and over 24 hours for one project; each
is run ``RUNS`` times after a warm-up and the p95 is reported (a dashboard refresh sees warm
caches).
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from bytewax.testing import run_main
from psycopg import sql

from bench.stack import Stack, fresh_database
from dataflows.pipeline import build_flow
from dataflows.sinks import PostgresSink
from dataflows.sources import EmbeddedSource
from ico_analytics.dashboards import DASHBOARDS_DIR
from ico_analytics.dashboards.preview import queries_in, run_queries
from ico_core.db import query, refresh_kpis
from ico_core.settings import Settings

SEED = 23
DAY = timedelta(days=1)
RUNS = 5
#: (label, hours back from now, projects: None for all)
RANGES: tuple[tuple[str, float, list[int] | None], ...] = (
    ("1 h", 1, None),
    ("24 h", 24, None),
    ("7 d", 24 * 7, None),
    ("24 h, 1 project", 24, [1]),
)
#: What the dataflow writes, copied day by day; ids that name an event or a session are
#: renamed per copy (user ids kept: the same people come back on other days).
COPIED = (
    "raw_data.clickstream_events",
    "raw_data.user_registrations",
    "raw_data.conversions",
    "raw_data.dead_letters",
    "analytics.window_aggregates",
    "analytics.anomalies",
    "analytics.sessions",
    "analytics.leads",
    # derived from the raw rows, which are copied as they are: the copies' are the same
    "analytics.minute_counts",
    "analytics.five_minute_counts",
    "analytics.page_load_histograms",
)
_OFFSETS_PER_COPY = 10_000_000_000  # dead letters' Kafka offsets, kept unique per copy


@dataclass(frozen=True)
class DashboardTimings:
    days: int
    events_per_minute: int
    fill_seconds: float
    copy_seconds: float
    refresh_seconds: float
    raw_rows: int
    #: (file, title) -> range label -> (rows returned, p95 milliseconds)
    queries: dict[tuple[str, str], dict[str, tuple[int, float]]]

    def as_json(self) -> dict[str, Any]:
        return {
            "days": self.days,
            "events_per_minute": self.events_per_minute,
            "fill_seconds": self.fill_seconds,
            "copy_seconds": self.copy_seconds,
            "refresh_seconds": self.refresh_seconds,
            "raw_rows": self.raw_rows,
            "queries": [
                {"file": file, "title": title, "ranges": {k: list(v) for k, v in by.items()}}
                for (file, title), by in self.queries.items()
            ],
        }


def _fill_day(url: str, start: datetime, events_per_minute: int) -> None:
    settings = Settings(
        EVENTS_PER_MINUTE=0,  # unpaced: simulated time runs at events_per_minute
        GENERATOR_EVENTS=events_per_minute * 24 * 60,
        GENERATOR_SEED=SEED,
        GENERATOR_START_MS=int(start.timestamp() * 1000),
    )
    source = EmbeddedSource(settings, simulated_events_per_minute=events_per_minute)
    run_main(build_flow(source, PostgresSink(url), settings=settings))


def _copy_expression(column: str, data_type: str) -> sql.Composable:
    ident = sql.Identifier(column)
    if data_type == "uuid" and column != "user_id":
        return sql.SQL("md5({}::text || ':copy' || back)::uuid").format(ident)
    if data_type == "timestamp with time zone":
        return sql.SQL("{} - back * interval '1 day'").format(ident)
    if column == "source_offset":
        return sql.SQL("{} + back * %(offsets)s").format(ident)
    return ident


def _copy_days_back(url: str, start: datetime, days: int) -> None:
    """The day from ``start`` (a whole hour, so its windows are whole too) copied to each of
    the ``days - 1`` days before it."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "SELECT raw_data.ensure_daily_partitions(%s, %s)",
            (start.date() - timedelta(days=days), start.date() + timedelta(days=1)),
        )
        # The filled day's page load day rows are of two partial UTC days: not copied, all days
        # recomputed from their hours once the hours are (_page_load_days).
        conn.execute("DELETE FROM analytics.page_load_histograms WHERE period = '1 day'")
        for table in COPIED:
            schema, name = table.split(".")
            columns = conn.execute(
                "SELECT column_name, data_type FROM information_schema.columns"
                " WHERE table_schema = %s AND table_name = %s AND is_identity = 'NO'"
                " ORDER BY ordinal_position",
                (schema, name),
            ).fetchall()
            at = sql.Identifier(_time_column(columns))
            # One statement per table: it reads the original day only, not its own copies.
            statement = sql.SQL(
                "INSERT INTO {} ({}) SELECT {} FROM {}"
                " CROSS JOIN generate_series(1, %(copies)s) AS back"
                " WHERE {} >= %(since)s AND {} < %(until)s"
            ).format(
                sql.Identifier(schema, name),
                sql.SQL(", ").join(sql.Identifier(c) for c, _ in columns),
                sql.SQL(", ").join(_copy_expression(c, t) for c, t in columns),
                sql.Identifier(schema, name),
                at,
                at,
            )
            # Dead letters are stamped when they arrived (now), not by event time: all of them.
            since, until = start, start + DAY
            if name == "dead_letters":
                since, until = datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC)
            conn.execute(
                statement,
                {
                    "copies": days - 1,
                    "offsets": _OFFSETS_PER_COPY,
                    "since": since,
                    "until": until,
                },
            )
    _rollup_all(url)
    _page_load_days(url)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")  # as autovacuum would have by the time anyone looks


def _rollup_all(url: str) -> None:
    """The sessions' rollups of every hour (and day) stored, copies included, recomputed as the
    sessions refresher does for the hours it touches."""
    with psycopg.connect(url) as conn:  # one transaction: the working tables live in it
        conn.execute(query("sessions/prepare"), prepare=False)
        conn.execute(
            "INSERT INTO pg_temp.sessions_refresh_hours"
            " SELECT ico_website_id, date_bin('1 hour', session_start, timestamptz '2000-01-01 00:00+00')"
            " FROM analytics.sessions"
            " UNION SELECT ico_website_id, date_bin('1 hour', \"timestamp\", timestamptz '2000-01-01 00:00+00')"
            " FROM raw_data.user_registrations"
        )
        conn.execute(query("sessions/rollup"), prepare=False)


def _page_load_days(url: str) -> None:
    """The page load day rows of every day stored, recomputed from their hour rows by the
    refresher's own query (``rollups/load_days``), given one minute of each day."""
    with psycopg.connect(url) as conn:  # one transaction: the working table lives in it
        conn.execute(query("rollups/prepare"))
        conn.execute(
            "INSERT INTO pg_temp.minutes_refresh"
            " SELECT DISTINCT date_bin('1 day', period_start, timestamptz '2000-01-01')"
            " FROM analytics.page_load_histograms WHERE period = interval '1 hour'"
        )
        conn.execute(query("rollups/load_days"))


def _time_column(columns: list[tuple[str, str]]) -> str:
    """The column saying when a row happened: the copies are of the last day only."""
    names = [c for c, _ in columns]
    for candidate in (
        "timestamp",
        "window_start",
        "session_start",
        "registered_at",
        "received_at",
        "minute",
        "period_start",
    ):
        if candidate in names:
            return candidate
    raise ValueError(f"no time column among {names}")


def _raw_rows(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM raw_data.clickstream_events)"
            " + (SELECT count(*) FROM raw_data.user_registrations)"
            " + (SELECT count(*) FROM raw_data.conversions)"
        ).fetchone()
    return int(row[0]) if row else 0


def _p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20, method="inclusive")[-1]


def run_dashboards(stack: Stack, days: int, events_per_minute: int) -> DashboardTimings:
    queries = queries_in(DASHBOARDS_DIR)
    timings: dict[tuple[str, str], dict[str, tuple[int, float]]] = {
        (q.file, q.title): {} for q in queries
    }
    # The day ends on the last whole hour; the ranges end there too ("now" on the dashboard).
    now = datetime.fromtimestamp(time.time() // 3600 * 3600, UTC)
    start = now - DAY
    with fresh_database(stack, "bench_dashboards") as url:
        began = time.monotonic()
        _fill_day(url, start, events_per_minute)
        fill_seconds = time.monotonic() - began
        began = time.monotonic()
        _copy_days_back(url, start, days)
        copy_seconds = time.monotonic() - began
        refresh_seconds = refresh_kpis(url)
        for label, hours, projects in RANGES:
            samples: dict[tuple[str, str], list[float]] = {key: [] for key in timings}
            rows: dict[tuple[str, str], int] = {}
            for run in range(RUNS + 1):  # the first run warms the caches and is not counted
                for result in run_queries(
                    url,
                    queries,
                    time_from=now - timedelta(hours=hours),
                    time_to=now,
                    projects=projects,
                ):
                    key = (result.query.file, result.query.title)
                    rows[key] = len(result.rows)
                    if run:
                        samples[key].append(result.seconds * 1000)
            for key, ms in samples.items():
                timings[key][label] = (rows[key], _p95(ms))
        raw_rows = _raw_rows(url)
    return DashboardTimings(
        days, events_per_minute, fill_seconds, copy_seconds, refresh_seconds, raw_rows, timings
    )
