"""Shared pieces of the Kafka tests: the stack handle, the dataset, poison records."""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass

import fastavro

from generator.model import EventGenerator
from ico_analytics.codec import PARSED_SCHEMAS, Codec, EventType
from ico_analytics.services.kafka import KafkaServer
from tests.groundtruth import Expected


@dataclass(frozen=True)
class KafkaStack:
    kafka: KafkaServer
    registry_url: str

    @property
    def bootstrap(self) -> str:
        return self.kafka.bootstrap_servers


def poison_records(codec: Codec) -> list[tuple[str, bytes]]:
    """Per topic: random bytes, an unknown schema id, and valid Avro with absurd values."""
    records: list[tuple[str, bytes]] = []
    for event_type in EventType:
        records.append((event_type.topic, b"\x00\x13\x37garbage\xff\xfe" * 3))
        records.append((event_type.topic, struct.pack(">bI", 0, 987_654) + b"\x02\x04\x06"))
        absurd = next(
            e.record
            for e in EventGenerator(seed=1, data_quality_issues=False)
            if e.event_type is event_type
        )
        absurd = {**absurd, "ico_website_id": 31_337, "timestamp": 4_102_444_800_000}
        buf = io.BytesIO()
        buf.write(struct.pack(">bI", 0, codec.schemas.schema_id(event_type)))
        fastavro.schemaless_writer(buf, PARSED_SCHEMAS[event_type], absurd)
        records.append((event_type.topic, buf.getvalue()))
    return records


@dataclass(frozen=True)
class Dataset:
    expected: Expected
    poison: int
    produced_seconds: float
