"""The dataflow's liveness probe (`ico-analytics sink-health`): unhealthy while the PostgreSQL
sink holds rows it cannot commit, healthy again once they land. Before it, the probe was an HTTP
GET of /metrics, which answers all along."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import httpx
import psycopg
import pytest
from prometheus_client import start_http_server
from typer.testing import CliRunner

from dataflows.metrics import stalled_sinks
from dataflows.sinks import PostgresSink, RetryPolicy, Timeouts
from ico_analytics.cli import app
from tests.sinks.test_postgres_sink import click

MAX_STALL = 1.0


@pytest.fixture
def metrics_url() -> Iterator[str]:
    """The process's default registry on /metrics, as Bytewax's dataflow API serves it."""
    server, thread = start_http_server(0, addr="127.0.0.1")
    yield f"http://127.0.0.1:{server.server_port}/metrics"
    server.shutdown()
    thread.join()


def _probe(metrics_url: str) -> tuple[int, str]:
    args = ["sink-health", f"--max-stall-seconds={MAX_STALL}", f"--metrics-url={metrics_url}"]
    result = CliRunner().invoke(app, args)
    return result.exit_code, result.output


def test_the_probe_fails_while_a_lock_blocks_the_sink_and_recovers_after(
    migrated_database_url: str, metrics_url: str
) -> None:
    sink = PostgresSink(
        migrated_database_url,
        # Retried for long enough to outlast the probe's limit: a stall, not yet a failure.
        retry=RetryPolicy(initial_wait=0.1, max_wait=0.3, deadline=60),
        timeouts=Timeouts(statement=5, lock=0.2),
        sessions_refresh_seconds=None,
    ).build("liveness", 0, 1)
    assert _probe(metrics_url) == (0, "healthy\n")
    release = threading.Event()
    locked = threading.Event()

    def hold_lock() -> None:
        with psycopg.connect(migrated_database_url) as conn:
            conn.execute("LOCK TABLE raw_data.clickstream_events IN ACCESS EXCLUSIVE MODE")
            locked.set()
            release.wait(30)

    holder = threading.Thread(target=hold_lock)
    holder.start()
    assert locked.wait(10)
    writer = threading.Thread(target=sink.write_batch, args=([click()],))
    writer.start()
    try:
        time.sleep(MAX_STALL + 1.5)
        code, output = _probe(metrics_url)
        assert code == 1, output
        assert "no PostgreSQL commit from liveness/0" in output
        assert httpx.get(metrics_url).status_code == 200  # what the old probe checked
        assert writer.is_alive()
    finally:
        release.set()
        holder.join()
    writer.join(timeout=10)
    assert not writer.is_alive()
    assert _probe(metrics_url) == (0, "healthy\n")
    with psycopg.connect(migrated_database_url) as conn:
        row = conn.execute("SELECT count(*) FROM raw_data.clickstream_events").fetchone()
    assert row == (1,)


def test_the_probe_fails_when_metrics_do_not_answer() -> None:
    code, output = _probe("http://127.0.0.1:9/metrics")
    assert code == 1
    assert output.startswith("unhealthy: http://127.0.0.1:9/metrics")


def test_only_workers_holding_rows_beyond_the_limit_are_stalled() -> None:
    exposition = (
        "# TYPE ico_dataflow_sink_pending_since_seconds gauge\n"
        'ico_dataflow_sink_pending_since_seconds{step="out",worker="0"} 0.0\n'
        'ico_dataflow_sink_pending_since_seconds{step="out",worker="1"} 1000.0\n'
        'ico_dataflow_sink_pending_since_seconds{step="out",worker="2"} 1090.0\n'
    )
    assert stalled_sinks(exposition, now=1100.0, max_stall_seconds=60) == ["out/1 (100 s)"]
    assert stalled_sinks(exposition, now=1100.0, max_stall_seconds=120) == []
