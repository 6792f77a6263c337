"""How long Grafana waits for each dashboard query.

The embedded pipeline fills a database with ``events`` seeded events stamped at the generator's
default 500 events/min, ending now (500,000 events are about 17 hours of traffic). Every panel,
variable and alert-rule query of ``grafana-dashboards/`` then runs as Grafana would, as the
read-only Grafana role, over the last 1, 6 and 24 hours for all projects and over 6 hours for one
project; each is run twice and the second (warm) run is reported, as a dashboard refresh sees it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from bytewax.testing import run_main

from bench.stack import Stack, fresh_database
from dataflows.pipeline import build_flow
from dataflows.sinks import PostgresSink
from dataflows.sources import EmbeddedSource
from ico_analytics.dashboards import DASHBOARDS_DIR
from ico_analytics.dashboards.preview import queries_in, run_queries
from ico_core.settings import Settings

SEED = 23
SIMULATED_EVENTS_PER_MINUTE = 500
#: (label, hours back from now, projects: None for all)
RANGES: tuple[tuple[str, float, list[int] | None], ...] = (
    ("1 h", 1, None),
    ("6 h", 6, None),
    ("24 h", 24, None),
    ("6 h, 1 project", 6, [1]),
)


@dataclass(frozen=True)
class DashboardTimings:
    events: int
    fill_seconds: float
    raw_rows: int
    #: (file, title) -> range label -> (rows returned, milliseconds)
    queries: dict[tuple[str, str], dict[str, tuple[int, float]]]

    def as_json(self) -> dict[str, Any]:
        return {
            "events": self.events,
            "fill_seconds": self.fill_seconds,
            "raw_rows": self.raw_rows,
            "queries": [
                {"file": file, "title": title, "ranges": {k: list(v) for k, v in by.items()}}
                for (file, title), by in self.queries.items()
            ],
        }


def _fill(url: str, events: int) -> int:
    minutes = events / SIMULATED_EVENTS_PER_MINUTE
    start_ms = int((time.time() - minutes * 60) * 1000)
    settings = Settings(
        EVENTS_PER_MINUTE=0,  # unpaced; the simulated clock runs at the default 500/min
        GENERATOR_EVENTS=events,
        GENERATOR_SEED=SEED,
        GENERATOR_START_MS=start_ms,
    )
    run_main(build_flow(EmbeddedSource(settings), PostgresSink(url), settings=settings))
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")  # as autovacuum would have by the time anyone looks
        row = conn.execute(
            "SELECT (SELECT count(*) FROM raw_data.clickstream_events)"
            " + (SELECT count(*) FROM raw_data.user_registrations)"
            " + (SELECT count(*) FROM raw_data.conversions)"
        ).fetchone()
    return int(row[0]) if row else 0


def run_dashboards(stack: Stack, events: int) -> DashboardTimings:
    queries = queries_in(DASHBOARDS_DIR)
    timings: dict[tuple[str, str], dict[str, tuple[int, float]]] = {
        (q.file, q.title): {} for q in queries
    }
    with fresh_database(stack, "bench_dashboards") as url:
        began = time.monotonic()
        raw_rows = _fill(url, events)
        fill_seconds = time.monotonic() - began
        now = datetime.now(UTC)
        for label, hours, projects in RANGES:
            for _ in range(2):  # the second, warm run counts
                results = run_queries(
                    url,
                    queries,
                    time_from=now - timedelta(hours=hours),
                    time_to=now,
                    projects=projects,
                )
            for result in results:
                key = (result.query.file, result.query.title)
                timings[key][label] = (len(result.rows), result.seconds * 1000)
    return DashboardTimings(events, fill_seconds, raw_rows, timings)
