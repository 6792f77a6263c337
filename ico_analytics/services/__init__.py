"""Local services run as managed processes: Kafka and a Confluent-compatible schema registry."""

from ico_analytics.services.kafka import KafkaServer
from ico_analytics.services.registry import SchemaRegistryServer

__all__ = ["KafkaServer", "SchemaRegistryServer"]
