"""Outages of the broker and of PostgreSQL while data flows: retried, nothing lost or doubled."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from generator.model import EventGenerator, GeneratedEvent, JsonlWriter, paced
from generator.producer import produce
from ico_analytics.services.dataflow import DataflowCluster, stack_env
from ico_analytics.services.kafka import KafkaServer
from ico_analytics.services.postgres import LocalPostgres
from ico_analytics.services.registry import SchemaRegistryServer
from ico_core.codec import Codec, RegistrySchemas
from ico_core.settings import get_settings
from ico_core.topics import ensure_topics
from tests.groundtruth import Expected, compare_database, expected_from, read_jsonl
from tests.kafka.stack import Dataset, KafkaStack, wait_for_clickstream_rows


def _wait_for_truth(url: str, expected: Expected, timeout: float, cluster: DataflowCluster) -> None:
    deadline = time.monotonic() + timeout
    problems = ["not checked"]
    while time.monotonic() < deadline:
        problems = compare_database(url, expected)
        if not problems:
            return
        time.sleep(2)
    raise AssertionError("\n".join(problems) + "\n" + cluster.logs())


@pytest.mark.kafka
@pytest.mark.parametrize("end", ["clean stop", "kill -9"])
def test_broker_outage_of_20_seconds(tmp_path: Path, migrated_database_url: str, end: str) -> None:
    cache = get_settings().cache_dir
    kafka = KafkaServer(tmp_path / "kafka", cache)
    kafka.start()
    registry = SchemaRegistryServer(tmp_path / "registry", cache)
    registry.start()
    cluster: DataflowCluster | None = None
    try:
        ensure_topics(kafka.connection)
        codec = Codec(RegistrySchemas(registry.url, register=True))
        truth = tmp_path / "truth.jsonl"
        events = EventGenerator(
            seed=7, start_time_ms=int(time.time() * 1000) - 1_800_000, events_per_minute=10_000
        )
        failures: list[BaseException] = []

        def generate() -> None:
            try:
                with JsonlWriter(truth) as writer:

                    def tee() -> Iterator[GeneratedEvent]:
                        for e in paced(
                            itertools.islice(events, 40_000), 120_000
                        ):  # 2,000/s for 20 s
                            writer.write(e)
                            yield e

                    produce(tee(), codec, kafka.connection)
            except BaseException as exc:
                failures.append(exc)

        cluster = DataflowCluster(
            stack_env(kafka.bootstrap_servers, registry.url, migrated_database_url),
            tmp_path / "logs",
            tmp_path / "recovery",
            snapshot_seconds=1,
        )
        producer_thread = threading.Thread(target=generate)
        producer_thread.start()
        cluster.start(1)
        time.sleep(6)
        if end == "kill -9":  # under load, no controlled shutdown: the logs are recovered
            kafka.kill()
        else:
            kafka.stop()
        time.sleep(20)
        kafka.start()
        producer_thread.join(300)
        assert not producer_thread.is_alive() and not failures, failures
        _wait_for_truth(migrated_database_url, expected_from(read_jsonl(truth)), 300, cluster)
    finally:
        if cluster is not None:
            cluster.kill()
        registry.stop()
        kafka.stop()


@pytest.mark.kafka
def test_postgres_restart_mid_run(
    kafka_stack: KafkaStack,
    dataset: Dataset,
    postgres_server: LocalPostgres,
    migrated_database_url: str,
    tmp_path: Path,
) -> None:
    cluster = DataflowCluster(
        {
            **stack_env(kafka_stack.bootstrap, kafka_stack.registry_url, migrated_database_url),
            "KAFKA_SOURCE_TAIL": "false",
        },
        tmp_path / "logs",
        tmp_path / "recovery",
        snapshot_seconds=1,
    )
    total = len(dataset.expected.raw_ids["raw_data.clickstream_events"])
    cluster.start(1)
    wait_for_clickstream_rows(migrated_database_url, total / 4, cluster)  # a quarter in
    postgres_server.stop()
    time.sleep(8)
    postgres_server.start()
    cluster.wait(600)
    assert "retry" in cluster.logs().lower()
    with psycopg.connect(migrated_database_url) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    assert compare_database(migrated_database_url, dataset.expected) == []
