"""The Kafka source against a real broker: records retention deleted before they were read are
logged and counted, and partitions added while running stop the dataflow for a restart."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import pytest
from confluent_kafka import Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewPartitions
from prometheus_client import REGISTRY

from dataflows import sources
from dataflows.records import RawRecord
from dataflows.sources import KafkaRawSource, PartitionsAdded
from ico_analytics.services.kafka import KafkaServer
from ico_core.events import EventType
from ico_core.topics import TOPIC_PARTITIONS, ensure_topics
from tests.local_kafka import local_kafka

pytestmark = pytest.mark.kafka
TOPIC = EventType.CONVERSION.topic


@pytest.fixture(scope="module")
def kafka() -> Iterator[KafkaServer]:
    with local_kafka("ico-kafka-source-") as server:
        ensure_topics(server.connection, {**TOPIC_PARTITIONS, TOPIC: 1})
        yield server


def _read_all(part: sources._KafkaPartition, count: int) -> list[RawRecord]:
    got: list[RawRecord] = []
    deadline = time.monotonic() + 30
    while len(got) < count and time.monotonic() < deadline:
        got += [r for r in part.next_batch() if isinstance(r, RawRecord)]
    return got


def test_a_snapshot_offset_deleted_by_retention_is_logged_counted_and_skipped(
    kafka: KafkaServer, caplog: pytest.LogCaptureFixture
) -> None:
    producer = Producer(kafka.connection.client_config())
    for i in range(100):
        producer.produce(TOPIC, value=f"v{i}".encode(), key=b"k", partition=0)
    assert producer.flush(30) == 0
    # Retention deletes the first 60 records; the dataflow's snapshot still points at 10.
    admin = AdminClient(kafka.connection.client_config())
    [future] = admin.delete_records([TopicPartition(TOPIC, 0, 60)]).values()
    future.result(30)
    skipped_before = (
        REGISTRY.get_sample_value("ico_dataflow_records_skipped_total", {"topic": TOPIC}) or 0.0
    )
    source = KafkaRawSource(kafka.connection, tail=False)
    with caplog.at_level(logging.ERROR, logger="dataflows.sources"):
        part = source.build_part("input", f"0-{TOPIC}", 10)
    records = _read_all(part, 40)
    part.close()
    assert [r.offset for r in records] == list(range(60, 100))
    assert "continuing at 60, 50 record(s) never read" in caplog.text
    skipped = REGISTRY.get_sample_value("ico_dataflow_records_skipped_total", {"topic": TOPIC})
    assert skipped == skipped_before + 50


def test_partitions_added_while_running_stop_the_source_for_a_restart(
    kafka: KafkaServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sources, "PARTITION_CHECK_SECONDS", 0.0)
    source = KafkaRawSource(kafka.connection)
    assert f"0-{TOPIC}" in source.list_parts()
    part = source.build_part("input", f"0-{TOPIC}", None)
    part.next_batch()  # one partition, as the dataflow started
    admin = AdminClient(kafka.connection.client_config())
    [future] = admin.create_partitions([NewPartitions(TOPIC, 2)]).values()
    future.result(30)
    with pytest.raises(
        PartitionsAdded, match=f"{TOPIC} has 2 partitions, the dataflow started with 1"
    ):
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            part.next_batch()
            time.sleep(0.2)
    part.close()
    assert f"1-{TOPIC}" in KafkaRawSource(kafka.connection).list_parts()  # the restart reads it
