"""A real Kafka 4.3.1 + schema registry for the session, and one seeded 200k-event dataset."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator

import pytest
from confluent_kafka import Producer

from generator.model import EventGenerator, JsonlWriter
from generator.producer import produce
from ico_analytics.services.kafka import KafkaServer
from ico_analytics.services.registry import SchemaRegistryServer
from ico_core.codec import Codec, RegistrySchemas
from ico_core.settings import get_settings
from ico_core.topics import ensure_topics
from tests.groundtruth import expected_from, read_jsonl
from tests.kafka.stack import Dataset, KafkaStack, poison_records

EVENTS = 200_000
SEED = 424242


@pytest.fixture(scope="session")
def kafka_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaStack]:
    cache = get_settings().cache_dir
    root = tmp_path_factory.mktemp("kafka-stack")
    kafka = KafkaServer(root / "kafka", cache)
    kafka.start()
    registry = SchemaRegistryServer(root / "registry", cache)
    registry.start()
    ensure_topics(kafka.connection)
    try:
        yield KafkaStack(kafka, registry.url)
    finally:
        registry.stop()
        kafka.stop()


@pytest.fixture(scope="session")
def dataset(kafka_stack: KafkaStack, tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    """200k seeded events with data-quality issues, plus poison records on every topic."""
    truth = tmp_path_factory.mktemp("truth") / "events.jsonl"
    codec = Codec(RegistrySchemas(kafka_stack.registry_url, register=True))
    # Simulated time starts an hour ago and runs at 10k events/min: 20 minutes of event time.
    generator = EventGenerator(
        seed=SEED, start_time_ms=int(time.time() * 1000) - 3_600_000, events_per_minute=10_000
    )
    started = time.monotonic()
    with JsonlWriter(truth) as writer:

        def tee() -> Iterator[object]:
            for event in itertools.islice(generator, EVENTS):
                writer.write(event)
                yield event

        produce(tee(), codec, kafka_stack.kafka.connection)  # type: ignore[arg-type]
    poison = poison_records(codec)
    producer = Producer({"bootstrap.servers": kafka_stack.bootstrap, "enable.idempotence": True})
    for topic, value in poison:
        producer.produce(topic, value=value, key=b"poison")
    assert producer.flush(30) == 0
    expected = expected_from(read_jsonl(truth))
    expected.dead_letters += len(poison)
    return Dataset(expected, len(poison), time.monotonic() - started)
