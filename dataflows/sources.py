"""Where raw records come from: the embedded generator, or the three Kafka topics.

Both emit ``RawRecord`` (Kafka coordinates plus undecoded bytes), so everything downstream is
the same in both modes; the Kafka source also emits ``DeadLetter`` for consume errors.
"""

from __future__ import annotations

import itertools
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bytewax.connectors.kafka import BYTEWAX_CONSUMER_LAG_GAUGE
from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition
from confluent_kafka import KafkaError as ConfluentKafkaError
from confluent_kafka.admin import AdminClient

from dataflows import metrics
from dataflows.records import STAGE_DECODE, DeadLetter, RawRecord
from generator.faults import FAULT_DUPLICATE
from generator.model import EventGenerator, GeneratedEvent, to_wire
from ico_core.codec import Codec, LocalSchemas
from ico_core.errors import IcoAnalyticsError
from ico_core.events import EventType
from ico_core.kafka import ClientConfig, KafkaConnection
from ico_core.settings import Settings

log = logging.getLogger(__name__)


class PartitionsAdded(IcoAnalyticsError):
    """A topic gained partitions while the dataflow ran: it must restart to read them."""


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
            experiment_lift=source.settings.experiment_lift,
            injections=source.settings.injections,
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
    ``simulated_events_per_minute`` runs the simulated clock at another rate than the pacing
    (e.g. a week of traffic at 1,000 events/min, generated as fast as possible).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        seed: int | None = None,
        start_time_ms: int | None = None,
        stop: threading.Event | None = None,
        tap: Callable[[GeneratedEvent], None] | None = None,
        simulated_events_per_minute: int | None = None,
    ) -> None:
        self.settings = settings
        self.simulated_events_per_minute = simulated_events_per_minute or settings.events_per_minute
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
                events_per_minute=self.simulated_events_per_minute,
                experiment_lift=self.settings.experiment_lift,
                injections=self.settings.injections,
            )
            resume_state = GeneratorPosition(
                generator.seed,
                generator.start_time_ms,
                generator.events_per_minute,
                0,
                generator.start_time_ms,
            )
        return _GeneratorPartition(self, resume_state)


# Consumer settings: manual assignment, no consumer group, no auto commit (offsets live in the
# recovery snapshots).
KAFKA_CONSUMER_CONFIG: ClientConfig = {
    "group.id": "ico-analytics-unused",  # required by librdkafka; never joined (assign only)
    "enable.auto.commit": "false",
    "client.id": "ico-analytics-dataflow",
    # A snapshot offset that retention already deleted: continue from the oldest record left.
    "auto.offset.reset": "earliest",
    "isolation.level": "read_committed",
    "fetch.wait.max.ms": 100,
    # One consumer per partition; bound each one's prefetch buffer.
    "queued.max.messages.kbytes": 16384,
    "check.crcs": "true",
    # Feeds the lag gauge.
    "statistics.interval.ms": 1000,
}
#: How long an idle partition sleeps before it polls again.
KAFKA_IDLE_WAIT = timedelta(milliseconds=10)
#: How often a partition checks whether its topic gained partitions.
PARTITION_CHECK_SECONDS = 30.0


class _KafkaPartition(StatefulSourcePartition[RawRecord | DeadLetter, int]):
    """One topic partition; its snapshot is the next offset to read.

    Messages become RawRecords directly (no intermediate message objects), an idle partition
    sleeps instead of blocking the worker in a poll, and only real records move the offset:
    librdkafka's record-less errors carry offset -1001, which must never be resumed from.
    """

    def __init__(
        self,
        config: ClientConfig,
        step_id: str,
        topic: str,
        index: int,
        offset: int,
        *,
        tail: bool,
        batch_size: int,
    ) -> None:
        self._topic, self._index, self._offset = topic, index, offset
        self._batch_size = batch_size
        self._lag_labels = {"step_id": step_id, "topic": topic, "partition": index}
        self._consumer = Consumer(
            {**config, "enable.partition.eof": str(not tail).lower(), "stats_cb": self._stats}
        )
        if offset >= 0:
            offset = self._resume_offset(offset)
        self._consumer.assign([TopicPartition(topic, index, offset)])
        self._eof = self._idle = False
        self._partitions = self._partition_count()
        self._checked_at = time.monotonic()

    def _resume_offset(self, offset: int) -> int:
        """Where a resumed partition continues: its snapshot's offset, or the oldest record
        left when retention deleted what the snapshot points at (logged and counted, since
        those records are lost to the dataflow)."""
        try:
            low, high = self._consumer.get_watermark_offsets(
                TopicPartition(self._topic, self._index), timeout=30
            )
        except KafkaException as exc:  # brokers unreachable: resume as saved, unchecked
            log.warning("%s/%s: offsets not checked: %s", self._topic, self._index, exc)
            return offset
        if low <= offset <= high:
            return offset
        lost = low - offset if offset < low else 0
        log.error(
            "%s/%s: the snapshot's offset %d is outside the partition's %d..%d (retention "
            "deleted records before they were read, or the topic was recreated); continuing "
            "at %d, %d record(s) never read",
            self._topic,
            self._index,
            offset,
            low,
            high,
            low,
            lost,
        )
        metrics.OFFSET_RESETS.labels(topic=self._topic).inc()
        metrics.RECORDS_SKIPPED.labels(topic=self._topic).inc(lost)
        return low

    def next_batch(self) -> list[RawRecord | DeadLetter]:
        if self._eof:
            raise StopIteration
        if time.monotonic() - self._checked_at > PARTITION_CHECK_SECONDS:
            self._check_partitions()
        messages = self._consumer.consume(self._batch_size, 0)
        self._idle = not messages
        topic, index = self._topic, self._index
        out: list[RawRecord | DeadLetter] = []
        for msg in messages:
            offset = msg.offset()
            err = msg.error()
            if err is not None and err.code() == ConfluentKafkaError._PARTITION_EOF:
                self._eof = True
                break
            if err is not None and err.fatal():
                raise RuntimeError(f"fatal Kafka consumer error on {topic}/{index}: {err}")
            if offset is None or offset < 0:  # an error not about a record; librdkafka retries
                log.warning("Kafka consumer error on %s/%s: %s", topic, index, err)
                continue
            if err is not None:
                record = RawRecord(topic, index, offset, msg.key(), msg.value())
                reason = f"kafka consume error: {err.str()}"
                out.append(DeadLetter.of(record, STAGE_DECODE, reason, None))
            else:
                kind, ms = msg.timestamp()
                # kind 0 is TIMESTAMP_NOT_AVAILABLE.
                out.append(
                    RawRecord(topic, index, offset, msg.key(), msg.value(), ms if kind else None)
                )
            self._offset = offset + 1
        return out

    def next_awake(self) -> datetime | None:
        return datetime.now(UTC) + KAFKA_IDLE_WAIT if self._idle else None

    def snapshot(self) -> int:
        return self._offset

    def _check_partitions(self) -> None:
        """Bytewax fixes a source's partitions when the dataflow starts: a topic that gained
        partitions stops the dataflow, and the restart (from its snapshot) reads them all."""
        self._checked_at = time.monotonic()
        try:
            now = self._partition_count()
        except (KafkaException, RuntimeError) as exc:  # a broker outage: look again later
            log.warning("%s: partitions not checked: %s", self._topic, exc)
            return
        if now > self._partitions:
            raise PartitionsAdded(
                f"{self._topic} has {now} partitions, the dataflow started with "
                f"{self._partitions}: restart it to read the new ones"
            )

    def _partition_count(self) -> int:
        topic = self._consumer.list_topics(self._topic, timeout=10).topics[self._topic]
        if topic.error is not None:
            raise RuntimeError(f"cannot list partitions of {self._topic}: {topic.error}")
        return len(topic.partitions)

    def close(self) -> None:
        self._consumer.close()

    def _stats(self, stats_json: str) -> None:
        if self._offset < 0:  # nothing read yet: the lag is unknown, so no sample at all
            return
        stats = json.loads(stats_json)["topics"][self._topic]["partitions"][str(self._index)]
        BYTEWAX_CONSUMER_LAG_GAUGE.labels(**self._lag_labels).set(stats["ls_offset"] - self._offset)


class KafkaRawSource(FixedPartitionedSource[RawRecord | DeadLetter, int]):
    """The three event topics, every partition of each a Bytewax partition.

    Without saved state each partition starts at its beginning; with state, at the snapshot's
    offset. ``tail=False`` ends at the end of each partition (tests, backfills). Consume errors
    do not stop the dataflow; per-record ones become dead letters. Lag is Bytewax's own
    ``bytewax_kafka_consumer_lag`` gauge, on ``/metrics`` with the dataflow API enabled.
    """

    def __init__(
        self, kafka: KafkaConnection, *, tail: bool = True, batch_size: int = 1000
    ) -> None:
        self._kafka = kafka
        self._tail = tail
        self._batch_size = batch_size

    def list_parts(self) -> list[str]:
        admin = AdminClient(self._kafka.client_config())
        parts = []
        for event_type in EventType:
            topic = admin.list_topics(event_type.topic, timeout=30).topics[event_type.topic]
            if topic.error is not None:
                raise RuntimeError(f"cannot list partitions of {event_type.topic}: {topic.error}")
            parts += [f"{index}-{event_type.topic}" for index in sorted(topic.partitions)]
        return parts

    def build_part(self, step_id: str, for_part: str, resume_state: int | None) -> _KafkaPartition:
        index, topic = for_part.split("-", 1)
        return _KafkaPartition(
            {**self._kafka.client_config(), **KAFKA_CONSUMER_CONFIG},
            step_id,
            topic,
            int(index),
            OFFSET_BEGINNING if resume_state is None else resume_state,
            tail=self._tail,
            batch_size=self._batch_size,
        )
