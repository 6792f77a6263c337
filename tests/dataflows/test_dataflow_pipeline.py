"""The whole flow on seeded generator data: ground truth, recovery, and the embedded source."""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from bytewax.recovery import RecoveryConfig, init_db_dir
from bytewax.testing import TestingSink, TestingSource, run_main

from dataflows.pipeline import build_flow
from dataflows.records import RawRecord, TableRow
from dataflows.sources import EmbeddedSource
from generator.model import EventGenerator, GeneratedEvent, to_wire
from ico_analytics.codec import Codec, LocalSchemas
from ico_analytics.settings import Settings

START_MS = 1_750_000_000_000
SEED = 99
ID_FIELD = {"clickstream": "event_id", "registration": "registration_id",
            "conversion": "conversion_id"}
RAW_TABLES = {"raw_data.clickstream_events": "event_id",
              "raw_data.user_registrations": "registration_id",
              "raw_data.conversions": "conversion_id"}


def final_tables(rows: list[TableRow]) -> dict[str, dict[tuple[Any, ...], dict[str, Any]]]:
    """What the database holds after the upserts: the last row per primary key and table."""
    keys = {**{t: (c, "timestamp") for t, c in RAW_TABLES.items()},
            "raw_data.dead_letters": ("source_topic", "source_partition", "source_offset"),
            "analytics.window_aggregates": ("ico_website_id", "window_length", "window_start")}
    tables: dict[str, dict[tuple[Any, ...], dict[str, Any]]] = defaultdict(dict)
    for table, row in rows:
        tables[table][tuple(row[c] for c in keys[table])] = row
    return tables


def recompute_windows(events: list[GeneratedEvent]) -> dict[tuple[Any, ...], dict[str, Any]]:
    """Naive recomputation: valid events, first of each id, every window length."""
    seen: set[str] = set()
    acc: dict[tuple[int, int, int], list[dict[str, Any]]] = defaultdict(list)
    for e in events:
        if e.fault in ("missing_field", "malformed"):
            continue
        r = e.record
        if r[ID_FIELD[e.event_type.value]] in seen:
            continue
        seen.add(r[ID_FIELD[e.event_type.value]])
        for minutes in (5, 15, 60):
            length = minutes * 60_000
            acc[(r["ico_website_id"], length, r["timestamp"] // length * length)].append(
                {"kind": e.event_type.value, **r})
    out = {}
    for (site, length, start), rs in acc.items():
        views = [r for r in rs if r["kind"] == "clickstream" and r["event_type"] == "page_view"]
        loads = sorted(r["page_load_time"] for r in views if r["page_load_time"] is not None)
        convs = [r for r in rs if r["kind"] == "conversion"]
        buys = [r for r in convs if r["conversion_type"] != "wallet_connect"]
        pos = 0.95 * (len(loads) - 1)
        begin = datetime.fromtimestamp(start / 1000, UTC)
        out[(site, timedelta(milliseconds=length), begin)] = {
            "events": len(rs),
            "page_views": len(views),
            "unique_sessions": len({r["session_id"] for r in rs}),
            "unique_users": len({r["user_id"] for r in rs if r["user_id"] is not None}),
            "registrations": sum(r["kind"] == "registration" for r in rs),
            "conversions": len(convs),
            "wallet_connects": len(convs) - len(buys),
            "purchases": len(buys),
            "revenue_usd": sum((Decimal(str(r["amount_usd"])) for r in buys), Decimal("0.00")),
            "avg_page_load_time": sum(loads) / len(loads) if loads else None,
            "p95_page_load_time": (
                loads[math.floor(pos)]
                + (loads[math.ceil(pos)] - loads[math.floor(pos)]) * (pos - math.floor(pos))
                if loads else None
            ),
        }
    return out


def assert_windows_match(got: dict[tuple[Any, ...], dict[str, Any]],
                         want: dict[tuple[Any, ...], dict[str, Any]]) -> None:
    assert set(got) == set(want)
    for key, expected in want.items():
        row = got[key]
        for col, value in expected.items():
            if col.endswith("load_time") and value is not None:
                assert math.isclose(row[col], value, rel_tol=1e-12), (key, col)
            else:
                assert row[col] == value, (key, col, row[col], value)


def test_embedded_run_matches_a_recomputation_from_the_generated_events() -> None:
    settings = Settings(EVENTS_PER_MINUTE=0, GENERATOR_EVENTS=6000, GENERATOR_SEED=SEED,
                        GENERATOR_START_MS=START_MS, AGGREGATE_FLUSH_SECONDS=0.05)
    generated: list[GeneratedEvent] = []
    out: list[TableRow] = []
    run_main(build_flow(EmbeddedSource(settings, tap=generated.append), TestingSink(out),
                        settings=settings))
    assert len(generated) == 6000
    # ("late" ones are held back 5 min .. 3 h of simulated time, mostly past this short run;
    # the window tests cover them.)
    assert {e.fault for e in generated} >= {"duplicate", "out_of_order", "missing_field",
                                            "malformed"}
    tables = final_tables(out)
    bad = [i for i, e in enumerate(generated) if e.fault in ("missing_field", "malformed")]
    assert sorted(k[2] for k in tables["raw_data.dead_letters"]) == bad
    valid_ids = {e.record[ID_FIELD[e.event_type.value]] for e in generated if e.fault not in
                 ("missing_field", "malformed")}
    stored = {k[0] for t in RAW_TABLES for k in tables[t]}
    assert stored == valid_ids
    assert sum(len(tables[t]) for t in RAW_TABLES) == len(valid_ids)  # no duplicate rows
    assert_windows_match(tables["analytics.window_aggregates"], recompute_windows(generated))


def raw_records(n: int) -> list[RawRecord]:
    codec = Codec(LocalSchemas())
    events = itertools.islice(EventGenerator(seed=SEED, start_time_ms=START_MS), n)
    return [RawRecord(e.event_type.topic, 0, i, e.key.encode(), to_wire(e, codec))
            for i, e in enumerate(events)]


def test_crash_and_resume_from_a_snapshot_gives_the_uninterrupted_result(tmp_path: Path) -> None:
    settings = Settings(AGGREGATE_FLUSH_SECONDS=0.05)
    records = raw_records(4000)
    reference = START_MS + 6 * 3_600_000

    def run(items: list[Any], out: list[TableRow], recovery: RecoveryConfig | None) -> None:
        flow = build_flow(TestingSource(items, batch_size=50), TestingSink(out),
                          settings=settings, reference_time_ms=reference)
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
