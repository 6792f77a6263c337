"""The whole embedded path against a real PostgreSQL, checked against the JSONL ground truth."""

from __future__ import annotations

import time
from pathlib import Path

from bytewax.testing import run_main

from dataflows.pipeline import build_flow
from dataflows.sinks import PostgresSink
from dataflows.sources import EmbeddedSource
from generator.model import JsonlWriter
from ico_analytics.settings import Settings
from tests.groundtruth import compare_database, expected_from, read_jsonl, snapshot_database

EVENTS = 30_000
SEED = 20261125


def _run(url: str, settings: Settings, jsonl: Path | None = None) -> None:
    if jsonl is None:
        source = EmbeddedSource(settings)
        run_main(build_flow(source, PostgresSink(url), settings=settings))
        return
    with JsonlWriter(jsonl) as writer:
        source = EmbeddedSource(settings, tap=writer.write)
        run_main(build_flow(source, PostgresSink(url), settings=settings))


def test_pipeline_matches_ground_truth_and_replays_idempotently(
    migrated_database_url: str, tmp_path: Path
) -> None:
    # Start an hour ago so every window is in the past and validation's clock accepts all.
    start_ms = int(time.time() * 1000) - 3_600_000
    settings = Settings(
        EVENTS_PER_MINUTE=0,
        GENERATOR_EVENTS=EVENTS,
        GENERATOR_SEED=SEED,
        GENERATOR_START_MS=start_ms,
        DATA_QUALITY_ISSUES=True,
    )
    truth = tmp_path / "truth.jsonl"
    _run(migrated_database_url, settings, truth)

    lines = read_jsonl(truth)
    assert len(lines) == EVENTS
    faults = {line["fault"] for line in lines}
    assert {"duplicate", "late", "out_of_order", "missing_field", "malformed"} <= faults
    expected = expected_from(lines)
    assert expected.dead_letters > 0
    assert compare_database(migrated_database_url, expected) == []

    before = snapshot_database(migrated_database_url)
    _run(migrated_database_url, settings)
    assert snapshot_database(migrated_database_url) == before
