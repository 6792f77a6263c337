"""Fixtures of the alerting tests: helm (for the chart's rules and receivers) and the Kafka stack."""

from __future__ import annotations

from tests.chart.conftest import helm
from tests.kafka.conftest import kafka_stack

__all__ = ["helm", "kafka_stack"]
