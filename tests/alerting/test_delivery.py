"""An alert reaches a person, for real: the generator produces to Kafka, the dataflow reads it
into a database made slow on purpose so its consumer lag climbs, a real Prometheus scrapes
both and evaluates the chart's rules, a real Alertmanager configured by the chart notifies a
webhook this test serves. The alert forwarder runs too, scraped as well: an anomaly alert on
the ``alerts`` topic reaches the webhook through it. While it runs, every PromQL query of the
dashboards and Grafana's alert rules is run on that Prometheus and must return series.
Everything binds to 127.0.0.1.
"""

from __future__ import annotations

import json
import math
import os
import queue
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from confluent_kafka import Producer

from dataflows.anomalies import AnomalyRow, Verdict, alert_message
from ico_analytics.dashboards import DASHBOARDS_DIR
from ico_analytics.dashboards.preview import promql_in
from ico_analytics.dashboards.render import render_dashboard
from ico_analytics.services.dataflow import DataflowCluster, stack_env
from ico_analytics.services.process import free_ports
from ico_core.events import ALERTS_TOPIC
from ico_core.kafka import KafkaConnection
from tests.alerting.promlib import (
    Server,
    alertmanager,
    chart_monitoring,
    http_receiver,
    prometheus,
    query,
)
from tests.chart.chartlib import Helm
from tests.kafka.stack import KafkaStack
from tests.tools import alertmanager_binaries, prometheus_binaries

#: Each merge into the clickstream table waits this long: a database that cannot keep up.
SLOW_WRITE_SECONDS = 2.0
#: How long each step may take before the test gives up (builds excluded).
STEP_TIMEOUT = 240.0
#: Grafana's interval variables, as a dashboard over the last few minutes expands them.
GRAFANA_INTERVALS = {"$__rate_interval": "30s", "$__range": "5m"}


def _wait_for_alert(
    received: queue.Queue[dict[str, Any]],
    alertname: str,
    logs: Any,
    tolerated: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """The first firing alert named ``alertname`` the webhook receives; only ``tolerated``
    ones may come before it (anything else is a false alarm)."""
    deadline = time.monotonic() + STEP_TIMEOUT
    while time.monotonic() < deadline:
        try:
            message = received.get(timeout=1)
        except queue.Empty:
            continue
        assert message["receiver"] == "ico-analytics"
        names = {a["labels"]["alertname"] for a in message["alerts"]}
        assert names <= {alertname, *tolerated}, f"{names} while waiting for {alertname}"
        for alert in message["alerts"]:
            if alert["labels"]["alertname"] == alertname and alert["status"] == "firing":
                return dict(alert)
    pytest.fail(f"no {alertname} notification in {STEP_TIMEOUT:.0f} s\n{logs()}")


def _slow_clickstream_writes(url: str, seconds: float | None) -> None:
    """Make every merge into raw_data.clickstream_events wait ``seconds`` (None: stop)."""
    with psycopg.connect(url, autocommit=True) as conn:
        if seconds is None:
            conn.execute("DROP TRIGGER slow_writes ON raw_data.clickstream_events")
            return
        conn.execute(
            "CREATE FUNCTION public.slow_writes() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN PERFORM pg_sleep({seconds}); RETURN NULL; END $$"
        )
        conn.execute(
            "CREATE TRIGGER slow_writes AFTER INSERT ON raw_data.clickstream_events "
            "FOR EACH STATEMENT EXECUTE FUNCTION public.slow_writes()"
        )


def _produce_anomaly_alert(connection: KafkaConnection) -> None:
    """An anomaly alert as the dataflow's Kafka sink writes it to the ``alerts`` topic."""
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=10)
    row = AnomalyRow(
        ico_website_id=3,
        metric="page_views",
        window_start=start,
        window_end=start + timedelta(minutes=5),
        value=4.0,
        baseline_mean=310.0,
        baseline_stddev=40.0,
        z_score=-7.65,
        direction="drop",
        is_anomaly=True,
    )
    message = alert_message(Verdict(row, newly_flagged=True))
    assert message is not None
    producer = Producer(connection.client_config())
    producer.produce(ALERTS_TOPIC, key=message.key, value=message.value)
    assert producer.flush(30) == 0


def _expand(expr: str) -> str:
    for name, value in GRAFANA_INTERVALS.items():
        expr = expr.replace(name, value)
    assert "$" not in expr, expr
    return expr


@pytest.mark.kafka
def test_lag_alert_reaches_a_webhook_and_every_promql_query_has_series(
    alerting_kafka: KafkaStack, migrated_database_url: str, helm: Helm, tmp_path: Path
) -> None:
    prom_bin = prometheus_binaries()["prometheus"]
    am_bin = alertmanager_binaries()["alertmanager"]
    _slow_clickstream_writes(migrated_database_url, SLOW_WRITE_SECONDS)
    cluster = DataflowCluster(
        stack_env(alerting_kafka.bootstrap, alerting_kafka.registry_url, migrated_database_url),
        tmp_path / "dataflow",
        tmp_path / "recovery",
        snapshot_seconds=1,
    )
    generator_port, am_port, forwarder_port = free_ports(3)
    am_url = f"http://127.0.0.1:{am_port}"
    generator: subprocess.Popen[bytes] | None = None
    forwarder: subprocess.Popen[bytes] | None = None
    with http_receiver() as (hook_url, received):
        # The runbook's threshold as the chart renders it; shorter waits so the test is brief
        # (promtool proves the 5 m and 1 m ones in test_rules.py). "Down" must outlast
        # Prometheus's start, which evaluates rules up to 5 s before its first scrape.
        rules, am_config = chart_monitoring(
            helm,
            "monitoring.rules.consumerLagFor=5s",
            "monitoring.rules.dataflowDownFor=15s",
            "monitoring.alertmanager.groupWait=1s",
            f"notifications.webhook.url={hook_url}",
            "notifications.via=alertmanager",
        )
        cluster.start(1)
        try:
            began = time.monotonic()
            with (tmp_path / "generator.log").open("wb") as generator_log:
                generator = subprocess.Popen(
                    [
                        str(Path(sys.executable).parent / "ico-analytics"), "generate",
                        "--bootstrap-servers", alerting_kafka.bootstrap,
                        "--schema-registry-url", alerting_kafka.registry_url,
                        "--rate", "600000", "--seed", "11",
                        "--metrics-port", str(generator_port),
                    ],
                    env={**os.environ, "METRICS_BIND_ADDRESS": "127.0.0.1"},
                    stdout=generator_log,
                    stderr=subprocess.STDOUT,
                )  # fmt: skip
            with (tmp_path / "forwarder.log").open("wb") as forwarder_log:
                forwarder = subprocess.Popen(
                    [
                        str(Path(sys.executable).parent / "ico-analytics"), "alerts", "forward",
                        "--alertmanager-url", am_url,
                        "--bootstrap-servers", alerting_kafka.bootstrap,
                        "--metrics-port", str(forwarder_port),
                        "--heartbeat", str(tmp_path / "forwarder.alive"),
                    ],
                    env={**os.environ, "METRICS_BIND_ADDRESS": "127.0.0.1"},
                    stdout=forwarder_log,
                    stderr=subprocess.STDOUT,
                )  # fmt: skip
            # Scraped once it answers: a process still starting is not a process down.
            deadline = time.monotonic() + STEP_TIMEOUT
            while cluster.metrics() is None:
                assert time.monotonic() < deadline, cluster.logs()
                time.sleep(0.5)
            dataflow_target = {
                "targets": [f"127.0.0.1:{cluster.api_ports[0]}"],
                # As the chart's scrape jobs and PodMonitor label the StatefulSet's pods.
                "labels": {"namespace": "analytics", "pod": "ico-analytics-dataflow-0"},
            }
            scrape = [
                {"job_name": "dataflow", "static_configs": [dataflow_target]},
                {
                    "job_name": "generator",
                    "static_configs": [{"targets": [f"127.0.0.1:{generator_port}"]}],
                },
                {
                    "job_name": "alert-forwarder",
                    "static_configs": [
                        {
                            "targets": [f"127.0.0.1:{forwarder_port}"],
                            # As the chart labels the Deployment's pod.
                            "labels": {
                                "namespace": "analytics",
                                "pod": "ico-analytics-alert-forwarder-6d9f7c8b5-x2k4q",
                            },
                        }
                    ],
                },
            ]
            with (
                alertmanager(am_bin, am_config, tmp_path / "alertmanager", port=am_port) as am,
                prometheus(
                    prom_bin,
                    scrape_configs=scrape,
                    rules=rules,
                    alertmanager_url=am.url,
                    workdir=tmp_path / "prometheus",
                ) as prom,
            ):

                def logs() -> str:
                    return "\n".join(
                        [
                            am.logs(),
                            cluster.logs(),
                            (tmp_path / "generator.log").read_text(errors="replace")[-3000:],
                            (tmp_path / "forwarder.log").read_text(errors="replace")[-3000:],
                            json.dumps(query(prom, "ALERTS")),
                            json.dumps(query(prom, "up")),
                            httpx.get(f"{am.url}/api/v2/alerts", timeout=5).text,
                        ]
                    )

                # The dataflow may flag an anomaly of its own, which the forwarder passes on.
                alert = _wait_for_alert(
                    received, "IcoDataflowConsumerLagHigh", logs, frozenset({"IcoAnomaly"})
                )
                delivered = time.monotonic() - began
                assert alert["labels"]["severity"] == "warning"
                assert alert["labels"]["topic"] in {
                    "clickstream-events",
                    "user-registrations",
                    "conversions",
                }
                assert alert["annotations"]["summary"].startswith("The dataflow falls behind")
                lag = query(
                    prom,
                    f'bytewax_kafka_consumer_lag{{topic="{alert["labels"]["topic"]}", '
                    f'partition="{alert["labels"]["partition"]}"}}',
                )
                assert float(lag[0]["value"][1]) > 10_000

                # An anomaly reaches the webhook through the forwarder and the same Alertmanager;
                # the forwarder's panels then show it forwarded (rate() sees it for a while).
                _produce_anomaly_alert(alerting_kafka.kafka.connection)
                anomaly = _wait_for_alert(
                    received, "IcoAnomaly", logs, frozenset({"IcoDataflowConsumerLagHigh"})
                )
                assert anomaly["labels"]["project"] == "3"
                assert anomaly["labels"]["metric"] == "page_views"
                deadline = time.monotonic() + STEP_TIMEOUT
                while not query(prom, "ico_alert_forwarder_alerts_forwarded_total > 0"):
                    assert time.monotonic() < deadline, logs()
                    time.sleep(0.5)

                _every_promql_query_has_series(prom)
                # Idle on an empty topic, its loop still beats for the chart's probes.
                time.sleep(3)
                assert time.time() - (tmp_path / "forwarder.alive").stat().st_mtime < 3
                now = datetime.now(UTC)
                picture = render_dashboard(
                    DASHBOARDS_DIR / "ico-system.json",
                    tmp_path / "pictures",
                    migrated_database_url,
                    time_from=now - timedelta(seconds=time.monotonic() - began + 30),
                    time_to=now,
                    prometheus_url=prom.url,
                )
                # Every panel drawn from data: PromQL from this Prometheus, SQL from the database.
                assert picture.path.exists()
                assert [t for t, rows in picture.panels.items() if not rows] == []

                # The database recovers and the dataflow stops: "dataflow down" follows.
                _slow_clickstream_writes(migrated_database_url, None)
                cluster.kill()
                down = _wait_for_alert(
                    received,
                    "IcoDataflowDown",
                    logs,
                    frozenset({"IcoDataflowConsumerLagHigh", "IcoAnomaly"}),
                )
                assert down["labels"]["severity"] == "critical"
                print(f"lag alert delivered {delivered:.1f} s after the generator started")
        finally:
            for process in (generator, forwarder):
                if process is not None:
                    process.terminate()
                    process.wait(20)
            cluster.kill()


def _every_promql_query_has_series(prom: Server) -> None:
    """Each panel target and alert query returns at least one series of finite values."""
    queries = promql_in(DASHBOARDS_DIR)
    assert len(queries) == 23  # 18 panel targets, 5 alert rules
    values: dict[str, list[float]] = {}
    for q in queries:
        deadline = time.monotonic() + 60  # rate() and increase() need a few scrapes
        while True:
            result = query(prom, _expand(q.expr))
            if result or time.monotonic() > deadline:
                break
            time.sleep(1)
        assert result, f"{q.file}: {q.title}: no series for {q.expr}"
        values[q.title] = [float(r["value"][1]) for r in result]
        assert all(math.isfinite(v) for v in values[q.title]), (q.title, result)
    assert values["Dataflow processes up"] == [1.0]
    assert values["alert Dataflow down"] == [1.0]
    assert max(values["Kafka consumer lag"]) > 10_000
    assert max(values["alert Kafka consumer lag above 10,000"]) > 10_000
    assert values["Events in and rows out A"][0] > 0  # read from Kafka
    assert values["Sink retries"] == [0.0]  # slow, not failing
    # The look-up of stored copies reads the slow database without failing either.
    assert values["Duplicate look-up retries per second"] == [0.0]
    assert values["alert Duplicate look-up failing"] == [0.0]
    # The generator sends about 1% of its events twice: far below the warning's 5%.
    assert 0 <= values["alert Late duplicates above 5%"][0] < 5
    # Each merge takes SLOW_WRITE_SECONDS: a sink holds rows for moments, far from stalled.
    assert 0 <= max(values["Sink stalled for"]) < 60
    assert 0 <= max(values["alert PostgreSQL sink stalled"]) < 60
    assert 0 <= values["Since the last snapshot"][0] < 120
    assert sum(values["Generator events per second"]) > 0
    # The forwarder: up, not stuck, having committed the anomaly's batch moments ago.
    assert values["Alert forwarder up"] == [1.0]
    assert 0 <= values["Alerts held for"][0] < 60
    assert 0 <= values["Since the forwarder's last commit"][0] < STEP_TIMEOUT
    assert values["Alert messages skipped"] == [0.0]
    assert values["Alerts forwarded and POSTs refused per second A"][0] > 0
    # Its one Alertmanager (a series from the start, at 0) accepted every batch.
    assert values["Alerts forwarded and POSTs refused per second B"] == [0.0]
