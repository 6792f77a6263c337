"""Refuse to start from nothing against a database that already holds the pipeline's data.

With no saved state the Kafka source reads every topic from its oldest retained record. While
the topics still hold every record (no partition's oldest offset is above 0) that rebuilds the
database exactly, so it goes ahead: a process lost before its first snapshot restarts this way.
Once retention has deleted records, the raw rows would be rewritten harmlessly but windows
whose earlier events are gone would be overwritten with partial counts. That happens when the
recovery volume was lost or replaced by mistake, so it is refused unless ``ALLOW_FRESH_START``
says it is meant. The state is read from the recovery partitions (``BYTEWAX_RECOVERY_DIRECTORY``,
as the chart sets it; a ``-r`` on the command line is not seen).
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import psycopg
from confluent_kafka import Consumer, TopicPartition

from ico_core.db import libpq_url, query
from ico_core.errors import ConfigError
from ico_core.events import EventType
from ico_core.kafka import KafkaConnection

log = logging.getLogger(__name__)


def has_source_snapshots(recovery_dir: Path, input_step: str) -> bool:
    """Whether any recovery partition holds a snapshot of the input step (saved offsets)."""
    for part in sorted(recovery_dir.glob("part-*.sqlite3")):
        with sqlite3.connect(f"file:{part}?mode=ro", uri=True) as db:
            row = db.execute("SELECT 1 FROM snaps WHERE step_id = ? LIMIT 1", (input_step,))
            if row.fetchone() is not None:
                return True
    return False


def trimmed_partitions(kafka: KafkaConnection) -> list[str]:
    """The event topics' partitions whose oldest records retention has deleted."""
    consumer = Consumer({**kafka.client_config(), "group.id": "ico-analytics-fresh-start"})
    try:
        trimmed = []
        for event_type in EventType:
            topic = consumer.list_topics(event_type.topic, timeout=30).topics[event_type.topic]
            for index in sorted(topic.partitions):
                tp = TopicPartition(event_type.topic, index)
                if consumer.get_watermark_offsets(tp, timeout=30)[0] > 0:
                    trimmed.append(f"{event_type.topic}/{index}")
        return trimmed
    finally:
        consumer.close()


def refuse_fresh_start(
    database_url: str, recovery_dir: Path, input_step: str, kafka: KafkaConnection
) -> None:
    """``ConfigError`` when the recovery partitions hold no offsets, the database holds data and
    the topics no longer hold everything it was built from."""
    if has_source_snapshots(recovery_dir, input_step):
        return
    with psycopg.connect(libpq_url(database_url), connect_timeout=30) as conn:
        row = conn.execute(query("holds_events")).fetchone()
    if row is None or not row[0]:
        return
    trimmed = trimmed_partitions(kafka)
    if not trimmed:
        log.warning("no saved offsets: rebuilding from the topics, which still hold every record")
        return
    raise ConfigError(
        f"the recovery directory {recovery_dir} holds no saved offsets, but the database "
        "already holds the pipeline's data and retention has deleted records of "
        f"{', '.join(trimmed)}: starting fresh would overwrite windows with partial counts. "
        "Restore the recovery volume, or set ALLOW_FRESH_START=true to start over on purpose"
    )
