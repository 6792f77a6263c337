"""Sustained Kafka -> PostgreSQL throughput of the dataflow, and of a hand-written baseline.

Both read the same pre-produced topics from the beginning to their end, into a fresh database.
"""

from __future__ import annotations

import itertools
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psycopg
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition
from confluent_kafka.admin import AdminClient

from bench.runner import RAW_ROW_COUNT, SNAPSHOT_SECONDS, RowCounter
from bench.stack import Stack, fresh_database
from dataflows.enrich import RowBuilder
from dataflows.records import TableRow
from dataflows.sinks import PostgresSink
from generator.model import EventGenerator
from generator.producer import produce
from ico_analytics.services.dataflow import DataflowCluster, stack_env
from ico_core.codec import Codec, RegistrySchemas
from ico_core.errors import CodecError
from ico_core.events import EventType
from ico_core.kafka import KafkaConnection
from ico_core.rules import UUID_PATTERN
from ico_core.settings import get_settings

SEED = 20240601


@dataclass(frozen=True)
class Produced:
    events: int
    seconds: float

    @property
    def events_per_s(self) -> float:
        return self.events / self.seconds


def produce_dataset(stack: Stack, events: int) -> Produced:
    """``events`` seeded events with data-quality issues, into the (empty) topics.

    Simulated time starts an hour ago at 10,000 events/min, like the Kafka tests' dataset, so
    every event time is inside the validator's window (7 days back, 1 hour ahead).
    """
    codec = Codec(RegistrySchemas(stack.registry_url, register=True))
    generator = EventGenerator(
        seed=SEED, start_time_ms=int(time.time() * 1000) - 3_600_000, events_per_minute=10_000
    )
    began = time.monotonic()
    produce(itertools.islice(generator, events), codec, stack.kafka)
    return Produced(events, time.monotonic() - began)


@dataclass(frozen=True)
class PipelineRun:
    processes: int
    recovery: bool
    events: int
    seconds: float  # first process start -> last process exit
    steady_seconds: float  # first committed raw row -> last
    raw_rows: int
    steady_events_per_s: float

    @property
    def events_per_s(self) -> float:
        return self.events / self.seconds

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "events_per_s": self.events_per_s}


def run_pipeline(
    stack: Stack, events: int, *, processes: int, recovery: bool, work_dir: Path
) -> PipelineRun:
    """Run the dataflow over the whole topics (``KAFKA_SOURCE_TAIL=false``) into a fresh
    database; the processes exit at the end of the topics."""
    label = f"p{processes}-{'recovery' if recovery else 'norecovery'}"
    with fresh_database(stack, f"bench_{label.replace('-', '_')}") as url:
        dataflow = DataflowCluster(
            snapshot_seconds=SNAPSHOT_SECONDS,
            env={
                **stack_env(stack.bootstrap, stack.registry_url, url),
                "KAFKA_SOURCE_TAIL": "false",
            },
            log_dir=work_dir / label / "logs",
            recovery_dir=work_dir / label / "recovery" if recovery else None,
        )
        counter = RowCounter(url)
        counter.start()
        began = dataflow.start(processes)
        # Generous: even 1,000 events/s finishes well inside it.
        ended = dataflow.wait(timeout=120 + events / 1000)
        counter.finish()
    if counter.first is None:
        raise RuntimeError(f"dataflow {label} committed no raw rows\n{dataflow.logs()}")
    (first_at, first_rows), (last_at, rows) = counter.first, counter.last
    steady = max(last_at - first_at, 1e-9)
    # Rows committed after the first poll that saw any, scaled from rows to consumed events
    # (raw rows leave out dead letters and duplicates).
    steady_rate = (rows - first_rows) / steady * events / rows
    return PipelineRun(processes, recovery, events, ended - began, steady, rows, steady_rate)


# ---------------------------------------------------------------------------------------------
# Baseline: only what it takes to get raw rows in, no framework, no state, no windows.

_UUID = re.compile(UUID_PATTERN).fullmatch
_UUID_FIELDS = ("session_id", "user_id")
#: Messages per ``Consumer.consume`` call, and so per database transaction.
BASELINE_BATCH = 5000


@dataclass(frozen=True)
class BaselineRun:
    events: int
    seconds: float
    raw_rows: int
    undecodable: int

    @property
    def events_per_s(self) -> float:
        return self.events / self.seconds

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "events_per_s": self.events_per_s}


def _partitions(bootstrap: str) -> list[TopicPartition]:
    topics = AdminClient(KafkaConnection(bootstrap).client_config()).list_topics(timeout=10).topics
    return [
        TopicPartition(t.topic, p, OFFSET_BEGINNING)
        for t in EventType
        for p in topics[t.topic].partitions
    ]


def run_baseline(stack: Stack, events: int) -> BaselineRun:
    """One process: ``consume`` -> ``Codec.decode`` -> the product's ``RowBuilder`` (it fills
    the enriched and pseudonymised columns the raw tables require) -> the product's PostgreSQL
    sink (binary COPY + upsert), so the ratio measures everything else the dataflow does.

    Records that fail to decode, or whose ids are not uuids (the uuid columns would reject the
    whole COPY), are skipped; nothing else is validated.
    """
    codec = Codec(RegistrySchemas(stack.registry_url))
    build_row = RowBuilder(get_settings().pii_hmac_key.get_secret_value().encode())
    with fresh_database(stack, "bench_baseline") as url:
        writer = PostgresSink(url).build("baseline", 0, 1)
        partitions = _partitions(stack.bootstrap)
        consumer = Consumer(
            {
                **stack.kafka.client_config(),
                "group.id": "ico-analytics-bench-baseline",
                "enable.auto.commit": False,
                "enable.partition.eof": True,
            }
        )
        began = time.monotonic()
        consumer.assign(partitions)
        open_partitions = {(tp.topic, tp.partition) for tp in partitions}
        consumed = undecodable = 0
        while open_partitions:
            rows: list[TableRow] = []
            for msg in consumer.consume(BASELINE_BATCH, timeout=1.0):
                error = msg.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        open_partitions.discard((msg.topic(), msg.partition()))
                        continue
                    raise RuntimeError(f"baseline consumer: {error}")
                consumed += 1
                try:
                    event_type, record = codec.decode(msg.value())
                except CodecError:
                    undecodable += 1
                    continue
                if not _UUID(record[event_type.id_field]) or not all(
                    record[f] is None or _UUID(record[f]) for f in _UUID_FIELDS
                ):
                    continue
                # The coordinates validation adds, which the raw rows store.
                record["source_partition"], record["source_offset"] = msg.partition(), msg.offset()
                rows.append(build_row((event_type, record)))
            writer.write_batch(rows)
        seconds = time.monotonic() - began
        consumer.close()
        writer.close()
        with psycopg.connect(url) as conn:
            total = conn.execute(RAW_ROW_COUNT).fetchone()
    if consumed != events:
        raise RuntimeError(f"baseline consumed {consumed} of {events} events")
    return BaselineRun(events, seconds, int(total[0]) if total else 0, undecodable)
