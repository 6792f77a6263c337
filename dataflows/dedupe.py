"""Drop events whose id was already seen, before anything counts them.

State design: keyed by ``session_id`` (the Kafka key, so a session's events, and its exact
duplicates, stay together), the state of a key is the set of event ids seen in that session, as
128-bit ints (exact, and about half the pickle size of the uuid strings). A key is discarded
once it has been idle for ``dedupe_ttl_seconds`` of wall-clock time (``notify_at``), so memory
holds only the sessions active during the last TTL.

Snapshot cost: Bytewax snapshots every key touched in an epoch. Touched keys are the sessions
active in that epoch, each carrying only its own ids, so a snapshot is proportional to the
events of the currently active sessions, never to the whole history, and idle sessions cost
nothing. Hashing ids into a fixed number of buckets instead would touch every bucket in every
epoch and snapshot the entire dedupe state each time.

Limits (by design): a duplicate arriving more than the TTL after its session's last event is not
caught, because its session was forgotten. Exact duplicates arrive within a few hundred events,
i.e. seconds, so the default 600 s is wide. The TTL runs on wall-clock time, which only errs on
the safe side during a replay: replaying a backlog is faster than real time, so sessions stay
longer, not shorter. On resume from a snapshot the timer restarts, so replayed duplicates of
events from before the snapshot are still caught.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import bytewax.operators as op
from bytewax.dataflow import Stream, operator
from bytewax.operators import StatefulBatchLogic

from dataflows import metrics
from dataflows.validate import Event

#: What a session's dedupe state snapshots to: the ids seen, as ints.
SeenIds = frozenset[int]


def uuid_int(value: str) -> int:
    """The 128 bits of a canonical uuid string (already validated)."""
    return int(value.replace("-", ""), 16)


def session_key(event: Event) -> str:
    return str(event[1]["session_id"])


class DedupeLogic(StatefulBatchLogic[Event, Event, SeenIds]):
    """One session: pass each id the first time, drop it after."""

    def __init__(self, ttl: timedelta, resume: SeenIds | None) -> None:
        self._ttl = ttl
        self._seen: set[int] = set() if resume is None else set(resume)
        # A resumed key counts as active now: replayed duplicates must still find it.
        self._expires = datetime.now(UTC) + ttl

    def on_batch(self, values: list[Event]) -> tuple[list[Event], bool]:
        seen = self._seen
        out: list[Event] = []
        for event in values:
            event_type, record = event
            ident = uuid_int(record[event_type.id_field])
            if ident not in seen:
                seen.add(ident)
                out.append(event)
        if len(out) != len(values):
            metrics.DUPLICATES.inc(len(values) - len(out))
        self._expires = datetime.now(UTC) + self._ttl
        return out, StatefulBatchLogic.RETAIN

    def on_notify(self) -> tuple[list[Event], bool]:
        return [], StatefulBatchLogic.DISCARD

    def notify_at(self) -> datetime:
        return self._expires

    def snapshot(self) -> SeenIds:
        return frozenset(self._seen)


@operator
def dedupe(step_id: str, up: Stream[Event], ttl_seconds: float) -> Stream[Event]:
    """Events with an id not seen before in their session (first occurrence wins)."""
    ttl = timedelta(seconds=ttl_seconds)

    def build(resume: SeenIds | None) -> DedupeLogic:
        return DedupeLogic(ttl, resume)

    keyed = op.key_on("key_by_session", up, session_key)  # (session_id, Event)
    unique = op.stateful_batch("seen_ids", keyed, build)  # (session_id, Event), ids unseen
    return op.key_rm("unkey", unique)  # Event
