"""A generator run (``ico-analytics generate``): seeded events to Kafka and/or a ground-truth
JSONL file, paced and observed."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterable, Iterator
from contextlib import ExitStack
from pathlib import Path

from generator.metrics import GeneratorMetrics
from generator.model import EventGenerator, GeneratedEvent, JsonlWriter, paced
from generator.producer import produce
from ico_core.codec import Codec, RegistrySchemas
from ico_core.errors import ConfigError
from ico_core.injections import Injection
from ico_core.kafka import KafkaConnection
from ico_core.metrics import serve_registry
from ico_core.topics import ensure_topics

# Simulated rates of an unpaced run (events per minute): realistic traffic, not the CPU's pace.
UNPACED_MIN_RATE, UNPACED_MAX_RATE = 500, 10_000


def simulated_clock(events_per_minute: int, events: int | None, now_ms: int) -> tuple[int, int]:
    """(simulated events per minute, start time in ms) of a run.

    A paced run's simulated time follows the wall clock. An unpaced run of N events is stamped
    as a realistic stream (spread over about an hour, 500 to 10,000 events/min) that ends now,
    so every timestamp is in the past and valid; an endless unpaced run starts now at 500/min
    and, once it is more than an hour ahead of the wall clock, its events are rejected as future.
    """
    if events_per_minute:
        return events_per_minute, now_ms
    if events is None:
        return UNPACED_MIN_RATE, now_ms
    rate = min(max(events // 60, UNPACED_MIN_RATE), UNPACED_MAX_RATE)
    return rate, now_ms - events * 60_000 // rate


def _tee(events: Iterable[GeneratedEvent], writer: JsonlWriter) -> Iterator[GeneratedEvent]:
    for event in events:
        writer.write(event)
        yield event


def _observed(
    events: Iterable[GeneratedEvent], metrics: GeneratorMetrics
) -> Iterator[GeneratedEvent]:
    for event in events:
        metrics.observe(event)
        yield event


def serve_metrics(port: int, address: str, websites_count: int) -> GeneratorMetrics:
    """Serve the generator's Prometheus metrics on ``address:port`` from a thread."""
    return GeneratorMetrics(serve_registry(port, address), websites_count)


def run_generate(
    *,
    kafka: KafkaConnection | None,
    schema_registry_url: str,
    events_per_minute: int,
    events: int | None,
    seed: int | None,
    jsonl: Path | None,
    start_time_ms: int | None = None,
    websites_count: int,
    data_quality_issues: bool,
    experiment_lift: float,
    injections: tuple[Injection, ...] = (),
    metrics: GeneratorMetrics | None = None,
) -> str:
    """Generate events; returns a one-line summary."""
    if kafka is None and jsonl is None:
        raise ConfigError("nowhere to send events: give --bootstrap-servers or --jsonl")
    if kafka is not None and not schema_registry_url:
        raise ConfigError("Kafka needs a schema registry: set SCHEMA_REGISTRY_URL")
    simulated_rate, start_ms = simulated_clock(events_per_minute, events, int(time.time() * 1000))
    if start_time_ms is not None:
        start_ms = start_time_ms
    stream: Iterable[GeneratedEvent] = EventGenerator(
        seed=seed,
        websites_count=websites_count,
        data_quality_issues=data_quality_issues,
        start_time_ms=start_ms,
        events_per_minute=simulated_rate,
        experiment_lift=experiment_lift,
        injections=injections,
    )
    if events is not None:
        stream = itertools.islice(stream, events)
    stream = paced(stream, events_per_minute)
    if metrics is not None:
        metrics.set_rate(events_per_minute)
    with ExitStack() as stack:
        if jsonl is not None:
            stream = _tee(stream, stack.enter_context(JsonlWriter(jsonl)))
        if kafka is None:
            if metrics is not None:
                stream = _observed(stream, metrics)
            count = sum(1 for _ in stream)
            return f"wrote {count} events to {jsonl}"
        ensure_topics(kafka)
        codec = Codec(RegistrySchemas(schema_registry_url, register=True))
        report = produce(stream, codec, kafka, metrics=metrics)
        return f"delivered {report.delivered} events to Kafka at {kafka.bootstrap_servers}"
