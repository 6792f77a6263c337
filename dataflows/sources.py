"""Where raw records come from: the embedded generator, or the three Kafka topics.

Both emit ``RawRecord`` (Kafka coordinates plus undecoded bytes), so everything downstream is
the same in both modes; the Kafka source also emits ``DeadLetter`` for consume errors.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bytewax.connectors.kafka import KafkaError, KafkaSource, KafkaSourceMessage
from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition
from confluent_kafka import OFFSET_BEGINNING

from dataflows.records import DeadLetter, RawRecord
from generator.model import FAULT_DUPLICATE, EventGenerator, GeneratedEvent, to_wire
from ico_analytics.codec import Codec, EventType, LocalSchemas
from ico_analytics.settings import Settings

log = logging.getLogger(__name__)

#: The embedded source's events per batch when it runs unpaced.
EMBEDDED_BATCH_SIZE = 1000
#: How often a paced embedded source wakes up to emit the events that fell due.
PACE_TICK = timedelta(milliseconds=50)
#: The one partition of the embedded source (its name is part of recovery state).
EMBEDDED_PARTITION = "generator"


@dataclass(frozen=True, slots=True)
class GeneratorPosition:
    """Resume state of the embedded source: the generator is deterministic given the first
    three fields, so resuming regenerates and skips ``next_seq`` events."""

    seed: int
    start_time_ms: int
    simulated_events_per_minute: int
    next_seq: int
    clock_ms: int  # highest event time of a clean event emitted so far


class _GeneratorPartition(StatefulSourcePartition[RawRecord, GeneratorPosition]):
    def __init__(
        self,
        source: EmbeddedSource,
        position: GeneratorPosition,
    ) -> None:
        self._src = source
        self._position = position
        generator = EventGenerator(
            seed=position.seed,
            websites_count=source.settings.ico_websites_count,
            data_quality_issues=source.settings.data_quality_issues,
            start_time_ms=position.start_time_ms,
            events_per_minute=position.simulated_events_per_minute,
        )
        self._events: Iterator[GeneratedEvent] = iter(generator)
        # Regenerate and skip what was emitted before the snapshot.
        next(itertools.islice(self._events, position.next_seq, position.next_seq), None)
        self._seq = position.next_seq
        self._clock_ms = position.clock_ms
        self._rate_per_s = source.settings.events_per_minute / 60.0
        self._paced_origin = time.monotonic()
        self._paced_sent = 0

    def _due(self) -> int:
        limit = self._src.limit
        room = EMBEDDED_BATCH_SIZE if limit is None else min(EMBEDDED_BATCH_SIZE, limit - self._seq)
        if not self._rate_per_s:
            return room
        due = int((time.monotonic() - self._paced_origin) * self._rate_per_s) - self._paced_sent
        if due > self._rate_per_s + EMBEDDED_BATCH_SIZE:
            # Stalled (a paused process): restart the schedule instead of bursting to catch up.
            self._paced_origin, self._paced_sent, due = time.monotonic(), 0, 1
        return min(room, due)

    def next_batch(self) -> list[RawRecord]:
        limit, stop = self._src.limit, self._src.stop
        if (limit is not None and self._seq >= limit) or (stop is not None and stop.is_set()):
            raise StopIteration
        encode, tap = self._src.codec, self._src.tap
        batch = []
        for event in itertools.islice(self._events, self._due()):
            if tap is not None:
                tap(event)
            if (event.fault is None or event.fault == FAULT_DUPLICATE) and event.record[
                "timestamp"
            ] > self._clock_ms:
                self._clock_ms = event.record["timestamp"]
            batch.append(
                RawRecord(
                    topic=event.event_type.topic,
                    partition=0,
                    offset=self._seq,
                    key=event.key.encode(),
                    value=to_wire(event, encode),
                    # The simulated "now", as a Kafka producer would stamp the message.
                    timestamp_ms=self._clock_ms,
                )
            )
            self._seq += 1
        self._paced_sent += len(batch)
        return batch

    def next_awake(self) -> datetime | None:
        return datetime.now(UTC) + PACE_TICK if self._rate_per_s else None

    def snapshot(self) -> GeneratorPosition:
        p = self._position
        return GeneratorPosition(
            p.seed, p.start_time_ms, p.simulated_events_per_minute, self._seq, self._clock_ms
        )


class EmbeddedSource(FixedPartitionedSource[RawRecord, GeneratorPosition]):
    """The seeded generator as an in-process source: one partition, no Kafka.

    Paced to ``settings.events_per_minute`` (0: as fast as possible), ending after
    ``settings.generator_events`` (None: endless) or once ``stop`` is set. ``tap`` sees every
    generated event (duplicates and faulty ones included), e.g. ``JsonlWriter(path).write`` for
    ground truth; after a resume it sees the events replayed since the last snapshot again.
    Offsets are the generator's sequence numbers, so dead letters have a deterministic key.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        seed: int | None = None,
        start_time_ms: int | None = None,
        stop: threading.Event | None = None,
        tap: Callable[[GeneratedEvent], None] | None = None,
    ) -> None:
        self.settings = settings
        self.seed = seed if seed is not None else settings.generator_seed
        self.start_time_ms = (
            start_time_ms if start_time_ms is not None else settings.generator_start_ms
        )
        self.limit = settings.generator_events
        self.stop = stop
        self.tap = tap
        self.codec = Codec(LocalSchemas())

    def list_parts(self) -> list[str]:
        return [EMBEDDED_PARTITION]

    def build_part(
        self, step_id: str, for_part: str, resume_state: GeneratorPosition | None
    ) -> _GeneratorPartition:
        if resume_state is None:
            # The generator resolves an unset seed and start time; the snapshot keeps them.
            generator = EventGenerator(
                seed=self.seed,
                websites_count=self.settings.ico_websites_count,
                start_time_ms=self.start_time_ms,
                events_per_minute=self.settings.events_per_minute,
            )
            resume_state = GeneratorPosition(
                generator.seed,
                generator.start_time_ms,
                generator.events_per_minute,
                0,
                generator.start_time_ms,
            )
        return _GeneratorPartition(self, resume_state)


# Consumer settings on top of Bytewax's (manual assignment, no auto commit: offsets live in
# the recovery snapshots).
KAFKA_CONSUMER_CONFIG: dict[str, str] = {
    "client.id": "ico-analytics-dataflow",
    # A snapshot offset that retention already deleted: continue from the oldest record left.
    "auto.offset.reset": "earliest",
    "isolation.level": "read_committed",
    "fetch.wait.max.ms": "100",
    # Bytewax runs one consumer per partition; bound each one's prefetch buffer.
    "queued.max.messages.kbytes": "16384",
    "check.crcs": "true",
}

KafkaItem = KafkaSourceMessage[bytes | None, bytes | None] | KafkaError[bytes | None, bytes | None]


def kafka_item_to_raw(item: KafkaItem) -> RawRecord | DeadLetter | None:
    """A consumed message as a RawRecord; a per-record error as a dead letter; None for an error
    that is not about a record (it is logged; librdkafka retries those itself)."""
    if isinstance(item, KafkaSourceMessage):
        return RawRecord(
            topic=item.topic or "",
            partition=item.partition if item.partition is not None else -1,
            offset=item.offset if item.offset is not None else -1,
            key=item.key,
            value=item.value,
            # (type, ms); type 0 is TIMESTAMP_NOT_AVAILABLE.
            timestamp_ms=item.timestamp[1] if item.timestamp and item.timestamp[0] else None,
        )
    if item.err.fatal():
        raise RuntimeError(f"fatal Kafka consumer error: {item.err}")
    msg = item.msg
    if msg.topic is None or msg.partition is None or msg.offset is None or msg.offset < 0:
        log.warning("Kafka consumer error: %s", item.err)
        return None
    return DeadLetter(
        source_topic=msg.topic,
        source_partition=msg.partition,
        source_offset=msg.offset,
        stage="decode",
        reason=f"kafka consume error: {item.err.str()}",
        event_type=None,
        record_key=msg.key,
        payload=msg.value,
    )


class _KafkaRawPartition(StatefulSourcePartition[RawRecord | DeadLetter, int | None]):
    def __init__(self, inner: StatefulSourcePartition[KafkaItem, int | None]) -> None:
        self._inner = inner

    def next_batch(self) -> list[RawRecord | DeadLetter]:
        return [
            raw
            for raw in map(kafka_item_to_raw, self._inner.next_batch())
            if raw is not None
        ]

    def next_awake(self) -> datetime | None:
        return self._inner.next_awake()

    def snapshot(self) -> int | None:
        return self._inner.snapshot()

    def close(self) -> None:
        self._inner.close()


class KafkaRawSource(FixedPartitionedSource[RawRecord | DeadLetter, int | None]):
    """The three event topics, every partition of each a Bytewax partition.

    Without saved state each partition starts at its beginning; with state, at the snapshot's
    offset. ``tail=False`` ends at the end of each partition (tests, backfills). Consume errors
    do not stop the dataflow; per-record ones become dead letters.
    """

    def __init__(
        self, bootstrap_servers: str, *, tail: bool = True, batch_size: int = 1000
    ) -> None:
        self._inner = KafkaSource(
            [b.strip() for b in bootstrap_servers.split(",") if b.strip()],
            [t.topic for t in EventType],
            tail=tail,
            starting_offset=OFFSET_BEGINNING,
            add_config=dict(KAFKA_CONSUMER_CONFIG),
            batch_size=batch_size,
            raise_on_errors=False,
        )

    def list_parts(self) -> list[str]:
        return self._inner.list_parts()

    def build_part(
        self, step_id: str, for_part: str, resume_state: int | None
    ) -> _KafkaRawPartition:
        return _KafkaRawPartition(self._inner.build_part(step_id, for_part, resume_state))
