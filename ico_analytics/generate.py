"""``ico-analytics generate``: seeded events to Kafka and/or a ground-truth JSONL file."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from contextlib import ExitStack
from pathlib import Path

from generator.model import EventGenerator, GeneratedEvent, JsonlWriter, paced
from ico_analytics.codec import Codec, RegistrySchemas
from ico_analytics.errors import ConfigError

UNPACED_SIMULATED_RATE = 600_000


def _tee(events: Iterable[GeneratedEvent], writer: JsonlWriter) -> Iterator[GeneratedEvent]:
    for event in events:
        writer.write(event)
        yield event


def run_generate(
    *,
    bootstrap_servers: str,
    schema_registry_url: str,
    events_per_minute: int,
    events: int | None,
    seed: int | None,
    jsonl: Path | None,
    websites_count: int,
    data_quality_issues: bool,
) -> str:
    """Generate events; returns a one-line summary."""
    if not bootstrap_servers and jsonl is None:
        raise ConfigError("nowhere to send events: give --bootstrap-servers or --jsonl")
    if bootstrap_servers and not schema_registry_url:
        raise ConfigError("Kafka needs a schema registry: set SCHEMA_REGISTRY_URL")
    stream: Iterable[GeneratedEvent] = EventGenerator(
        seed=seed,
        websites_count=websites_count,
        data_quality_issues=data_quality_issues,
        # Simulated time advances at the paced rate, so timestamps follow the wall clock; an
        # unpaced run stamps events as a 10,000 events/s stream would, so they stay near "now".
        events_per_minute=events_per_minute or UNPACED_SIMULATED_RATE,
    )
    if events is not None:
        stream = itertools.islice(stream, events)
    stream = paced(stream, events_per_minute)
    with ExitStack() as stack:
        if jsonl is not None:
            stream = _tee(stream, stack.enter_context(JsonlWriter(jsonl)))
        if not bootstrap_servers:
            count = sum(1 for _ in stream)
            return f"wrote {count} events to {jsonl}"
        from generator.producer import produce
        from ico_analytics.topics import ensure_topics

        ensure_topics(bootstrap_servers)
        codec = Codec(RegistrySchemas(schema_registry_url, register=True))
        report = produce(stream, codec, bootstrap_servers)
        return f"delivered {report.delivered} events to Kafka at {bootstrap_servers}"
