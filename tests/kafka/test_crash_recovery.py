"""Exactly-once effect under crashes: kill -9, rescale, broker and database outages."""

from __future__ import annotations

import random
import time
from pathlib import Path

import psycopg
import pytest
from confluent_kafka import Consumer, TopicPartition

from ico_analytics.services.dataflow import DataflowCluster, stack_env
from ico_core.events import DEAD_LETTER_TOPIC
from tests.groundtruth import compare_database
from tests.kafka.stack import Dataset, KafkaStack, wait_for_clickstream_rows

RUN_TIMEOUT = 600.0


def _cluster(stack: KafkaStack, url: str, tmp_path: Path) -> DataflowCluster:
    env = {**stack_env(stack.bootstrap, stack.registry_url, url), "KAFKA_SOURCE_TAIL": "false"}
    return DataflowCluster(env, tmp_path / "logs", tmp_path / "recovery", snapshot_seconds=1)


def _kill_at_random_moments(
    cluster: DataflowCluster, url: str, total: int, processes: list[int], seed: int
) -> list[int]:
    """Run ``len(processes)`` times, `processes[i]` the size of run i; SIGKILL every run but the
    last once the stored clickstream rows pass a random point of the way to ``total`` (kill i of
    k falls in the i-th of k equal stretches of 10-80%), so the kills land in work in progress
    however fast the dataflow is. Returns the rows seen at each kill."""
    rng = random.Random(seed)
    kills = len(processes) - 1
    stretch = 0.7 / kills
    seen = []
    for i in range(kills):
        target = total * rng.uniform(0.1 + i * stretch, 0.1 + (i + 1) * stretch)
        cluster.start(processes[i])
        seen.append(wait_for_clickstream_rows(url, target, cluster))
        cluster.kill()
    cluster.start(processes[kills])
    cluster.wait(RUN_TIMEOUT)
    return seen


@pytest.mark.kafka
def test_single_process_survives_three_kills(
    kafka_stack: KafkaStack, dataset: Dataset, migrated_database_url: str, tmp_path: Path
) -> None:
    cluster = _cluster(kafka_stack, migrated_database_url, tmp_path)
    total = len(dataset.expected.raw_ids["raw_data.clickstream_events"])
    seen = _kill_at_random_moments(cluster, migrated_database_url, total, [1, 1, 1, 1], seed=1)
    # The kills really interrupted work in progress.
    assert 0 < seen[0] <= seen[1] <= seen[2] < total
    assert compare_database(migrated_database_url, dataset.expected) == []


@pytest.mark.kafka
# Alone: under a second worker's load its 3-process run failed twice at the end of the input,
# one process exiting while another still sent to it ("Send thread panic", Bytewax's shutdown).
@pytest.mark.solo
def test_two_processes_survive_kills_and_rescale_to_three(
    kafka_stack: KafkaStack, dataset: Dataset, migrated_database_url: str, tmp_path: Path
) -> None:
    cluster = _cluster(kafka_stack, migrated_database_url, tmp_path)
    total = len(dataset.expected.raw_ids["raw_data.clickstream_events"])
    seen = _kill_at_random_moments(cluster, migrated_database_url, total, [2, 2, 2, 3], seed=2)
    assert 0 < seen[0] <= seen[1] <= seen[2] < total
    assert compare_database(migrated_database_url, dataset.expected) == []


@pytest.mark.kafka
def test_dead_letters_carry_kafka_coordinates(
    kafka_stack: KafkaStack, dataset: Dataset, migrated_database_url: str, tmp_path: Path
) -> None:
    cluster = _cluster(kafka_stack, migrated_database_url, tmp_path)
    cluster.start(1)
    cluster.wait(RUN_TIMEOUT)
    with psycopg.connect(migrated_database_url) as conn:
        rows = conn.execute(
            "SELECT source_topic, source_partition, source_offset, stage, reason FROM raw_data.dead_letters"
        ).fetchall()
        poison = conn.execute(
            "SELECT source_topic, count(*) FROM raw_data.dead_letters "
            "WHERE record_key = 'poison'::bytea GROUP BY 1"
        ).fetchall()
    assert len(rows) == dataset.expected.dead_letters
    assert all(reason for *_, reason in rows)
    assert {stage for *_, stage, _ in rows} == {"decode", "validate"}
    assert dict(poison) == {"clickstream-events": 3, "user-registrations": 3, "conversions": 3}
    # The same records are in the dead-letter topic, keyed by their coordinates.
    consumer = Consumer(
        {
            "bootstrap.servers": kafka_stack.bootstrap,
            "group.id": f"dlq-check-{time.time()}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    meta = consumer.list_topics(DEAD_LETTER_TOPIC, timeout=10).topics[DEAD_LETTER_TOPIC]
    consumer.assign([TopicPartition(DEAD_LETTER_TOPIC, p, 0) for p in meta.partitions])
    keys: set[bytes] = set()
    idle_until = time.monotonic() + 10
    while time.monotonic() < idle_until:
        msg = consumer.poll(1.0)
        if msg is not None and not msg.error():
            keys.add(msg.key() or b"")
            idle_until = time.monotonic() + 5
    consumer.close()
    assert keys == {f"{t}:{p}:{o}".encode() for t, p, o, *_ in rows}
