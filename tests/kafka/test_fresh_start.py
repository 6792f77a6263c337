"""A lost recovery volume is noticed: the flow refuses to start fresh against stored data once
retention has deleted records it was built from; while the topics hold everything, it rebuilds."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from bytewax.recovery import RecoveryConfig, init_db_dir
from bytewax.testing import run_main
from confluent_kafka import Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from dataflows.fresh_start import has_source_snapshots, refuse_fresh_start
from dataflows.pipeline import FLOW_ID, build_flow
from dataflows.sinks import PostgresSink
from dataflows.sources import EmbeddedSource
from ico_analytics.services.kafka import KafkaServer
from ico_core.errors import ConfigError
from ico_core.events import EventType
from ico_core.settings import Settings
from ico_core.topics import ensure_topics
from tests.local_kafka import local_kafka

pytestmark = pytest.mark.kafka
INPUT = f"{FLOW_ID}.input"
TOPIC = EventType.CONVERSION.topic


@pytest.fixture(scope="module")
def kafka() -> Iterator[KafkaServer]:
    with local_kafka("ico-kafka-fresh-") as server:
        ensure_topics(server.connection)
        producer = Producer(server.connection.client_config())
        for i in range(10):
            producer.produce(TOPIC, value=f"v{i}".encode(), partition=0)
        assert producer.flush(30) == 0
        yield server


def _trim(kafka: KafkaServer) -> None:
    """Retention deletes the partition's first records."""
    admin = AdminClient(kafka.connection.client_config())
    [future] = admin.delete_records([TopicPartition(TOPIC, 0, 5)]).values()
    future.result(30)


def test_a_fresh_start_is_refused_only_when_it_cannot_rebuild_exactly(
    kafka: KafkaServer, migrated_database_url: str, tmp_path: Path
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    init_db_dir(empty, 3)
    assert not has_source_snapshots(empty, INPUT)
    refuse_fresh_start(migrated_database_url, empty, INPUT, kafka.connection)  # nothing stored

    # A run with recovery stores rows and saves the source's position.
    saved = tmp_path / "saved"
    saved.mkdir()
    init_db_dir(saved, 3)
    settings = Settings(GENERATOR_EVENTS=2000, GENERATOR_SEED=5, EVENTS_PER_MINUTE=0)
    flow = build_flow(
        EmbeddedSource(settings), PostgresSink(migrated_database_url), settings=settings
    )
    run_main(
        flow, epoch_interval=timedelta(seconds=0.2), recovery_config=RecoveryConfig(str(saved))
    )
    assert has_source_snapshots(saved, INPUT)
    refuse_fresh_start(migrated_database_url, saved, INPUT, kafka.connection)  # resuming

    # The recovery volume is lost: while the topics still hold every record, the rebuild is
    # exact and goes ahead; once retention deleted some, it is refused, saying what to do.
    refuse_fresh_start(migrated_database_url, empty, INPUT, kafka.connection)
    _trim(kafka)
    with pytest.raises(ConfigError, match=f"retention has deleted records of {TOPIC}/0"):
        refuse_fresh_start(migrated_database_url, empty, INPUT, kafka.connection)


def test_the_kafka_flow_checks_its_recovery_directory(
    kafka: KafkaServer, migrated_database_url: str, tmp_path: Path
) -> None:
    _trim(kafka)
    with psycopg.connect(migrated_database_url) as conn:
        conn.execute(
            "INSERT INTO raw_data.dead_letters (source_topic, source_partition, source_offset,"
            " stage, reason) VALUES ('conversions', 0, 1, 'decode', 'empty record')"
        )
    init_db_dir(tmp_path, 2)
    env = {
        "PATH": os.environ["PATH"],
        "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "DATABASE_URL": migrated_database_url,
        "PII_HMAC_KEY": "a-real-secret",
        "CRM_EMAIL_KEY": "another-real-secret",
        "BYTEWAX_RECOVERY_DIRECTORY": str(tmp_path),
    }
    probe = "import dataflows.pipeline as p; print(p.flow.flow_id)"

    def build(**extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", probe],
            env={**env, **extra},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    refused = build()
    assert refused.returncode != 0
    assert "ConfigError: the recovery directory" in refused.stderr
    assert "set ALLOW_FRESH_START=true" in refused.stderr
    allowed = build(ALLOW_FRESH_START="true")
    assert allowed.returncode == 0, allowed.stderr
    assert allowed.stdout.strip() == FLOW_ID
