"""The whole embedded path against a real PostgreSQL, checked against the JSONL ground truth."""

from __future__ import annotations

import time
from pathlib import Path

from ico_core.db import refresh_kpis
from ico_core.projects import load_projects
from tests.embedded import generated, run_into
from tests.groundtruth import (
    compare_database,
    compare_experiments,
    compare_funnel,
    expected_from,
    read_jsonl,
    snapshot_database,
)

EVENTS = 30_000
SEED = 20261125


def test_pipeline_matches_ground_truth_and_replays_idempotently(
    migrated_database_url: str, tmp_path: Path
) -> None:
    # Start an hour ago so every window is in the past and validation's clock accepts all.
    start_ms = int(time.time() * 1000) - 3_600_000
    settings = generated(EVENTS, SEED, start_ms)
    truth = tmp_path / "truth.jsonl"
    run_into(migrated_database_url, settings, truth)

    lines = read_jsonl(truth)
    assert len(lines) == EVENTS
    faults = {line["fault"] for line in lines}
    assert {"duplicate", "late", "out_of_order", "missing_field", "malformed"} <= faults
    expected = expected_from(lines)
    assert expected.dead_letters > 0
    # Leads of both kinds, so both the sealed emails and their absence are checked.
    assert {r["consent_marketing"] for r in expected.registrations.values()} == {True, False}
    assert compare_database(migrated_database_url, expected, settings.crm_key()) == []
    assert compare_funnel(migrated_database_url, expected) == []
    experiments = {p.id: p.landing_experiment for p in load_projects()}
    refresh_kpis(migrated_database_url)  # the experiments' results, as `maintain` refreshes them
    assert compare_experiments(migrated_database_url, expected, experiments) == []
    # The generator's paused visits make some site sessions two sessions.
    assert len(expected.sessions) > len({sid for sid, _ in expected.sessions})

    before = snapshot_database(migrated_database_url)
    run_into(migrated_database_url, settings)
    assert snapshot_database(migrated_database_url) == before
