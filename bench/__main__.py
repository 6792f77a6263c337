"""``python -m bench``: throughput and latency figures of ico-analytics (``make bench``).

Sections (``--only`` picks some, default all):

- ``kafka``: sustained Kafka -> PostgreSQL throughput of the dataflow (1 and 2 processes, with
  and without recovery) over ``--events`` pre-produced events, and a hand-written baseline;
- ``latency``: produce -> committed row latency at 10,000 and 2,000 events/s, ``--seconds`` each;
- ``pipeline``: the embedded in-process pipeline of ``ico-analytics demo`` (no Kafka);
- ``sink``: ``bench/bench_sink.py``, the PostgreSQL sink alone;
- ``dashboards``: how long each Grafana panel's query takes (``bench/dashboards.py``) on
  ``--dashboard-days`` days of traffic at ``--dashboard-rate`` events/min.

Starts a private stack in a temp dir; ``--dev-stack`` uses the running ``ico-analytics dev up``
stack instead (its topics are emptied and refilled; databases are created per measurement and
dropped).
Prints tables and writes ``bench/results/latest.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.dashboards import RANGES, RUNS, run_dashboards
from bench.embedded import run_embedded
from bench.latency import SAMPLE_EVERY, SESSION_POLL_INTERVAL, WARMUP_SECONDS, run_latency
from bench.runner import SNAPSHOT_SECONDS
from bench.stack import Stack, fresh_database, open_stack, reset_topics
from bench.throughput import produce_dataset, run_baseline, run_pipeline

SECTIONS = ("kafka", "latency", "pipeline", "sink", "dashboards")
RESULTS = Path(__file__).resolve().parent / "results"
#: events/s: the target, and a rate this small box sustains, for the latency floor.
LATENCY_RATES = (10_000, 2_000)
#: One process: on 2 cores shared with Kafka and PostgreSQL, a second one only adds the
#: exchange between processes (measured: 15.6k vs 11.6k events/s).
LATENCY_PROCESSES = 1
EMBEDDED_EVENTS = 100_000
#: The dashboards' goal: every query's p95 under this, over any range up to 7 days.
DASHBOARD_P95_MS = 100

# Wide enough for the tables when stdout is a pipe or a file (rich then assumes 80 columns).
out = Console(width=None if sys.stdout.isatty() else 120)


def _rate(value: float) -> str:
    return f"{value:,.0f}"


def kafka_section(stack: Stack, events: int, work_dir: Path) -> dict[str, Any]:
    reset_topics(stack.bootstrap)
    with out.status(f"producing {events:,} events"):
        produced = produce_dataset(stack, events)
    with out.status("baseline consumer"):
        baseline = run_baseline(stack, events)
    runs = []
    for recovery in (False, True):
        for processes in (1, 2):
            with out.status(f"dataflow, {processes} process(es), recovery {recovery}"):
                runs.append(
                    run_pipeline(
                        stack, events, processes=processes, recovery=recovery, work_dir=work_dir
                    )
                )
    table = Table(title=f"Kafka -> PostgreSQL, {events:,} events (data-quality issues on)")
    for column in ("what", "seconds", "events/s", "w/o start-up", "vs baseline", "raw rows"):
        table.add_column(column, justify="left" if column == "what" else "right")
    table.add_row(
        "producer (generator -> Kafka)",
        f"{produced.seconds:.1f}",
        _rate(produced.events_per_s),
        "",
        "",
        "",
    )
    table.add_row(
        "baseline consumer, 1 process",
        f"{baseline.seconds:.1f}",
        _rate(baseline.events_per_s),
        "",
        "1.00",
        f"{baseline.raw_rows:,}",
    )
    for run in runs:
        what = f"dataflow, {run.processes} process{'es' if run.processes > 1 else ''}" + (
            ", recovery" if run.recovery else ""
        )
        table.add_row(
            what,
            f"{run.seconds:.1f}",
            _rate(run.events_per_s),
            _rate(run.steady_events_per_s),
            f"{run.events_per_s / baseline.events_per_s:.2f}",
            f"{run.raw_rows:,}",
        )
    out.print(table)
    out.print(
        "events/s = events / (first process start -> last exit); w/o start-up = rows committed "
        "from the first to the last non-empty count (polled every 0.2 s), scaled to events. "
        f"Recovery: a fresh recovery dir, snapshots every {SNAPSHOT_SECONDS} s. "
        "Raw rows exclude dead letters and duplicates; the baseline skips only undecodable "
        "records and non-uuid ids, so it stores a few more."
    )
    return {
        "produce": {
            "events": produced.events,
            "seconds": produced.seconds,
            "events_per_s": produced.events_per_s,
        },
        "baseline": {
            **baseline.as_json(),
            "method": "consume(5000) -> Codec.decode -> RowBuilder -> COPY into temp staging "
            "table -> INSERT ... ON CONFLICT DO NOTHING into the raw tables, one transaction "
            "per batch",
        },
        "pipeline": [
            {**run.as_json(), "ratio_to_baseline": run.events_per_s / baseline.events_per_s}
            for run in runs
        ],
    }


def latency_section(stack: Stack, seconds: float, work_dir: Path) -> dict[str, Any]:
    results = []
    for rate in LATENCY_RATES:
        with out.status(f"latency run: {rate:,} events/s for {seconds:.0f} s"):
            results.append(
                run_latency(
                    stack,
                    seconds=seconds,
                    rate_per_s=rate,
                    processes=LATENCY_PROCESSES,
                    work_dir=work_dir / f"latency-{rate}",
                )
            )
    table = Table(
        title=f"Produce -> committed raw row, dataflow {LATENCY_PROCESSES} processes "
        "(tail mode, recovery on)"
    )
    for column in (
        "target ev/s",
        "achieved",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "max ms",
        "samples",
        "lag end/drained",
        "session p50/p95 s",
    ):
        table.add_column(column, justify="right")

    def lag(value: float | None) -> str:
        return "n/a" if value is None else f"{value:,.0f}"

    for result in results:
        table.add_row(
            _rate(result.target_events_per_s),
            _rate(result.achieved_events_per_s),
            f"{result.p50_ms:,.0f}",
            f"{result.p95_ms:,.0f}",
            f"{result.p99_ms:,.0f}",
            f"{result.max_ms:,.0f}",
            f"{result.detected:,}",
            f"{lag(result.lag_end_of_produce)}/{lag(result.lag_after_drain)}",
            f"{result.session_p50_ms / 1000:,.1f}/{result.session_p95_ms / 1000:,.1f}",
        )
    out.print(table)
    resolution = max(r.poll_interval_ms for r in results)
    out.print(
        f"Latencies are upper bounds: a row is timed by the first poll that sees it, at most "
        f"one poll interval (here {resolution:.0f} ms on average) after its commit. Samples: "
        f"every {SAMPLE_EVERY}th clean event after a {WARMUP_SECONDS:.0f} s warm-up. Lag = "
        "bytewax_kafka_consumer_lag summed over partitions and processes, when producing "
        "ended / once every sample was committed. Session = produce -> a row of "
        "analytics.sessions spanning the event (polled every "
        f"{SESSION_POLL_INTERVAL * 1000:.0f} ms; the refresher runs every 30 s)."
    )
    return {"runs": [r.as_json() for r in results]}


def pipeline_section(stack: Stack, events: int) -> dict[str, Any]:
    with out.status(f"embedded pipeline, {events:,} events"):
        runs = run_embedded(stack, events)
    table = Table(title=f"Embedded pipeline (ico-analytics demo), {events:,} events, 1 worker")
    for column in ("sink", "seconds", "events/s"):
        table.add_column(column, justify="left" if column == "sink" else "right")
    for run in runs:
        table.add_row(run.sink, f"{run.seconds:.1f}", _rate(run.events_per_s))
    out.print(table)
    return {"runs": [run.as_json() for run in runs], "demo_needs_events_per_s": 1000}


def sink_section(stack: Stack, events: int) -> dict[str, Any]:
    rows = max(events // 2, 10_000)
    with fresh_database(stack, "bench_sink") as url, out.status(f"sink, {rows:,} rows"):
        done = subprocess.run(
            [sys.executable, "-m", "bench.bench_sink", "--rows", str(rows), "--database-url", url],
            capture_output=True,
            text=True,
            timeout=600,
            check=True,
        )
    out.print("[bold]PostgresSink alone[/] (bench/bench_sink.py)")
    out.print(done.stdout.rstrip())
    return {"rows": rows, "output": done.stdout.splitlines()}


def dashboards_section(stack: Stack, days: int, events_per_minute: int) -> dict[str, Any]:
    with out.status(f"dashboards, {days} days at {events_per_minute:,} events/min"):
        timings = run_dashboards(stack, days, events_per_minute)
    table = Table(
        title=f"Dashboard queries on {timings.raw_rows:,} stored events, {days} days at "
        f"{events_per_minute:,}/min (last day by the pipeline in {timings.fill_seconds:.0f} s, "
        f"copied back in {timings.copy_seconds:.0f} s; daily KPIs refreshed in "
        f"{timings.refresh_seconds:.1f} s): p95 ms of {RUNS} warm runs, as the Grafana role"
    )
    table.add_column("query")
    for label, _, _ in RANGES:
        table.add_column(label, justify="right")
    slow: dict[str, int] = dict.fromkeys((label for label, _, _ in RANGES), 0)
    for (file, title), by_range in timings.queries.items():
        for label, (_, ms) in by_range.items():
            slow[label] += ms >= DASHBOARD_P95_MS
        table.add_row(
            f"{file.removesuffix('.json')}: {title}",
            *(f"{by_range[label][1]:,.1f}" for label, _, _ in RANGES),
        )
    table.add_row(
        f"queries at or over {DASHBOARD_P95_MS} ms", *(str(slow[label]) for label, _, _ in RANGES)
    )
    out.print(table)
    return timings.as_json()


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument(
        "--events",
        type=int,
        default=200_000,
        help="events for the Kafka throughput runs (default 200,000)",
    )
    parser.add_argument(
        "--only", choices=SECTIONS, action="append", help="run only this section (repeatable)"
    )
    parser.add_argument(
        "--seconds",
        type=float,
        default=20.0,
        help="measured seconds of the latency run (default 20)",
    )
    parser.add_argument(
        "--dashboard-days",
        type=int,
        default=7,
        help="days of traffic behind the dashboard query timings (default 7)",
    )
    parser.add_argument(
        "--dashboard-rate",
        type=int,
        default=1_000,
        help="simulated events per minute of that traffic (default 1,000: ~10 M events a week)",
    )
    parser.add_argument(
        "--dev-stack",
        action="store_true",
        help="use the running `ico-analytics dev up` stack (empties and refills its topics)",
    )
    args = parser.parse_args()
    sections = args.only or list(SECTIONS)

    results: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "host": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "machine": platform.machine(),
        },
        "events": args.events,
    }
    work_dir = Path(tempfile.mkdtemp(prefix="ico-analytics-bench-work-"))
    failed = False
    began = time.monotonic()
    need_kafka = bool({"kafka", "latency"} & set(sections))
    with open_stack(need_kafka=need_kafka, private=not args.dev_stack) as stack:
        results["stack"] = stack.origin
        runs: dict[str, Callable[[], dict[str, Any]]] = {
            "kafka": lambda: kafka_section(stack, args.events, work_dir),
            "latency": lambda: latency_section(stack, args.seconds, work_dir),
            "pipeline": lambda: pipeline_section(stack, EMBEDDED_EVENTS),
            "sink": lambda: sink_section(stack, args.events),
            "dashboards": lambda: dashboards_section(
                stack, args.dashboard_days, args.dashboard_rate
            ),
        }
        for name in sections:
            try:
                results[name] = runs[name]()
            except Exception as exc:  # one broken section must not lose the others' figures
                failed = True
                out.print(f"[red]{name} failed:[/] {exc}")
                traceback.print_exc()
                results[name] = {"error": str(exc)}
    results["seconds"] = time.monotonic() - began
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "latest.json").write_text(json.dumps(results, indent=2) + "\n")
    out.print(f"total {results['seconds']:.0f} s; results in {RESULTS / 'latest.json'}")
    if failed:
        out.print(f"[yellow]dataflow logs kept in {work_dir}[/]")
    else:
        shutil.rmtree(work_dir, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
