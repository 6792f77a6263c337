"""``ico-analytics alerts forward`` for real: an anomaly alert in the dataflow's format on the
``alerts`` topic of a local broker reaches a webhook through a real Alertmanager configured by
the chart, once, although the message is produced twice and again after the first commit (the
dataflow's replays), and the consumer group's offsets move only once Alertmanager is up and has
accepted the alerts."""

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

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from dataflows.anomalies import AnomalyRow, Verdict, alert_message
from ico_analytics.alertforward import DEFAULT_GROUP_ID
from ico_analytics.services.process import free_ports
from ico_core.events import ALERTS_TOPIC
from ico_core.kafka import KafkaConnection
from ico_core.topics import TOPIC_PARTITIONS, ensure_topics
from tests.alerting.promlib import (
    alertmanager,
    alertmanager_binaries,
    chart_monitoring,
    http_receiver,
)
from tests.chart.chartlib import Helm
from tests.local_kafka import local_kafka

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


def _produce(connection: KafkaConnection) -> None:
    """The dataflow's alert for ``ROW``, as its Kafka sink writes it."""
    message = alert_message(Verdict(ROW, newly_flagged=True))
    assert message is not None
    producer = Producer(connection.client_config())
    producer.produce(ALERTS_TOPIC, key=message.key, value=message.value)
    assert producer.flush(30) == 0


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
        (am_port,) = free_ports(1)
        log = tmp_path / "forward.log"
        heartbeat = tmp_path / "alive"
        with log.open("wb") as out:
            forwarder = subprocess.Popen(
                [
                    str(Path(sys.executable).parent / "ico-analytics"), "alerts", "forward",
                    "--alertmanager-url", f"http://127.0.0.1:{am_port}",
                    "--bootstrap-servers", kafka.bootstrap_servers,
                    "--heartbeat", str(heartbeat),
                ],
                env=os.environ.copy(),
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

                # Replayed after the commit: forwarded again, and still nobody is told twice.
                _produce(connection)
                _wait_committed(connection, 3, logs)
                time.sleep(QUIET_SECONDS)
                assert received.qsize() == 0, received.get()
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
