"""Dead letters and alerts reach Kafka at least once: a batch the brokers did not acknowledge
raises instead of vanishing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from bytewax.connectors.kafka import KafkaSinkMessage
from confluent_kafka import Consumer

from dataflows.kafka_sink import KafkaTopicSink
from ico_analytics.services.kafka import KafkaServer
from ico_core.errors import SinkError
from ico_core.topics import ensure_topics
from tests.local_kafka import local_kafka

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def kafka() -> Iterator[KafkaServer]:
    with local_kafka("ico-kafka-sink-") as server:
        yield server


def test_a_batch_returns_once_every_message_is_acknowledged(kafka: KafkaServer) -> None:
    ensure_topics(kafka.connection, {"sink-test": 1})
    partition = KafkaTopicSink(kafka.connection, "sink-test").build("dead_letter_topic", 0, 1)
    messages = [KafkaSinkMessage(f"k{i}".encode(), f"v{i}".encode()) for i in range(500)]
    partition.write_batch(messages)
    partition.close()
    consumer = Consumer(
        {
            **kafka.connection.client_config(),
            "group.id": "sink-test",
            "auto.offset.reset": "earliest",
            "enable.partition.eof": True,
        }
    )
    consumer.subscribe(["sink-test"])
    got: list[tuple[bytes | None, bytes | None]] = []
    while len(got) < 500:
        batch = consumer.consume(500, timeout=10)
        assert batch, f"only {len(got)} of 500 messages arrived"
        got += [(m.key(), m.value()) for m in batch if m.error() is None]
    consumer.close()
    assert got == [(m.key, m.value) for m in messages]


def test_a_batch_the_brokers_refuse_raises_instead_of_vanishing(kafka: KafkaServer) -> None:
    # The broker creates no topic by itself: every delivery fails with a report.
    sink = KafkaTopicSink(kafka.connection, "no-such-topic", delivery_timeout=3)
    partition = sink.build("alerts_topic", 0, 1)
    with pytest.raises(SinkError, match=r"2 of 2 messages to no-such-topic failed"):
        partition.write_batch([KafkaSinkMessage(b"a", b"1"), KafkaSinkMessage(b"b", b"2")])
