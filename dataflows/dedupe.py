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

The bound, exactly: a copy is dropped when it arrives within ``DEDUPE_TTL_SECONDS`` (wall clock)
of the first one. A copy arriving later is stored once in the raw tables (their upsert on the
event id) but counted again in the window aggregates. Remembering ids for the whole lateness
horizon would make state and snapshots grow with rate x horizon (~110 M ids at 10,000 events/s
over 3 h), which is why the TTL is its own, short setting.
"""

from __future__ import annotations

from collections import deque
from datetime import UTC, datetime, timedelta

import bytewax.operators as op
from bytewax.dataflow import Stream, operator
from bytewax.operators import StatefulBatchLogic

from dataflows import metrics
from dataflows.validate import Event

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
