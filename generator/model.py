"""The event generator: a simulated clock, interleaved visitor sessions, injected faults.

Time is simulated, never read from the wall clock after start-up: the clock starts at
``start_time_ms`` and advances on average ``60 / events_per_minute`` seconds per event, so a
seeded run is the same sequence of events (timestamps included) whether it runs paced or as fast
as possible. ``paced`` is the separate helper that holds a stream to a wall-clock rate.

Sessions start as a random arrival process; each is planned whole (see ``generator.visitors``)
and its events wait in a heap keyed by event time, so many sessions interleave and events are
emitted in time order, except the faulty ``late`` and ``out_of_order`` ones.

A paced run starting at "now" keeps event time a few minutes ahead of the wall clock: the stream
starts with no session in progress, so its first minutes hold fewer events than the nominal rate
would put there. The business rules allow event times up to 1 h in the future.
"""

from __future__ import annotations

import heapq
import json
import random
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self, TypeVar

from generator.faults import (
    FAULT_DUPLICATE,
    FAULT_LATE,
    FAULT_MISSING_FIELD,
    FAULT_OUT_OF_ORDER,
    FaultInjector,
)
from generator.visitors import PlannedEvent, SessionFactory
from ico_core.codec import Codec
from ico_core.events import EventType
from ico_core.injections import AnomalyKind, Injection
from ico_core.projects import load_projects

DEFAULT_EVENTS_PER_MINUTE = 500
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class GeneratedEvent:
    """One event as produced: its Kafka key and logical record, and which fault it carries."""

    event_type: EventType
    key: str  # session_id, the Kafka key (kept even when the record's session_id is broken)
    record: dict[str, Any]  # exactly the Avro fields; timestamp is epoch ms UTC
    fault: str | None  # None or one of FAULT_KINDS


class EventGenerator:
    """Endless, deterministic stream of ICO website events.

    Same ``seed`` and ``start_time_ms`` give the identical sequence; each ``iter()`` starts that
    sequence afresh. ``events_per_minute`` sets how fast simulated time runs (0 means the
    default 500, for unpaced runs that still want realistic timestamps). ``injections`` are
    the anomalies to inject (``ico_core.injections``); without any, no draw is spent on them.
    """

    def __init__(
        self,
        *,
        seed: int | None = None,
        websites_count: int = 20,
        data_quality_issues: bool = True,
        start_time_ms: int | None = None,
        fault_rate: float = 0.03,
        events_per_minute: int = DEFAULT_EVENTS_PER_MINUTE,
        experiment_lift: float = 0.0,
        injections: tuple[Injection, ...] = (),
    ) -> None:
        if events_per_minute < 0:
            raise ValueError(f"events_per_minute must be >= 0, got {events_per_minute}")
        if not 0.0 <= fault_rate <= 1.0:
            raise ValueError(f"fault_rate must be within 0..1, got {fault_rate}")
        # Resolve the unseeded case once, so the run can be reproduced from these two values.
        self.seed = seed if seed is not None else random.SystemRandom().getrandbits(63)
        self.start_time_ms = (
            start_time_ms if start_time_ms is not None else time.time_ns() // 1_000_000
        )
        self.projects = load_projects(websites_count)
        self.data_quality_issues = data_quality_issues
        self.fault_rate = fault_rate
        self.events_per_minute = events_per_minute or DEFAULT_EVENTS_PER_MINUTE
        self.experiment_lift = experiment_lift
        self.injections = injections

    def __iter__(self) -> Iterator[GeneratedEvent]:
        return self._stream()

    def _stream(self) -> Iterator[GeneratedEvent]:
        rng = random.Random(self.seed)
        sessions = SessionFactory(rng, self.projects, self.experiment_lift, self.injections)
        projects = {p.id: p for p in self.projects}
        faults = FaultInjector(rng, self.fault_rate) if self.data_quality_issues else None
        ms_per_event = 60_000 / self.events_per_minute
        expo = rng.expovariate
        heappush, heappop = heapq.heappush, heapq.heappop

        pending: list[tuple[int, int, PlannedEvent]] = []  # (event time, seq, event)
        held: list[tuple[int, int, GeneratedEvent]] = []  # (release clock, seq, late/out of order)
        copies: list[tuple[int, int, GeneratedEvent]] = []  # (release count, seq, duplicate)
        seq = 0
        emitted = 0
        next_start: float = self.start_time_ms
        while True:
            # Start every session due before the earliest pending event.
            while not pending or next_start <= pending[0][0]:
                start = int(next_start)
                planned = sessions.build(start)
                for event in planned:
                    heappush(pending, (event[0], seq, event))
                    seq += 1
                if self.injections:
                    project = projects[planned[0][3]["ico_website_id"]]
                    spike = sessions.injected(project.id, start).get(AnomalyKind.TRAFFIC_SPIKE)
                    if spike is not None:
                        # A spike of size s adds s sessions per session: floor(s), and one more
                        # with the probability of its fraction. They take no event slots.
                        for _ in range(int(spike) + (rng.random() < spike % 1)):
                            for event in sessions.build(start, project):
                                heappush(pending, (event[0], seq, event))
                                seq += 1
                # A session of n events "uses up" n event slots: the long-run rate is nominal.
                next_start += expo(1.0) * len(planned) * ms_per_event
            clock, _, (_, event_type, key, record) = heappop(pending)

            if faults is None or (fault := faults.choose()) is None:
                yield GeneratedEvent(event_type, key, record, None)
                emitted += 1
            elif fault == FAULT_DUPLICATE:
                yield GeneratedEvent(event_type, key, record, None)
                emitted += 1
                copy = GeneratedEvent(event_type, key, dict(record), FAULT_DUPLICATE)
                heappush(copies, (emitted + faults.duplicate_distance(), seq, copy))
                seq += 1
            elif fault in (FAULT_LATE, FAULT_OUT_OF_ORDER):
                release = clock + faults.delay_ms(fault)
                heappush(held, (release, seq, GeneratedEvent(event_type, key, record, fault)))
                seq += 1
            elif fault == FAULT_MISSING_FIELD:
                yield GeneratedEvent(event_type, key, faults.drop_field(event_type, record), fault)
                emitted += 1
            else:
                yield GeneratedEvent(event_type, key, faults.malform(event_type, record), fault)
                emitted += 1

            while held and held[0][0] <= clock:
                yield heappop(held)[2]
                emitted += 1
            while copies and copies[0][0] <= emitted:
                yield heappop(copies)[2]
                emitted += 1


def paced(
    events: Iterable[T],
    events_per_minute: int,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[T]:
    """Yield ``events`` at ``events_per_minute`` against the wall clock (0: as fast as possible).

    Keeps a steady schedule; after a stall of more than a second (a slow consumer, a paused
    process) it restarts the schedule instead of bursting to catch up.
    """
    if events_per_minute <= 0:
        yield from events
        return
    interval = 60.0 / events_per_minute
    origin = clock()
    slot = 0
    for event in events:
        wait = origin + slot * interval - clock()
        if wait > 0:
            sleep(wait)
        elif wait < -1.0:
            origin, slot = clock(), 0
        slot += 1
        yield event


def to_wire(event: GeneratedEvent, codec: Codec) -> bytes:
    """The Kafka value: Avro in Confluent framing, or for ``missing_field`` the record's JSON
    (what a broken producer would send; the consumer fails on its magic byte).

    Deterministic, so a duplicate's bytes equal its original's.
    """
    if event.fault == FAULT_MISSING_FIELD:
        return json.dumps(event.record, sort_keys=True, separators=(",", ":")).encode()
    return codec.encode(event.event_type, event.record)


def _to_json(event: GeneratedEvent) -> str:
    return json.dumps(
        {
            "event_type": event.event_type.value,
            "topic": event.event_type.topic,
            "key": event.key,
            "fault": event.fault,
            "record": event.record,
        },
        separators=(",", ":"),
    )


class JsonlWriter:
    """Ground truth: every produced event as one JSON object per line.

    ``{"event_type", "topic", "key", "fault", "record"}``; use as a context manager.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.count = 0
        self._file: IO[str] = self.path.open("w", encoding="utf-8")

    def write(self, event: GeneratedEvent) -> None:
        self._file.write(_to_json(event) + "\n")
        self.count += 1

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def write_jsonl(events: Iterable[GeneratedEvent], path: Path | str) -> int:
    """Write all ``events`` to ``path``; returns how many."""
    with JsonlWriter(path) as writer:
        for event in events:
            writer.write(event)
        return writer.count


def read_jsonl(path: Path | str) -> Iterator[GeneratedEvent]:
    """Read back what ``JsonlWriter`` wrote (the tests' ground truth)."""
    with Path(path).open(encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            yield GeneratedEvent(
                EventType(row["event_type"]), row["key"], row["record"], row["fault"]
            )
