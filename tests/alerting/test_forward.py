"""``ico-analytics alerts forward`` for real: an anomaly alert in the dataflow's format on the
``alerts`` topic of a local broker reaches a webhook through a real Alertmanager configured by
the chart, once, although the message is produced twice and again after the first commit (the
dataflow's replays), and the consumer group's offsets move only once Alertmanager is up and has
accepted the alerts. Its /metrics say so all along: POST failures while Alertmanager is down,
the batch held and since when, then what was forwarded and committed."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from prometheus_client.parser import text_string_to_metric_families

from dataflows.anomalies import AnomalyRow, Verdict, alert_message
from ico_analytics.alertforward import DEFAULT_GROUP_ID
from ico_analytics.services.process import free_ports
from ico_core.events import ALERTS_TOPIC
from ico_core.kafka import KafkaConnection
from ico_core.topics import TOPIC_PARTITIONS, ensure_topics
from tests.alerting.promlib import (
    alertmanager,
    chart_monitoring,
    http_receiver,
)
from tests.chart.chartlib import Helm
from tests.local_kafka import local_kafka
from tests.tools import alertmanager_binaries

TIMEOUT = 60.0
#: Several groupIntervals of the chart's Alertmanager here: a second notification would be in.
QUIET_SECONDS = 5.0

WINDOW_START = datetime(2026, 12, 1, 10, 5, tzinfo=UTC)
ROW = AnomalyRow(
    ico_website_id=7,
    metric="revenue_usd",
    window_start=WINDOW_START,
    window_end=WINDOW_START + timedelta(minutes=5),
    value=12.5,
    baseline_mean=840.0,
    baseline_stddev=95.0,
    z_score=-8.71,
    direction="drop",
    is_anomaly=True,
)


def _produce(connection: KafkaConnection, value: bytes | None = None) -> None:
    """The dataflow's alert for ``ROW``, as its Kafka sink writes it (or ``value`` instead)."""
    message = alert_message(Verdict(ROW, newly_flagged=True))
    assert message is not None
    producer = Producer(connection.client_config())
    producer.produce(ALERTS_TOPIC, key=message.key, value=value or message.value)
    assert producer.flush(30) == 0


def _metrics(url: str) -> dict[str, float]:
    """The forwarder's samples, by name and the ``alertmanager`` label where there is one."""
    text = httpx.get(url, timeout=5).text
    return {
        sample.name + "".join(f"[{v}]" for v in sample.labels.values()): sample.value
        for family in text_string_to_metric_families(text)
        if family.name.startswith("ico_alert_forwarder_")
        for sample in family.samples
    }


def _committed(connection: KafkaConnection) -> int:
    """Offsets the forwarder's group has committed, summed over the topic's partitions."""
    consumer = Consumer({**connection.client_config(), "group.id": DEFAULT_GROUP_ID})
    try:
        partitions = [
            TopicPartition(ALERTS_TOPIC, p) for p in range(TOPIC_PARTITIONS[ALERTS_TOPIC])
        ]
        return sum(max(tp.offset, 0) for tp in consumer.committed(partitions, timeout=10))
    finally:
        consumer.close()


def _wait_committed(connection: KafkaConnection, offsets: int, logs: Any) -> None:
    deadline = time.monotonic() + TIMEOUT
    while _committed(connection) != offsets:
        assert time.monotonic() < deadline, f"not {offsets} committed\n{logs()}"
        time.sleep(0.5)


@pytest.mark.kafka
def test_an_anomaly_alert_reaches_the_webhook_once(helm: Helm, tmp_path: Path) -> None:
    with local_kafka("alert-forward-") as kafka, http_receiver() as (hook_url, received):
        connection = kafka.connection
        ensure_topics(connection)
        _, config = chart_monitoring(
            helm,
            f"notifications.webhook.url={hook_url}",
            "monitoring.alertmanager.groupWait=1s",
            "monitoring.alertmanager.groupInterval=1s",
        )
        _produce(connection)
        _produce(connection)  # the same alert again, as a replay after a crash writes it
        am_port, metrics_port = free_ports(2)
        am_url = f"http://127.0.0.1:{am_port}"
        metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
        failures = f"ico_alert_forwarder_post_failures_total[{am_url}]"
        log = tmp_path / "forward.log"
        heartbeat = tmp_path / "alive"
        with log.open("wb") as out:
            forwarder = subprocess.Popen(
                [
                    str(Path(sys.executable).parent / "ico-analytics"), "alerts", "forward",
                    "--alertmanager-url", am_url,
                    "--bootstrap-servers", kafka.bootstrap_servers,
                    "--heartbeat", str(heartbeat),
                    "--metrics-port", str(metrics_port),
                ],
                env={**os.environ, "METRICS_BIND_ADDRESS": "127.0.0.1"},
                stdout=out,
                stderr=subprocess.STDOUT,
            )  # fmt: skip

        def logs() -> str:
            return log.read_text(errors="replace")[-3000:]

        try:
            # Alertmanager is not up yet: the forwarder retries and commits nothing.
            deadline = time.monotonic() + TIMEOUT
            while logs().count("retrying") < 2:
                assert forwarder.poll() is None, logs()
                assert time.monotonic() < deadline, logs()
                time.sleep(0.5)
            assert _committed(connection) == 0, logs()
            # Waiting on Alertmanager is not hanging: the probes' heartbeat goes on.
            assert time.time() - heartbeat.stat().st_mtime < 6
            # Its metrics tell: both messages held (one batch) since they were consumed, each
            # attempt refused, nothing forwarded or committed.
            stuck = _metrics(metrics_url)
            assert stuck[failures] >= 2, stuck
            assert stuck["ico_alert_forwarder_pending_messages"] == 2, stuck
            held_since = stuck["ico_alert_forwarder_pending_since_seconds"]
            assert 0 < time.time() - held_since < TIMEOUT, stuck
            assert stuck["ico_alert_forwarder_alerts_forwarded_total"] == 0, stuck
            assert stuck["ico_alert_forwarder_last_commit_timestamp_seconds"] == 0, stuck
            assert stuck["ico_alert_forwarder_messages_skipped_total"] == 0, stuck
            # Still held, since the same time, while Alertmanager stays down.
            time.sleep(2)
            later = _metrics(metrics_url)
            assert later["ico_alert_forwarder_pending_since_seconds"] == held_since, later
            assert later[failures] >= stuck[failures], later

            binary = alertmanager_binaries()["alertmanager"]
            with alertmanager(binary, config, tmp_path / "alertmanager", port=am_port) as am:
                try:
                    message = received.get(timeout=TIMEOUT)
                except queue.Empty:
                    pytest.fail(f"no notification in {TIMEOUT:.0f} s\n{am.logs()}\n{logs()}")
                (alert,) = message["alerts"]
                assert alert["status"] == "firing"
                assert alert["labels"] == {
                    "alertname": "IcoAnomaly",
                    "severity": "warning",
                    "team": "ico-analytics",
                    "project": "7",
                    "metric": "revenue_usd",
                    "window_start": "2026-12-01T10:05:00+00:00",
                }
                assert alert["annotations"]["summary"] == (
                    "Project 7: revenue_usd drop in the window from 2026-12-01T10:05:00+00:00 "
                    "(12.5 against a baseline of 840, z -8.7)."
                )
                assert alert["startsAt"].startswith("2026-12-01T10:10:00")
                _wait_committed(connection, 2, logs)
                delivered = _metrics(metrics_url)
                assert delivered["ico_alert_forwarder_alerts_forwarded_total"] == 2, delivered
                assert delivered["ico_alert_forwarder_pending_messages"] == 0, delivered
                assert delivered["ico_alert_forwarder_pending_since_seconds"] == 0, delivered
                committed_at = delivered["ico_alert_forwarder_last_commit_timestamp_seconds"]
                assert held_since < committed_at <= time.time(), delivered

                # Replayed after the commit: forwarded again, and still nobody is told twice.
                _produce(connection)
                _wait_committed(connection, 3, logs)
                # A message that is no alert is skipped, and committed all the same.
                _produce(connection, b"not an alert")
                _wait_committed(connection, 4, logs)
                time.sleep(QUIET_SECONDS)
                assert received.qsize() == 0, received.get()
                done = _metrics(metrics_url)
                assert done["ico_alert_forwarder_alerts_forwarded_total"] == 3, done
                assert done["ico_alert_forwarder_messages_skipped_total"] == 1, done
                assert done["ico_alert_forwarder_pending_messages"] == 0, done
                assert done["ico_alert_forwarder_last_commit_timestamp_seconds"] > committed_at
                # Alertmanager took every batch since it came up: no failure since.
                assert done[failures] == delivered[failures], done
        finally:
            forwarder.send_signal(signal.SIGTERM)
            try:
                returncode = forwarder.wait(30)
            except subprocess.TimeoutExpired:
                forwarder.kill()
                raise
        # SIGTERM stops it between batches, cleanly.
        assert returncode == 0, logs()
        assert "forwarded 3 alert(s)" in logs()
