"""``ico-analytics alerts forward``: the dataflow's anomaly alerts reach a person.

The dataflow writes each window that becomes anomalous to the ``alerts`` topic (JSON, key
``project:metric:window_start``, ``dataflows.anomalies.alert_message``) at least once: a replay
after a crash repeats it under the same key. This consumer, in a group of its own, POSTs each
message to Alertmanager's v2 API as an alert labelled with that key's parts, so a repeated
message is the same alert to Alertmanager, which notifies once per ``repeat_interval``. Offsets
are committed only once every Alertmanager given has accepted the batch: a crash re-sends,
it never loses.

Its Prometheus metrics (``ForwarderMetrics``) tell a forwarder that delivers from one that is
stuck: what is held uncommitted and since when, the last commit, and failed POSTs.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from confluent_kafka import Consumer, KafkaException, Message
from prometheus_client import CollectorRegistry, Counter, Gauge
from tenacity import RetryError, Retrying, retry_if_exception, wait_exponential

from ico_core.events import ALERTS_TOPIC
from ico_core.kafka import KafkaConnection

log = logging.getLogger(__name__)

ALERTNAME = "IcoAnomaly"
DEFAULT_GROUP_ID = "ico-analytics-alert-forwarder"
#: Messages per POST: Alertmanager takes a list; one batch is one commit.
BATCH_SIZE = 100


def alertmanager_alert(value: bytes, now: datetime, resolve_after: timedelta) -> dict[str, Any]:
    """The Alertmanager alert of one message of the ``alerts`` topic.

    Its labels are all stable (the key's project, metric and window_start, and constants), so
    that a replayed message has the same fingerprint. It resolves ``resolve_after`` from its
    last POST, as a Prometheus alert does when no longer sent; a replay within that time renews
    it rather than notifying again.
    """
    body = json.loads(value)
    project = str(body["ico_website_id"])
    metric = str(body["metric"])
    start = str(body["window_start"])
    summary = (
        f"Project {project}: {metric} {body['direction']} in the window from {start} "
        f"({body['value']:g} against a baseline of {body['baseline_mean']:g}, "
        f"z {body['z_score']:.1f})."
    )
    return {
        "labels": {
            "alertname": ALERTNAME,
            "severity": "warning",
            "team": "ico-analytics",
            "project": project,
            "metric": metric,
            "window_start": start,
        },
        "annotations": {
            "summary": summary,
            "description": "The business KPIs dashboard's Anomalies table lists the flagged windows.",
        },
        "startsAt": str(body["window_end"]),
        "endsAt": (now + resolve_after).isoformat(),
    }


class ForwarderMetrics:
    """The forwarder's counters and gauges, on ``registry`` (the CLI serves one with
    ``--metrics-port``; without it they go nowhere)."""

    def __init__(self, registry: CollectorRegistry, alertmanager_urls: Sequence[str]) -> None:
        self.forwarded = Counter(
            "ico_alert_forwarder_alerts_forwarded",
            "Alerts every Alertmanager accepted",
            registry=registry,
        )
        self.skipped = Counter(
            "ico_alert_forwarder_messages_skipped",
            "Messages of the alerts topic that do not decode as an alert, skipped",
            registry=registry,
        )
        self.post_failures = Counter(
            "ico_alert_forwarder_post_failures",
            "POSTs of a batch that an Alertmanager did not accept (each is retried)",
            ["alertmanager"],
            registry=registry,
        )
        self.pending = Gauge(
            "ico_alert_forwarder_pending_messages",
            "Messages consumed and not yet committed",
            registry=registry,
        )
        self.pending_since = Gauge(
            "ico_alert_forwarder_pending_since_seconds",
            "Unix time since which the oldest uncommitted message is held; 0: none held",
            registry=registry,
        )
        self.last_commit = Gauge(
            "ico_alert_forwarder_last_commit_timestamp_seconds",
            "Unix time of the last offset commit; 0: none yet",
            registry=registry,
        )
        # Every Alertmanager's series exists from the start: rate() needs the 0 before a failure.
        for url in alertmanager_urls:
            self.post_failures.labels(url)

    def consumed(self, messages: int) -> None:
        self.pending.set(messages)
        self.pending_since.set_to_current_time()

    def committed(self) -> None:
        self.pending.set(0)
        self.pending_since.set(0)
        self.last_commit.set_to_current_time()


def _retryable(exc: BaseException) -> bool:
    """Alertmanager down or overloaded: wait and re-send. A 4xx is a message it will never
    take: the process stops rather than skip it silently or retry forever."""
    if isinstance(exc, httpx.HTTPStatusError):
        return exc.response.status_code >= 500
    return isinstance(exc, httpx.TransportError)


class Heartbeat:
    """A file touched while the loop turns, waiting on Kafka or on Alertmanager alike: the
    pod's probes read its age (an Alertmanager outage is no reason for a restart; a hung
    process is)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path

    def beat(self) -> None:
        if self.path is not None:
            self.path.touch()


def _post(
    client: httpx.Client,
    urls: Sequence[str],
    alerts: list[dict[str, Any]],
    stop: threading.Event,
    heartbeat: Heartbeat,
    metrics: ForwarderMetrics,
) -> bool:
    """POST ``alerts`` to every Alertmanager, retrying until all accepted (True) or ``stop``
    is set (False: not committed, so sent again by the next run)."""

    def wait_unless_stopped(seconds: float) -> None:
        # In short steps, so that the heartbeat goes on during a long back-off.
        deadline = time.monotonic() + seconds
        while not stop.is_set() and (left := deadline - time.monotonic()) > 0:
            heartbeat.beat()
            stop.wait(min(left, 5.0))

    retrying = Retrying(
        retry=retry_if_exception(_retryable),
        wait=wait_exponential(multiplier=0.5, max=30),
        stop=lambda _: stop.is_set(),
        sleep=wait_unless_stopped,  # a stop request ends the wait too
        before_sleep=lambda state: log.warning(
            "Alertmanager did not accept the batch (%s); retrying",
            state.outcome.exception() if state.outcome else None,
        ),
    )
    try:
        for attempt in retrying:
            with attempt:
                # Each instance of an Alertmanager cluster must get every alert (they share
                # notifications, not alerts); one that accepted already deduplicates re-sends.
                for url in urls:
                    try:
                        response = client.post(f"{url.rstrip('/')}/api/v2/alerts", json=alerts)
                        response.raise_for_status()
                    except httpx.HTTPError:
                        metrics.post_failures.labels(url).inc()
                        raise
    except RetryError:
        return False
    return True


def _values(messages: list[Message]) -> list[bytes]:
    values: list[bytes] = []
    for message in messages:
        error = message.error()
        if error is not None:
            raise KafkaException(error)
        value = message.value()
        if isinstance(value, bytes):
            values.append(value)
    return values


def forward(
    connection: KafkaConnection,
    alertmanager_urls: Sequence[str],
    stop: threading.Event,
    *,
    metrics: ForwarderMetrics,
    group_id: str = DEFAULT_GROUP_ID,
    resolve_after: timedelta = timedelta(hours=1),
    heartbeat: Path | None = None,
) -> int:
    """Forward the ``alerts`` topic to Alertmanager until ``stop`` is set; how many sent."""
    consumer = Consumer(
        {
            **connection.client_config(),
            "group.id": group_id,
            "enable.auto.commit": False,
            # A new group starts from the oldest alert retained: late rather than never.
            "auto.offset.reset": "earliest",
        }
    )
    sent = 0
    beat = Heartbeat(heartbeat)
    try:
        consumer.subscribe([ALERTS_TOPIC])
        with httpx.Client(timeout=10) as client:
            while not stop.is_set():
                beat.beat()
                messages = consumer.consume(num_messages=BATCH_SIZE, timeout=1.0)
                if not messages:
                    continue
                metrics.consumed(len(messages))
                now = datetime.now(UTC)
                alerts = []
                values = _values(messages)
                # A message without a value (a tombstone) carries no alert either.
                metrics.skipped.inc(len(messages) - len(values))
                for value in values:
                    try:
                        alerts.append(alertmanager_alert(value, now, resolve_after))
                    except (ValueError, KeyError, TypeError) as exc:
                        # Not the dataflow's format: nothing Alertmanager could be told.
                        log.error("skipped an alert message that does not parse: %s", exc)
                        metrics.skipped.inc()
                if alerts:
                    if not _post(client, alertmanager_urls, alerts, stop, beat, metrics):
                        break
                    sent += len(alerts)
                    metrics.forwarded.inc(len(alerts))
                consumer.commit(asynchronous=False)
                metrics.committed()
    finally:
        consumer.close()
    return sent
