"""Produce -> committed raw row latency at a paced rate, with the dataflow tailing the topics;
and produce -> the event's session in ``analytics.sessions`` (sessions' freshness).

The producer runs in its own process (its CPU-bound loop would otherwise hold the GIL while
this process polls), records the wall-clock produce time of every ``SAMPLE_EVERY``-th clean
event and sends those samples here. This process polls the raw tables for the pending sampled
ids every ``POLL_INTERVAL`` seconds; a row first seen by a query that started at ``t`` was
committed before ``t`` and after the start of the previous poll, so each latency is an upper
bound that is at most one poll interval too high. Sessions are polled every
``SESSION_POLL_INTERVAL``: the refresher runs every ``SESSIONS_REFRESH_SECONDS`` (30 by default),
so their freshness is that interval's order, and the run should last a few of them.
"""

from __future__ import annotations

import itertools
import multiprocessing
import statistics
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event as EventFlag
from pathlib import Path
from queue import Empty
from typing import Any

import psycopg
from psycopg import sql

from bench.runner import SNAPSHOT_SECONDS
from bench.stack import Stack, fresh_database, reset_topics
from generator.model import EventGenerator, GeneratedEvent, paced
from generator.producer import produce
from ico_analytics.services.dataflow import DataflowCluster, stack_env
from ico_core.codec import Codec, RegistrySchemas
from ico_core.events import EventType
from ico_core.kafka import KafkaConnection

SAMPLE_EVERY = 20
POLL_INTERVAL = 0.05
SESSION_POLL_INTERVAL = 0.5
#: Produced first and left out of the figures: consumers connecting, first sink batches.
WARMUP_SECONDS = 3.0
#: How long to wait after the last event for the sampled rows still in flight.
DRAIN_SECONDS = 60.0

_TABLES = {
    EventType.CLICKSTREAM: "clickstream_events",
    EventType.REGISTRATION: "user_registrations",
    EventType.CONVERSION: "conversions",
}

# (event type, id, session id, event time ms, produce wall time) of one sampled event.
Sample = tuple[EventType, str, str, int, float]


@dataclass(frozen=True)
class ProducerSummary:
    generated: int
    generate_seconds: float  # building the events up front (see _producer_main)
    started_at: float  # wall clock of the first event handed to the producer
    seconds: float  # first to last event handed to the producer
    measured: int  # events produced after the warm-up
    measured_seconds: float


def _sampled(
    events: Iterable[GeneratedEvent], shift_ms: int, out: Queue[Any]
) -> Iterator[GeneratedEvent]:
    """Move event time by ``shift_ms``; send a sample of produce times to ``out`` in chunks."""
    chunk: list[Sample] = []
    last_flush = time.time()
    for i, event in enumerate(events):
        record = event.record
        if "timestamp" in record:  # a missing_field fault may have removed it
            record["timestamp"] += shift_ms
        now = time.time()
        if event.fault is None and i % SAMPLE_EVERY == 0:
            ident = record[event.event_type.id_field]
            chunk.append((event.event_type, ident, record["session_id"], record["timestamp"], now))
        if now - last_flush >= 0.1:
            out.put(chunk)
            chunk, last_flush = [], now
        yield event
    out.put(chunk)


def _producer_main(
    bootstrap: str,
    registry_url: str,
    rate_per_min: int,
    seconds: float,
    go: EventFlag,
    out: Queue[Any],
) -> None:
    """Child process: ``seconds`` worth of events paced at ``rate_per_min``.

    The events are generated before ``go``: at this rate the generator itself (it plans a
    session for almost every event while the stream ramps up) is slower than 10,000 events/s
    on a small machine. Their event time is then shifted to start at the first produce, so it
    follows the wall clock; encoding stays in the timed loop (``produce``).
    """
    codec = Codec(RegistrySchemas(registry_url))
    began = time.time()
    start_ms = int(began * 1000)
    generator = EventGenerator(seed=7, start_time_ms=start_ms, events_per_minute=rate_per_min)
    events = list(itertools.islice(generator, int(seconds * rate_per_min / 60)))
    generate_seconds = time.time() - began
    go.wait()
    times: list[float] = []

    def counted(events: Iterable[GeneratedEvent]) -> Iterator[GeneratedEvent]:
        for event in events:
            times.append(time.time())
            yield event

    shift_ms = int(time.time() * 1000) - start_ms
    produce(
        counted(_sampled(paced(events, rate_per_min), shift_ms, out)),
        codec,
        KafkaConnection(bootstrap),
    )
    start = times[0]
    measured = [t for t in times if t - start >= WARMUP_SECONDS]
    out.put(
        ProducerSummary(
            len(events),
            generate_seconds,
            start,
            times[-1] - start,
            len(measured),
            measured[-1] - measured[0],
        )
    )


@dataclass(frozen=True)
class LatencyResult:
    target_events_per_s: float
    producer: ProducerSummary
    processes: int
    detected: int  # sampled events seen committed, warm-up excluded
    undetected: int  # sampled events not committed by the end of the drain
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    poll_interval_ms: float  # mean time between two polls of a table: the resolution
    lag_end_of_produce: float | None  # bytewax_kafka_consumer_lag summed, when producing ended
    lag_after_drain: float | None
    #: produce -> a row of analytics.sessions spanning the event (p50, p95, max ms; samples)
    session_p50_ms: float
    session_p95_ms: float
    session_max_ms: float
    session_detected: int

    @property
    def achieved_events_per_s(self) -> float:
        return self.producer.measured / self.producer.measured_seconds

    def as_json(self) -> dict[str, Any]:
        return {
            "target_events_per_s": self.target_events_per_s,
            "achieved_events_per_s": self.achieved_events_per_s,
            "produced": self.producer.generated,
            "produce_seconds": self.producer.seconds,
            "generator_events_per_s": self.producer.generated / self.producer.generate_seconds,
            "warmup_seconds": WARMUP_SECONDS,
            "processes": self.processes,
            "sampled_every": SAMPLE_EVERY,
            "detected": self.detected,
            "undetected": self.undetected,
            "p50_ms": self.p50_ms,
            "p95_ms": self.p95_ms,
            "p99_ms": self.p99_ms,
            "max_ms": self.max_ms,
            "poll_interval_ms": self.poll_interval_ms,
            "consumer_lag_end_of_produce": self.lag_end_of_produce,
            "consumer_lag_after_drain": self.lag_after_drain,
            "session_p50_ms": self.session_p50_ms,
            "session_p95_ms": self.session_p95_ms,
            "session_max_ms": self.session_max_ms,
            "session_detected": self.session_detected,
        }


class _CommitPoller:
    """Pending sampled ids per table; ``poll`` returns the latencies of those now committed."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._conn = conn
        self.pending: dict[EventType, dict[str, tuple[int, float]]] = {t: {} for t in EventType}
        self.latencies: list[tuple[float, float]] = []  # (produced at, latency s)
        self.polls: list[float] = []

    def add(self, samples: list[Sample]) -> None:
        for event_type, ident, _, event_ms, produced_at in samples:
            self.pending[event_type][ident] = (event_ms, produced_at)

    def poll(self) -> None:
        self.polls.append(time.time())
        for event_type, pending in self.pending.items():
            if not pending:
                continue
            id_field = event_type.id_field
            times = [event_ms for event_ms, _ in pending.values()]
            # The event-time range lets PostgreSQL skip the other daily partitions.
            query = sql.SQL(
                'SELECT {}::text FROM raw_data.{} WHERE {} = ANY(%s::uuid[]) AND "timestamp" '
                "BETWEEN %s AND %s"
            ).format(
                sql.Identifier(id_field),
                sql.Identifier(_TABLES[event_type]),
                sql.Identifier(id_field),
            )
            asked = time.time()
            rows = self._conn.execute(
                query, (list(pending), _utc(min(times)), _utc(max(times)))
            ).fetchall()
            for (ident,) in rows:
                _, produced_at = pending.pop(ident)
                self.latencies.append((produced_at, asked - produced_at))

    def waiting(self) -> int:
        return sum(map(len, self.pending.values()))


class _SessionPoller:
    """Pending sampled (session id, event time); ``poll`` finds those whose session row (one
    spanning the event) is now stored."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._conn = conn
        self.pending: dict[tuple[str, int], float] = {}
        self.latencies: list[tuple[float, float]] = []  # (produced at, latency s)
        self._next = 0.0

    def add(self, samples: list[Sample]) -> None:
        for _, _, session_id, event_ms, produced_at in samples:
            self.pending[(session_id, event_ms)] = produced_at

    def poll(self) -> None:
        if not self.pending or time.monotonic() < self._next:
            return
        self._next = time.monotonic() + SESSION_POLL_INTERVAL
        keys = list(self.pending)
        asked = time.time()
        rows = self._conn.execute(
            "SELECT p.sid::text, p.ms FROM unnest(%s::uuid[], %s::bigint[]) AS p(sid, ms)"
            " WHERE EXISTS (SELECT FROM analytics.sessions s WHERE s.session_id = p.sid"
            "  AND timestamptz 'epoch' + p.ms * interval '1 millisecond'"
            "      BETWEEN s.session_start AND s.session_end)",
            ([k[0] for k in keys], [k[1] for k in keys]),
        ).fetchall()
        for session_id, event_ms in rows:
            produced_at = self.pending.pop((session_id, event_ms))
            self.latencies.append((produced_at, asked - produced_at))


def _utc(epoch_ms: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=epoch_ms)


def run_latency(
    stack: Stack, *, seconds: float, rate_per_s: int, processes: int, work_dir: Path
) -> LatencyResult:
    """Dataflow (production shape: recovery on, tail mode) first, then the paced producer."""
    reset_topics(stack.bootstrap)
    RegistrySchemas(stack.registry_url, register=True).register_all()  # the producer looks them up
    ctx = multiprocessing.get_context("spawn")
    samples: Queue[Any] = ctx.Queue()
    go = ctx.Event()
    producer = ctx.Process(
        target=_producer_main,
        args=(
            stack.bootstrap,
            stack.registry_url,
            rate_per_s * 60,
            WARMUP_SECONDS + seconds,
            go,
            samples,
        ),
    )
    with (
        fresh_database(stack, "bench_latency") as url,
        psycopg.connect(url, autocommit=True) as conn,
    ):
        dataflow = DataflowCluster(
            snapshot_seconds=SNAPSHOT_SECONDS,
            env=stack_env(stack.bootstrap, stack.registry_url, url),
            log_dir=work_dir / "latency" / "logs",
            recovery_dir=work_dir / "latency" / "recovery",
        )
        # The producer builds its events while the dataflow starts.
        producer.start()
        dataflow.start(processes)
        try:
            deadline = time.monotonic() + 60
            while not dataflow.metrics() is not None:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"dataflow API never answered\n{dataflow.logs()}")
                time.sleep(0.2)
            go.set()
            poller = _CommitPoller(conn)
            sessions = _SessionPoller(conn)
            summary: ProducerSummary | None = None
            lag_end: float | None = None
            drain_deadline = float("inf")
            while True:
                next_tick = time.monotonic() + POLL_INTERVAL
                while True:  # everything the producer sent so far
                    try:
                        item = samples.get_nowait()
                    except Empty:
                        break
                    if isinstance(item, ProducerSummary):
                        summary = item
                        lag_end = dataflow.consumer_lag()
                        drain_deadline = time.monotonic() + DRAIN_SECONDS
                    else:
                        poller.add(item)
                        sessions.add(item)
                poller.poll()
                sessions.poll()
                if summary is not None and (
                    not (poller.waiting() or sessions.pending) or time.monotonic() > drain_deadline
                ):
                    break
                if producer.exitcode not in (None, 0):
                    raise RuntimeError(f"producer process failed ({producer.exitcode})")
                time.sleep(max(next_tick - time.monotonic(), 0))
            producer.join()
            lag_after = dataflow.consumer_lag()
        finally:
            dataflow.stop()
            if producer.is_alive():
                producer.kill()
    assert summary is not None  # the loop above only ends once it arrived
    warm = summary.started_at + WARMUP_SECONDS
    measured = sorted(lat for produced, lat in poller.latencies if produced >= warm)
    if len(measured) < 100:
        raise RuntimeError(f"only {len(measured)} latency samples\n{dataflow.logs()}")
    cuts = statistics.quantiles(measured, n=100)
    fresh = sorted(lat for produced, lat in sessions.latencies if produced >= warm)
    session_cuts = statistics.quantiles(fresh, n=100) if len(fresh) > 1 else [float("nan")] * 99
    intervals = [b - a for a, b in itertools.pairwise(poller.polls)]
    return LatencyResult(
        target_events_per_s=rate_per_s,
        processes=processes,
        producer=summary,
        detected=len(measured),
        undetected=poller.waiting(),
        p50_ms=cuts[49] * 1000,
        p95_ms=cuts[94] * 1000,
        p99_ms=cuts[98] * 1000,
        max_ms=measured[-1] * 1000,
        poll_interval_ms=statistics.fmean(intervals) * 1000,
        lag_end_of_produce=lag_end,
        lag_after_drain=lag_after,
        session_p50_ms=session_cuts[49] * 1000,
        session_p95_ms=session_cuts[94] * 1000,
        session_max_ms=(fresh[-1] if fresh else float("nan")) * 1000,
        session_detected=len(fresh),
    )
