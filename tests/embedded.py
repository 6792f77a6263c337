"""The embedded pipeline run the way the tests fill a database: seeded generator, the whole
flow in this process, PostgreSQL, and optionally the generator's JSONL ground truth."""

from __future__ import annotations

from pathlib import Path

from bytewax.testing import run_main

from dataflows.pipeline import build_flow
from dataflows.sinks import PostgresSink
from dataflows.sources import EmbeddedSource
from generator.model import JsonlWriter
from ico_core.settings import Settings


def generated(events: int, seed: int, start_ms: int) -> Settings:
    """Unpaced (stamped at the generator's 500 events/min from ``start_ms``), with faults."""
    return Settings(
        EVENTS_PER_MINUTE=0,
        GENERATOR_EVENTS=events,
        GENERATOR_SEED=seed,
        GENERATOR_START_MS=start_ms,
        DATA_QUALITY_ISSUES=True,
    )


def run_into(
    url: str,
    settings: Settings,
    jsonl: Path | None = None,
    *,
    simulated_events_per_minute: int | None = None,
) -> None:
    """Run the flow to the end of the generated events; ``jsonl`` receives every event;
    ``simulated_events_per_minute`` stamps them at another rate than the generator's."""
    if jsonl is None:
        source = EmbeddedSource(settings, simulated_events_per_minute=simulated_events_per_minute)
        run_main(build_flow(source, PostgresSink(url), settings=settings))
        return
    with JsonlWriter(jsonl) as writer:
        source = EmbeddedSource(
            settings, tap=writer.write, simulated_events_per_minute=simulated_events_per_minute
        )
        run_main(build_flow(source, PostgresSink(url), settings=settings))
