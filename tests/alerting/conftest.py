"""Fixtures of the alerting tests: helm (the chart's rules and receivers) and a Kafka stack.

The stack is this folder's own and lives for one module: the generator's events produced here
must not reach the topics that ``tests/kafka`` compares with its ground truth.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ico_analytics.services.kafka import KafkaServer
from ico_analytics.services.registry import SchemaRegistryServer
from ico_core.settings import get_settings
from ico_core.topics import ensure_topics
from tests.chart.conftest import helm
from tests.kafka.stack import KafkaStack

__all__ = ["alerting_kafka", "helm"]


@pytest.fixture(scope="module")
def alerting_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaStack]:
    cache = get_settings().cache_dir
    root = tmp_path_factory.mktemp("alerting-kafka")
    kafka = KafkaServer(root / "kafka", cache)
    kafka.start()
    registry = SchemaRegistryServer(root / "registry", cache)
    try:
        registry.start()
        ensure_topics(kafka.connection)
        yield KafkaStack(kafka, registry.url)
    finally:
        registry.stop()
        kafka.stop()
