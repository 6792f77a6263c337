"""The local Kafka 4.3.1 broker: a real process in a temporary data dir, jars from the cache."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import TIMESTAMP_LOG_APPEND_TIME, Consumer, Producer
from confluent_kafka.admin import AdminClient

from dataflows.records import DeadLetter, RawRecord
from dataflows.validate import DecodeValidate
from generator.model import EventGenerator
from ico_analytics.services import KafkaServer
from ico_core.codec import Codec, LocalSchemas
from ico_core.events import EventType
from ico_core.settings import get_settings
from ico_core.topics import ensure_topics

pytestmark = [pytest.mark.integration, pytest.mark.kafka]

TOPIC = "service-test"
MESSAGES = 1000


@pytest.fixture
def kafka(tmp_path: Path) -> Iterator[KafkaServer]:
    server = KafkaServer(tmp_path / "kafka", get_settings().cache_dir)
    server.start()
    yield server
    server.stop()


def _produce(bootstrap: str, count: int) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    failures: list[str] = []

    def on_delivery(err: object, _msg: object) -> None:
        if err is not None:
            failures.append(str(err))

    for i in range(count):
        producer.produce(TOPIC, key=f"k{i % 37}", value=f"v{i}", on_delivery=on_delivery)
        producer.poll(0)
    assert producer.flush(30) == 0
    assert failures == []


def _consume_all(bootstrap: str, group: str, expected: int) -> set[str]:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([TOPIC])
    values: set[str] = set()
    try:
        for _ in range(600):  # at most ~60 s
            for msg in consumer.consume(500, timeout=0.1):
                assert msg.error() is None, msg.error()
                value = msg.value()
                assert value is not None
                values.add(value.decode())
            if len(values) >= expected:
                break
    finally:
        consumer.close()
    return values


def test_produce_consume_and_restart_keeps_data(kafka: KafkaServer) -> None:
    kafka.start()  # idempotent on a running broker
    ensure_topics(kafka.connection, {TOPIC: 6})
    ensure_topics(kafka.connection, {TOPIC: 6})  # idempotent on an existing topic
    metadata = AdminClient({"bootstrap.servers": kafka.bootstrap_servers}).list_topics(timeout=10)
    assert len(metadata.topics[TOPIC].partitions) == 6

    _produce(kafka.bootstrap_servers, MESSAGES)
    expected = {f"v{i}" for i in range(MESSAGES)}
    assert _consume_all(kafka.bootstrap_servers, "before-restart", MESSAGES) == expected

    kafka.stop()
    assert not kafka.is_running()
    # A new object on the same data dir: what `dev up` in a new process does.
    again = KafkaServer(kafka.data_dir, kafka.cache_dir)
    assert again.bootstrap_servers == kafka.bootstrap_servers
    again.start()
    assert again.is_running()
    assert _consume_all(again.bootstrap_servers, "after-restart", MESSAGES) == expected


def test_crash_keeps_acknowledged_data(kafka: KafkaServer) -> None:
    ensure_topics(kafka.connection, {TOPIC: 3})
    _produce(kafka.bootstrap_servers, 100)
    kafka.kill()
    assert not kafka.is_running()
    kafka.start()
    assert len(_consume_all(kafka.bootstrap_servers, "after-crash", 100)) == 100


def test_a_cluster_id_that_starts_with_a_dash_formats(tmp_path: Path) -> None:
    # base64url ids start with "-" one time in 64; the storage tool must not read it as an option.
    kafka = KafkaServer(tmp_path / "kafka", get_settings().cache_dir)
    kafka.cluster_id = "-" + kafka.cluster_id[1:]
    kafka.start()
    try:
        assert kafka.is_running()
    finally:
        kafka.stop()


def test_a_producer_clock_two_hours_ahead_cannot_move_now(kafka: KafkaServer) -> None:
    """Topics stamp messages with the broker's append time, so events two hours ahead of the
    real time are dead letters however the producer stamped them."""
    topic = EventType.CLICKSTREAM.topic
    ensure_topics(kafka.connection, {topic: 1})
    codec = Codec(LocalSchemas())
    ahead_ms = int(time.time() * 1000) + 2 * 3_600_000
    clean = next(
        e for e in EventGenerator(seed=5, data_quality_issues=False, start_time_ms=ahead_ms)
        if e.event_type is EventType.CLICKSTREAM
    )  # fmt: skip
    producer = Producer(kafka.connection.client_config())
    producer.produce(topic, codec.encode(clean.event_type, clean.record), timestamp=ahead_ms)
    assert producer.flush(30) == 0
    consumer = Consumer(
        {**kafka.connection.client_config(), "group.id": "clock", "auto.offset.reset": "earliest"}
    )
    consumer.subscribe([topic])
    message = None
    deadline = time.monotonic() + 30
    while message is None and time.monotonic() < deadline:
        message = consumer.poll(1)
    consumer.close()
    assert message is not None and message.error() is None
    kind, stamped_ms = message.timestamp()
    assert kind == TIMESTAMP_LOG_APPEND_TIME
    assert abs(stamped_ms - time.time() * 1000) < 60_000  # the broker's now, not the producer's
    record = RawRecord(topic, 0, message.offset(), message.key(), message.value(), stamped_ms)
    [verdict] = DecodeValidate(codec, websites_count=20)([record])
    assert isinstance(verdict, DeadLetter)
    assert verdict.reason.startswith(f"clickstream.timestamp={clean.record['timestamp']}: outside")
