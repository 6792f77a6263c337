"""``ico-analytics demo``: the whole pipeline in one process with a live terminal view.

The generator feeds the real dataflow as an in-process Bytewax source (no Kafka); results
land in PostgreSQL (the dev stack's local one unless a URL is given) and the view reads them
back from there, so what it shows is what a dashboard would show.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import psycopg
from bytewax.testing import run_main
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from dataflows.pipeline import build_flow, tune_gc
from dataflows.sinks import PostgresSink
from dataflows.sources import EmbeddedSource
from ico_analytics.devstack import local_database_url
from ico_core.db import migrate, query, refresh_kpis
from ico_core.settings import Settings

REFRESH_SECONDS = 2.0
#: How often the demo refreshes analytics.daily_project_kpis (the job ``maintain`` does in a
#: deployment), so dashboards pointed at the demo's database show the daily panels too.
KPIS_REFRESH_SECONDS = 30.0


@dataclass
class _Progress:
    """Counts what the source emitted; written by the dataflow thread, read by the view."""

    emitted: int = 0
    started: float = field(default_factory=time.monotonic)

    def tick(self, _event: Any) -> None:
        self.emitted += 1

    def rate(self, count: int) -> float:
        return count / max(time.monotonic() - self.started, 1e-9)


def _kpi_table(rows: list[tuple[Any, ...]]) -> Table:
    table = Table(
        title="ICO projects, this run (by event time; 1-hour windows summed)", expand=True
    )
    for name, justify in [
        ("project", "left"),
        ("token", "left"),
        ("events", "right"),
        ("page views", "right"),
        ("signups", "right"),
        ("wallets", "right"),
        ("purchases", "right"),
        ("revenue USD", "right"),
        ("sessions 5m", "right"),
        ("p95 load s", "right"),
    ]:
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for _id, name, symbol, events, views, regs, wallets, buys, revenue, sessions, p95 in rows:
        table.add_row(
            name,
            symbol,
            f"{events:,}",
            f"{views:,}",
            f"{regs:,}",
            f"{wallets:,}",
            f"{buys:,}",
            f"{Decimal(revenue):,.2f}",
            "-" if sessions is None else f"{sessions:,}",
            "-" if p95 is None else f"{p95:.2f}",
        )
    return table


def _counts(conn: psycopg.Connection[Any]) -> tuple[int, ...]:
    row = conn.execute(query("stored_counts")).fetchone()
    assert row is not None
    return tuple(int(v) for v in row)


def _header(progress: _Progress, counts: tuple[int, ...]) -> Text:
    clicks, regs, convs, dead, windows = counts
    stored = clicks + regs + convs + dead
    return Text(
        f"generated {progress.emitted:,} ({progress.rate(progress.emitted):,.0f}/s) · "
        f"stored {stored:,} ({progress.rate(stored):,.0f}/s): {clicks:,} clicks, {regs:,} signups, "
        f"{convs:,} conversions, {dead:,} dead letters · {windows:,} window rows"
    )


def run_demo(
    settings: Settings,
    *,
    duration: float | None,
    events_per_minute: int,
    database_url: str | None,
) -> None:
    console = Console()
    if database_url is None:
        with console.status("starting the local PostgreSQL"):
            database_url = local_database_url(settings)
    else:
        migrate(database_url)
    console.print(f"PostgreSQL: {database_url}")

    stop = threading.Event()
    progress = _Progress()
    run_settings = settings.model_copy(update={"events_per_minute": events_per_minute})
    source = EmbeddedSource(run_settings, stop=stop, tap=progress.tick)
    flow = build_flow(source, PostgresSink(database_url), settings=run_settings)
    tune_gc()
    failure: list[BaseException] = []

    def _run() -> None:
        try:
            run_main(flow, epoch_interval=None)
        except BaseException as exc:  # surfaced in the main thread below
            failure.append(exc)

    worker = threading.Thread(target=_run, name="dataflow", daemon=True)
    with (
        psycopg.connect(database_url, autocommit=True) as conn,
        Live(console=console, refresh_per_second=1, transient=False) as live,
    ):
        # Earlier demos' rows stay in the database: count and show only this run's.
        baseline = _counts(conn)
        since = datetime.now(UTC)

        def counts() -> tuple[int, ...]:
            return tuple(now - before for now, before in zip(_counts(conn), baseline, strict=True))

        def render() -> Group:
            rows = conn.execute(query("demo_kpis"), {"since": since}).fetchall()
            return Group(_header(progress, counts()), _kpi_table(rows))

        worker.start()
        kpis_refreshed = time.monotonic()
        try:
            while worker.is_alive():
                if duration is not None and time.monotonic() - progress.started >= duration:
                    stop.set()
                if time.monotonic() - kpis_refreshed >= KPIS_REFRESH_SECONDS:
                    refresh_kpis(database_url)
                    kpis_refreshed = time.monotonic()
                live.update(render())
                worker.join(REFRESH_SECONDS)
        except KeyboardInterrupt:
            stop.set()
            live.console.print("stopping: draining the dataflow…")
            worker.join()
        live.update(render())
        final = counts()
    if not failure:
        refresh_kpis(database_url)
    if failure:
        raise failure[0]
    elapsed = time.monotonic() - progress.started
    stored = sum(final[:4])
    console.print(
        f"[bold]Summary[/]: {progress.emitted:,} events generated and {stored:,} stored in "
        f"{elapsed:,.1f} s ({stored / max(elapsed, 1e-9):,.0f} events/s sustained); "
        f"{final[3]:,} dead letters; {final[4]:,} window rows. Data: {database_url}"
    )
