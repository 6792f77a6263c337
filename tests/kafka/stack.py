"""Shared pieces of the Kafka tests: the stack handle, the dataset, poison records, progress."""

from __future__ import annotations

import io
import struct
import time
from dataclasses import dataclass

import fastavro
import psycopg

from generator.model import EventGenerator
from ico_analytics.services.dataflow import DataflowCluster
from ico_analytics.services.kafka import KafkaServer
from ico_core.codec import PARSED_SCHEMAS, Codec
from ico_core.events import EventType
from tests.groundtruth import Expected

#: How long a dataflow run may take to reach a point of progress.
PROGRESS_TIMEOUT = 600.0


def wait_for_clickstream_rows(url: str, target: float, cluster: DataflowCluster) -> int:
    """Poll until at least ``target`` clickstream rows are stored; returns the count seen.

    Faults are injected at points of progress rather than of time, so they land in work in
    progress however fast the dataflow runs.
    """
    deadline = time.monotonic() + PROGRESS_TIMEOUT
    with psycopg.connect(url, autocommit=True) as conn:
        while True:
            row = conn.execute("SELECT count(*) FROM raw_data.clickstream_events").fetchone()
            rows = int(row[0]) if row else 0
            if rows >= target:
                return rows
            assert time.monotonic() < deadline, f"stuck at {rows} rows\n{cluster.logs()}"
            time.sleep(0.05)


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
