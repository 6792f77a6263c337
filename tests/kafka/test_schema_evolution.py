"""Other producers' schema versions and a registry outage on the real stack: resolved, retried,
nothing lost; only what cannot be resolved becomes a dead letter."""

from __future__ import annotations

import copy
import io
import itertools
import json
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fastavro
import psycopg
import pytest
from confluent_kafka import Producer
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient

from generator.model import EventGenerator
from ico_analytics.services.dataflow import DataflowCluster, stack_env
from ico_analytics.services.kafka import KafkaServer
from ico_analytics.services.registry import SchemaRegistryServer
from ico_core.codec import Codec, RegistrySchemas, schema_text
from ico_core.events import EventType
from ico_core.settings import get_settings
from ico_core.topics import ensure_topics
from tests.groundtruth import compare_database, expected_from

CLICKS = EventType.CLICKSTREAM


def _evolved(change: str) -> dict[str, Any]:
    """The committed clickstream schema as another producer changed it."""
    schema = json.loads(schema_text(CLICKS))
    fields = schema["fields"]
    if change == "field added":
        fields.append({"name": "experiment_variant", "type": ["null", "string"], "default": None})
    elif change == "optional field removed":
        schema["fields"] = [f for f in fields if f["name"] != "utm_campaign"]
    else:  # "type changed": page_load_time from a nullable double to a nullable string
        for f in fields:
            if f["name"] == "page_load_time":
                f["type"] = ["null", "string"]
    return schema


def _framed(schema_id: int, parsed: Any, record: dict[str, Any]) -> bytes:
    buf = io.BytesIO()
    buf.write(struct.pack(">bI", 0, schema_id))
    fastavro.schemaless_writer(buf, parsed, record)
    return buf.getvalue()


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[tuple[KafkaServer, SchemaRegistryServer]]:
    cache = get_settings().cache_dir
    kafka = KafkaServer(tmp_path / "kafka", cache)
    kafka.start()
    registry = SchemaRegistryServer(tmp_path / "registry", cache)
    registry.start()
    ensure_topics(kafka.connection)
    try:
        yield kafka, registry
    finally:
        registry.stop()
        kafka.stop()


@pytest.mark.kafka
def test_newer_schema_versions_and_a_registry_outage_lose_nothing(
    stack: tuple[KafkaServer, SchemaRegistryServer], tmp_path: Path, migrated_database_url: str
) -> None:
    kafka, registry = stack
    ours = Codec(RegistrySchemas(registry.url, register=True))
    client = SchemaRegistryClient({"url": registry.url})
    versions = {}
    for change in ("field added", "optional field removed", "type changed"):
        text = json.dumps(_evolved(change))
        schema_id = client.register_schema(CLICKS.subject, Schema(text, "AVRO"))
        versions[change] = (schema_id, fastavro.parse_schema(json.loads(text)))
    assert len({ours.schemas.schema_id(CLICKS), *(v[0] for v in versions.values())}) == 4

    # 16,000 clean events: the first 10,000 with our schema, then 2,000 clickstream events with
    # each newer version (the others keep ours); page views written with the changed type
    # cannot be resolved to ours and must become dead letters, nothing else.
    events = EventGenerator(
        seed=11,
        data_quality_issues=False,
        start_time_ms=int(time.time() * 1000) - 3_600_000,
        events_per_minute=10_000,
    )
    truth: list[dict[str, Any]] = []
    producer = Producer({**kafka.connection.client_config(), "enable.idempotence": True})
    phases = [None] * 10_000 + [c for c in versions for _ in range(2_000)]
    for event, phase in zip(itertools.islice(events, len(phases)), phases, strict=True):
        record, fault = event.record, None
        if phase is None or event.event_type is not CLICKS:
            value = ours.encode(event.event_type, record)
        else:
            schema_id, parsed = versions[phase]
            written = copy.deepcopy(record)
            if phase == "field added":
                written["experiment_variant"] = "B"
            elif phase == "optional field removed":
                del written["utm_campaign"]
                record = {**record, "utm_campaign": None}  # what we read: the field's default
            elif record["page_load_time"] is not None:
                written["page_load_time"] = str(record["page_load_time"])
                fault = "malformed"
            value = _framed(schema_id, parsed, written)
        producer.produce(event.event_type.topic, value=value, key=event.key.encode())
        producer.poll(0)
        truth.append({"event_type": event.event_type.value, "fault": fault, "record": record})
    assert producer.flush(60) == 0
    expected = expected_from(truth)
    assert 0 < expected.dead_letters < 2_000

    # The registry is down when the dataflow starts: every id it meets is unknown to it.
    registry.stop()
    cluster = DataflowCluster(
        {
            **stack_env(kafka.bootstrap_servers, registry.url, migrated_database_url),
            "KAFKA_SOURCE_TAIL": "false",
        },
        tmp_path / "logs",
        tmp_path / "recovery",
        snapshot_seconds=1,
    )
    restarted = threading.Timer(20, registry.start)
    try:
        cluster.start(1)
        restarted.start()
        cluster.wait(600)
    finally:
        restarted.cancel()
        cluster.kill()
    logs = cluster.logs(tail=200_000)
    assert "schema registry unavailable" in logs
    assert compare_database(migrated_database_url, expected) == []
    with psycopg.connect(migrated_database_url) as conn:
        reasons = conn.execute(
            "SELECT DISTINCT stage, event_type, reason FROM raw_data.dead_letters"
        ).fetchall()
    assert reasons == [
        (
            "decode",
            None,
            "undecodable clickstream payload: SchemaResolutionError: schema mismatch: "
            "['null', 'string'] not found in ['null', 'double']",
        )
    ]
