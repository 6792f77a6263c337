"""Drop events whose id was already seen, before anything counts them.

State design: events are spread over ``SHARDS`` keys by the first hex digit of their own id, so
every copy of an event meets in one shard whatever session (or Kafka key and partition) it came
with, and a shard's state is the set of event ids seen recently, as 128-bit ints. "Recently" is kept in
``GENERATIONS + 1`` sets that rotate every ``ttl / GENERATIONS`` of wall-clock time, the oldest
dropped, so an id is remembered for at least the TTL and at most ``ttl * (1 + 1/GENERATIONS)``.

Why shards and not one key per session: Bytewax handles state key by key, and a Kafka batch
holds about one event per session, so per-session keys cost a state round trip per event
(measured: a quarter of the whole pipeline). With 16 shards a batch of 1,000 events is ~16
calls. The price is snapshot size: each epoch, every shard snapshots its id sets, i.e. all ids
of the last TTL (at 10,000 events/s and the default 120 s, about 1.2 M ints, ~15 MB pickled per
snapshot interval). Keep ``DEDUPE_TTL_SECONDS`` as short as duplicates are late: producer and
client retries land within seconds.

Replays: the snapshot holds the generations; on resume they count as fresh, so duplicates of
events from before the snapshot are still caught. Which copy passes depends on arrival order;
exact copies are identical, and copies under different sessions pass exactly once either way.

Late copies (``StoredCopies``, the ``drop_stored_copies`` step before the in-memory dedupe).
Remembering ids for the whole lateness horizon would make state and snapshots grow with rate x
horizon (~110 M ids at 10,000 events/s over 3 h), which is why the TTL is short. But the raw
tables already remember every stored event durably: each raw row also keeps the Kafka partition
and offset of the copy that was stored (``source_partition``, ``source_offset``; the topic is
implied by the table, and the embedded source uses partition 0 and the generator's sequence).
So each batch is looked up there, one indexed query per event type present, restricted to the
batch's days (``stored_copies``), and an event is dropped when its (id, timestamp) is stored
from other coordinates than its own. A recovery replay re-delivers the very copy the crashed run
stored, at the same coordinates: it passes, as it must, since the window state was restored
from an older snapshot and has to count it again.

Why the look-up comes first: a replay may interleave partitions otherwise than the first run,
so a late copy can come before the stored copy it duplicates. Checked after the in-memory step,
the late copy would enter the remembered ids there and then be dropped by the look-up, and the
stored copy behind it would be dropped as an in-memory duplicate: the event would be counted
nowhere. Checked first, the late copy never reaches the in-memory state.

The guarantee, exactly: every event id is stored in one raw row and counted once in the window
aggregates when each copy after the first either arrives while an earlier passed copy is still
remembered (``DEDUPE_TTL_SECONDS``, wall clock) or after that copy was committed by the sink.
Copies in flight are the in-memory dedupe's: they pass the look-up before anything is stored.
The sink commits a batch within about a second, far inside the TTL, so together the two cover
every copy. The assumption fails only when the sink holds the first copy uncommitted for longer
than the TTL (a database down or stuck: a batch is retried for about two minutes, each
statement bounded by the 60 s ``statement_timeout``) and a copy arrives in that gap: it is then
counted twice, and stored once with the later copy's values. Both steps need the same database
the sink writes to, so such a stall holds the look-ups too; a look-up that keeps failing raises
after the sink's retry policy, as the sink does, so the dataflow stops and its restart replays.
Copies carrying another event timestamp are different rows of the raw tables (their primary key
is (id, "timestamp")) and are not matched; a copy of an event whose raw partition was dropped by
retention is not found either, and is stored again (it is past the window lateness by then,
so it is not counted).
"""

from __future__ import annotations

import threading
from collections import deque
from datetime import UTC, datetime, timedelta
from typing import Any

import bytewax.operators as op
import psycopg
from bytewax.dataflow import Stream, operator
from bytewax.operators import StatefulBatchLogic
from psycopg import sql

from dataflows import metrics
from dataflows.enrich import CLICKSTREAM_TABLE, CONVERSIONS_TABLE, REGISTRATIONS_TABLE
from dataflows.sinks import PostgresSink, RetryPolicy, Timeouts, connect
from dataflows.validate import SOURCE_OFFSET, SOURCE_PARTITION, Event
from ico_core.db import query
from ico_core.errors import SinkError
from ico_core.events import EventType

SHARDS = 16
GENERATIONS = 4

#: What a shard's dedupe state snapshots to: the id generations, oldest first.
SeenIds = tuple[frozenset[int], ...]


def uuid_int(value: str) -> int:
    """The 128 bits of a canonical uuid string (already validated)."""
    return int(value.replace("-", ""), 16)


def shard_key(event: Event) -> str:
    """The first hex digit of the event's own id: all copies of an event share a shard."""
    event_type, record = event
    return str(record[event_type.id_field][0])


class DedupeLogic(StatefulBatchLogic[Event, Event, SeenIds]):
    """One shard: pass each id the first time, drop it while it is remembered."""

    def __init__(self, ttl: timedelta, resume: SeenIds | None) -> None:
        self._period = ttl / GENERATIONS
        self._generations: deque[set[int]] = deque(
            [set(g) for g in resume] if resume else [set()], maxlen=GENERATIONS + 1
        )
        # Resumed generations count as fresh: replayed duplicates must still find them.
        self._rotate_at = datetime.now(UTC) + self._period

    def on_batch(self, values: list[Event]) -> tuple[list[Event], bool]:
        generations = tuple(self._generations)
        newest = generations[-1]
        out: list[Event] = []
        for event in values:
            event_type, record = event
            ident = uuid_int(record[event_type.id_field])
            for seen in generations:
                if ident in seen:
                    break
            else:
                newest.add(ident)
                out.append(event)
        if len(out) != len(values):
            metrics.DUPLICATES.inc(len(values) - len(out))
        return out, StatefulBatchLogic.RETAIN

    def on_notify(self) -> tuple[list[Event], bool]:
        self._generations.append(set())  # maxlen drops the oldest
        self._rotate_at = datetime.now(UTC) + self._period
        if not any(self._generations):
            return [], StatefulBatchLogic.DISCARD  # an idle shard holds nothing
        return [], StatefulBatchLogic.RETAIN

    def notify_at(self) -> datetime:
        return self._rotate_at

    def snapshot(self) -> SeenIds:
        return tuple(frozenset(g) for g in self._generations)


@operator
def dedupe(step_id: str, up: Stream[Event], ttl_seconds: float) -> Stream[Event]:
    """Events with an id not seen before (first occurrence wins)."""
    ttl = timedelta(seconds=ttl_seconds)

    def build(resume: SeenIds | None) -> DedupeLogic:
        return DedupeLogic(ttl, resume)

    keyed = op.key_on("key_by_shard", up, shard_key)  # (shard, Event)
    # A step id of its own: shards of the former session-keyed step held other ids.
    unique = op.stateful_batch("seen_ids_by_event_shard", keyed, build)  # (shard, Event), new
    return op.key_rm("unkey", unique)  # Event


_RAW_TABLES = {
    EventType.CLICKSTREAM: CLICKSTREAM_TABLE,
    EventType.REGISTRATION: REGISTRATIONS_TABLE,
    EventType.CONVERSION: CONVERSIONS_TABLE,
}


class StoredCopies:
    """The batch mapper of the ``drop_stored_copies`` step: the events of a batch without those
    a raw table already holds from other Kafka coordinates (late duplicates).

    One query per event type present in the batch (``stored_copies``); a stored row without
    coordinates (stored before migration 0024) counts as this copy's own. The query probes the
    primary key once per event, in the partition the event's timestamp selects. Measured with
    EXPLAIN ANALYZE on 300,000 rows over 4 days and a batch of 1,000 (PostgreSQL 18): 2,000
    buffer hits and 13-20 ms on the loaded test box, whether the batch spans one day or two.
    With the arrays sent in binary and the timestamps as milliseconds, a batch of 5,000 over
    1.4 M rows in 5 daily partitions took 24 ms from the client instead of 59 ms (1,000: 4.5
    instead of 13 ms): the text form's formatting and parsing had cost more than the probes;
    a plain join was planned as a hash join over every row of the batch's time range (260-360 ms
    without a range predicate; with one, 0.2 ms over the 43 s of this sparse table a batch
    spanned, 430 ms once one event was a day late), and ``= ANY`` on both key columns took
    50-60 ms, mostly planning the pruning over 1,000 timestamps. Each worker thread has
    its own connection, of the sink's kind; a failed query is retried under the sink's
    ``RetryPolicy``, then the step raises, as the sink does: the events wait for the database and
    are never passed unchecked.
    """

    def __init__(
        self, url: str, application_name: str, retry: RetryPolicy, timeouts: Timeouts
    ) -> None:
        self._url = url
        self._application_name = application_name
        self._retry = retry
        self._timeouts = timeouts
        self._local = threading.local()  # the mapper is shared by the workers of a process
        text = query("stored_copies")
        self._queries = {
            event_type: sql.SQL(text).format(
                table=sql.Identifier(*table.split(".")), id=sql.Identifier(event_type.id_field)
            )
            for event_type, table in _RAW_TABLES.items()
        }

    @classmethod
    def of(cls, sink: PostgresSink) -> StoredCopies:
        """The look-up in the raw tables ``sink`` writes, with its retries and time-outs."""
        return cls(sink.url, "ico-analytics drop_stored_copies", sink.retry, sink.timeouts)

    def __call__(self, batch: list[Event]) -> list[Event]:
        if not batch:
            return batch
        by_type: dict[EventType, list[int]] = {}  # positions in the batch
        for i, (event_type, _) in enumerate(batch):
            by_type.setdefault(event_type, []).append(i)
        late: set[int] = set()
        try:
            lookups = self._retry.retrying(
                "Looking up stored copies", metrics.DUPLICATE_LOOKUP_RETRIES
            )
            for attempt in lookups:
                with attempt:
                    late = self._late_copies(batch, by_type)
        except psycopg.Error as exc:
            raise SinkError(
                f"looking up {len(batch)} events in the raw tables failed: {exc}"
            ) from exc
        if not late:
            return batch
        metrics.LATE_DUPLICATES.inc(len(late))
        return [event for i, event in enumerate(batch) if i not in late]

    def _late_copies(self, batch: list[Event], by_type: dict[EventType, list[int]]) -> set[int]:
        """Positions of the events stored from other coordinates than their own."""
        late: set[int] = set()
        try:
            conn = self._connect()
            with conn.cursor() as cur:
                for event_type, positions in by_type.items():
                    id_field = event_type.id_field
                    records = [batch[i][1] for i in positions]
                    params = {
                        "ids": [r[id_field] for r in records],
                        "timestamps_ms": [r["timestamp"] for r in records],
                    }
                    for ordinal, partition, offset in cur.execute(
                        self._queries[event_type], params
                    ):
                        record = records[ordinal - 1]
                        if partition is not None and (partition, offset) != (
                            record[SOURCE_PARTITION],
                            record[SOURCE_OFFSET],
                        ):
                            late.add(positions[ordinal - 1])
        except BaseException:
            self._disconnect()  # the next attempt starts from a fresh connection
            raise
        return late

    def _connect(self) -> psycopg.Connection[Any]:
        conn: psycopg.Connection[Any] | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = connect(self._url, self._application_name, self._timeouts)
        return conn

    def _disconnect(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            conn.close()
