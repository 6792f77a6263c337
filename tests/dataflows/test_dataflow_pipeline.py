"""The whole flow on seeded generator data: ground truth, recovery, and the embedded source."""

from __future__ import annotations

import itertools
import json
import math
import os
import subprocess
import sys
from collections import defaultdict
from datetime import timedelta
from pathlib import Path
from typing import Any

from bytewax.recovery import RecoveryConfig, init_db_dir
from bytewax.testing import TestingSink, TestingSource, run_main

from dataflows.pipeline import GC_THRESHOLDS, build_flow
from dataflows.records import RawRecord, TableRow
from dataflows.sources import EmbeddedSource
from generator.model import EventGenerator, GeneratedEvent, to_wire
from ico_core.codec import Codec, LocalSchemas
from ico_core.settings import Settings
from tests.groundtruth import expected_from

START_MS = 1_750_000_000_000
SEED = 99
ID_FIELD = {
    "clickstream": "event_id",
    "registration": "registration_id",
    "conversion": "conversion_id",
}
RAW_TABLES = {
    "raw_data.clickstream_events": "event_id",
    "raw_data.user_registrations": "registration_id",
    "raw_data.conversions": "conversion_id",
}


def final_tables(rows: list[TableRow]) -> dict[str, dict[tuple[Any, ...], dict[str, Any]]]:
    """What the database holds after the upserts: the last row per primary key and table."""
    keys = {
        **{t: (c, "timestamp") for t, c in RAW_TABLES.items()},
        "raw_data.dead_letters": ("source_topic", "source_partition", "source_offset"),
        "analytics.window_aggregates": ("ico_website_id", "window_length", "window_start"),
        "analytics.anomalies": ("ico_website_id", "metric", "window_start"),
        "analytics.leads": ("registration_id",),
    }
    tables: dict[str, dict[tuple[Any, ...], dict[str, Any]]] = defaultdict(dict)
    for table, named in rows:
        row = named._asdict()
        tables[table][tuple(row[c] for c in keys[table])] = row
    return tables


def assert_windows_match(
    got: dict[tuple[Any, ...], dict[str, Any]], want: dict[tuple[Any, ...], dict[str, Any]]
) -> None:
    assert set(got) == set(want)
    for key, expected in want.items():
        row = got[key]
        for col, value in expected.items():
            if col.endswith("load_time") and value is not None:
                assert math.isclose(row[col], value, rel_tol=1e-12), (key, col)
            else:
                assert row[col] == value, (key, col, row[col], value)


def test_embedded_run_matches_a_recomputation_from_the_generated_events() -> None:
    settings = Settings(
        EVENTS_PER_MINUTE=0,
        GENERATOR_EVENTS=6000,
        GENERATOR_SEED=SEED,
        GENERATOR_START_MS=START_MS,
        AGGREGATE_FLUSH_SECONDS=0.05,
    )
    generated: list[GeneratedEvent] = []
    out: list[TableRow] = []
    run_main(
        build_flow(
            EmbeddedSource(settings, tap=generated.append), TestingSink(out), settings=settings
        )
    )
    assert len(generated) == 6000
    # ("late" ones are held back 5 min .. 3 h of simulated time, mostly past this short run;
    # the window tests cover them.)
    assert {e.fault for e in generated} >= {
        "duplicate",
        "out_of_order",
        "missing_field",
        "malformed",
    }
    tables = final_tables(out)
    bad = [i for i, e in enumerate(generated) if e.fault in ("missing_field", "malformed")]
    assert sorted(k[2] for k in tables["raw_data.dead_letters"]) == bad
    valid_ids = {
        e.record[ID_FIELD[e.event_type.value]]
        for e in generated
        if e.fault not in ("missing_field", "malformed")
    }
    stored = {k[0] for t in RAW_TABLES for k in tables[t]}
    assert stored == valid_ids
    assert sum(len(tables[t]) for t in RAW_TABLES) == len(valid_ids)  # no duplicate rows
    # A lead per stored registration, with an email exactly when it consented.
    leads = tables["analytics.leads"]
    assert {k[0] for k in leads} == {k[0] for k in tables["raw_data.user_registrations"]}
    assert all((r["email_sealed"] is None) != r["consent_marketing"] for r in leads.values())
    truth = expected_from(
        {"event_type": e.event_type.value, "fault": e.fault, "record": e.record} for e in generated
    )
    assert_windows_match(tables["analytics.window_aggregates"], truth.aggregates)


def raw_records(n: int) -> list[RawRecord]:
    codec = Codec(LocalSchemas())
    events = itertools.islice(EventGenerator(seed=SEED, start_time_ms=START_MS), n)
    return [
        RawRecord(e.event_type.topic, 0, i, e.key.encode(), to_wire(e, codec))
        for i, e in enumerate(events)
    ]


def test_crash_and_resume_from_a_snapshot_gives_the_uninterrupted_result(tmp_path: Path) -> None:
    settings = Settings(AGGREGATE_FLUSH_SECONDS=0.05)
    records = raw_records(4000)
    reference = START_MS + 6 * 3_600_000

    def run(items: list[Any], out: list[TableRow], recovery: RecoveryConfig | None) -> None:
        flow = build_flow(
            TestingSource(items, batch_size=50),
            TestingSink(out),
            settings=settings,
            reference_time_ms=reference,
        )
        run_main(flow, epoch_interval=timedelta(0), recovery_config=recovery)

    uninterrupted: list[TableRow] = []
    run(records, uninterrupted, None)

    init_db_dir(tmp_path, 1)
    recovery = RecoveryConfig(str(tmp_path))
    items: list[Any] = [*records[:2500], TestingSource.ABORT(), *records[2500:]]
    resumed: list[TableRow] = []
    run(items, resumed, recovery)
    rows_before_crash = len(resumed)
    assert rows_before_crash > 0
    assert final_tables(resumed)["raw_data.clickstream_events"]  # work was done before the crash
    run(items, resumed, recovery)  # same items; the ABORT has fired and is skipped now
    raw_tables = {*RAW_TABLES, "raw_data.dead_letters"}
    replayed = sum(t in raw_tables for t, _ in resumed[rows_before_crash:])
    total = sum(t in raw_tables for t, _ in uninterrupted)
    # It resumed from a snapshot near the crash, not from the start (state came back too).
    assert replayed < total - 2000

    got, want = final_tables(resumed), final_tables(uninterrupted)
    assert set(got) == set(want)
    for table in want:
        assert got[table] == want[table], table


def test_embedded_source_resumes_where_its_snapshot_left_off() -> None:
    settings = Settings(EVENTS_PER_MINUTE=0, GENERATOR_SEED=5, GENERATOR_START_MS=START_MS)
    source = EmbeddedSource(settings)
    part = source.build_part("input", "generator", None)
    first = part.next_batch()
    snapshot = part.snapshot()
    assert START_MS <= snapshot.clock_ms == first[-1].timestamp_ms < START_MS + 3_600_000
    second = part.next_batch()
    assert [r.offset for r in first] == list(range(1000))
    resumed = EmbeddedSource(settings).build_part("input", "generator", snapshot)
    assert resumed.next_batch() == second
    assert snapshot.seed == 5 and snapshot.start_time_ms == START_MS and snapshot.next_seq == 1000


def test_embedded_source_stops_at_its_bound() -> None:
    settings = Settings(EVENTS_PER_MINUTE=0, GENERATOR_EVENTS=1500, GENERATOR_SEED=5)
    part = EmbeddedSource(settings).build_part("input", "generator", None)
    sizes = [len(part.next_batch()), len(part.next_batch())]
    assert sizes == [1000, 500]
    try:
        part.next_batch()
    except StopIteration:
        pass
    else:
        raise AssertionError("the source did not end")


_PROBE = """
import gc, json, sys
before = gc.get_threshold()
import dataflows.pipeline as pipeline
imported = {"threshold": gc.get_threshold() == before, "built": "flow" in vars(pipeline)}
try:
    flow = pipeline.flow
except Exception as exc:
    looked_up = {"error": f"{type(exc).__name__}: {exc}"}
else:
    looked_up = {"flow": flow.flow_id, "threshold": list(gc.get_threshold())}
print(json.dumps({"imported": imported, "looked_up": looked_up}))
"""


def _probe(env: dict[str, str]) -> dict[str, Any]:
    keep = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG"}}
    done = subprocess.run(
        [sys.executable, "-c", _PROBE],
        env={**keep, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_importing_the_pipeline_changes_nothing_and_flow_needs_a_database_and_keys() -> None:
    unconfigured = _probe({})
    assert unconfigured["imported"] == {"threshold": True, "built": False}
    assert unconfigured["looked_up"]["error"].startswith(
        "ConfigError: no database configured: set DATABASE_URL"
    )
    database = {"DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"}
    assert _probe(database)["looked_up"]["error"].startswith(
        "ConfigError: PII_HMAC_KEY is not set: the dataflow will not store personal data"
    )
    keyed = {**database, "PII_HMAC_KEY": "a-real-secret"}
    assert _probe(keyed)["looked_up"]["error"].startswith(
        "ConfigError: CRM_EMAIL_KEY is not set: the dataflow will not store leads' emails"
    )
    # With a database and the keys, looking ``flow`` up builds it (connecting nowhere yet) and
    # tunes the collector of the process that is going to run it.
    configured = _probe({**keyed, "CRM_EMAIL_KEY": "another-real-secret"})
    assert configured["imported"] == {"threshold": True, "built": False}
    assert configured["looked_up"] == {"flow": "ico_analytics", "threshold": list(GC_THRESHOLDS)}
