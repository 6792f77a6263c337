"""Copies of events that arrive after the dedupe TTL, under another session: stored and counted
once (the raw tables are looked up), also across a crash and a replay from a snapshot."""

from __future__ import annotations

import itertools
import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
from bytewax.recovery import RecoveryConfig, init_db_dir
from bytewax.testing import TestingSource, run_main
from prometheus_client import REGISTRY

from dataflows.pipeline import build_flow
from dataflows.records import RawRecord, TableRow
from dataflows.sinks import PostgresSink, PostgresSinkPartition
from generator.model import EventGenerator, GeneratedEvent, to_wire
from ico_core.codec import Codec, LocalSchemas
from ico_core.events import EventType
from ico_core.settings import Settings
from tests.groundtruth import PURCHASES, RAW_TABLE, compare_database, expected_from

CODEC = Codec(LocalSchemas())
NOW_MS = int(time.time() * 1000)
OTHER_SESSION = "5e550000-0000-4000-8000-00000000c0de"
#: Longer than the 1 s TTL plus its last generation: the in-memory dedupe has forgotten the ids.
AFTER_TTL = TestingSource.PAUSE(timedelta(seconds=2.5))
SETTINGS = Settings(DATA_QUALITY_ISSUES=False, DEDUPE_TTL_SECONDS=1, AGGREGATE_FLUSH_SECONDS=0.05)


def clean_events(n: int) -> list[GeneratedEvent]:
    generator = EventGenerator(seed=7, data_quality_issues=False, start_time_ms=NOW_MS - 1_800_000)
    return list(itertools.islice(generator, n))


def record_of(event: GeneratedEvent, partition: int, offset: int) -> RawRecord:
    return RawRecord(
        event.event_type.topic, partition, offset, event.key.encode(), to_wire(event, CODEC), NOW_MS
    )


def late_copies(events: list[GeneratedEvent]) -> list[GeneratedEvent]:
    """A purchase and a page view sent again under another session (another Kafka key)."""
    purchase = next(
        e
        for e in events
        if e.event_type is EventType.CONVERSION and e.record["conversion_type"] in PURCHASES
    )
    view = next(
        e
        for e in events
        if e.event_type is EventType.CLICKSTREAM and e.record["event_type"] == "page_view"
    )
    return [
        replace(e, key=OTHER_SESSION, record={**e.record, "session_id": OTHER_SESSION})
        for e in (purchase, view)
    ]


def late_duplicates_dropped() -> float:
    return REGISTRY.get_sample_value("ico_dataflow_late_duplicates_dropped_total") or 0.0


def truth_of(events: list[GeneratedEvent]) -> Any:
    return expected_from(
        {"event_type": e.event_type.value, "fault": None, "record": e.record} for e in events
    )


def test_late_copies_under_other_sessions_are_stored_and_counted_once(
    migrated_database_url: str,
) -> None:
    events = clean_events(400)
    copies = late_copies(events)
    items: list[Any] = [record_of(e, 0, i) for i, e in enumerate(events)]
    items += [AFTER_TTL, *(record_of(e, 1, i) for i, e in enumerate(copies))]
    dropped_before = late_duplicates_dropped()

    run_main(
        build_flow(
            TestingSource(items, batch_size=50),
            PostgresSink(migrated_database_url),
            settings=SETTINGS,
        )
    )

    assert late_duplicates_dropped() - dropped_before == 2
    # The truth counts each id once, with its first copy's session.
    truth = truth_of([*events, *copies])
    assert compare_database(migrated_database_url, truth) == []
    purchase, view = copies
    with psycopg.connect(migrated_database_url) as conn:
        stored = conn.execute(
            "SELECT session_id::text, source_partition, source_offset FROM raw_data.conversions "
            "WHERE conversion_id = %s",
            (purchase.record["conversion_id"],),
        ).fetchall()
        revenue = conn.execute(
            "SELECT revenue_usd, purchases FROM analytics.window_aggregates "
            "WHERE ico_website_id = %s AND window_length = '1 hour' "
            "AND window_start <= to_timestamp(%s / 1000.0) "
            "AND window_end > to_timestamp(%s / 1000.0)",
            (
                purchase.record["ico_website_id"],
                purchase.record["timestamp"],
                purchase.record["timestamp"],
            ),
        ).fetchone()
    ids = [e.record.get("conversion_id") for e in events]
    original = ids.index(purchase.record["conversion_id"])
    # The first copy's session and coordinates: the late copy changed nothing.
    assert stored == [(events[original].record["session_id"], 0, original)]
    window = [
        e
        for e in events
        if e.event_type is EventType.CONVERSION
        and e.record["conversion_type"] in PURCHASES
        and e.record["ico_website_id"] == purchase.record["ico_website_id"]
        and e.record["timestamp"] // 3_600_000 == purchase.record["timestamp"] // 3_600_000
    ]
    assert revenue is not None
    assert revenue[1] == len(window)
    assert float(revenue[0]) == round(sum(e.record["amount_usd"] for e in window), 2)
    assert view.record["event_id"] in truth.raw_ids[RAW_TABLE["clickstream"]]


class RecordingSink(PostgresSink):
    """A PostgresSink that also keeps every row it was given to write."""

    def __init__(self, url: str, written: list[TableRow]) -> None:
        super().__init__(url)
        self.written = written

    def partition(self, step_id: str, worker_index: int) -> PostgresSinkPartition:
        partition = super().partition(step_id, worker_index)
        write = partition.write_batch

        def recording(items: list[TableRow]) -> None:
            write(items)
            self.written.extend(items)

        partition.write_batch = recording  # type: ignore[method-assign]
        return partition


def test_a_replay_after_a_crash_counts_the_copies_it_had_stored_again(
    migrated_database_url: str, tmp_path: Path
) -> None:
    events = clean_events(3000)
    copies = late_copies(events[:1000])
    items: list[Any] = [record_of(e, 0, i) for i, e in enumerate(events[:1000])]
    items += [AFTER_TTL, *(record_of(e, 1, i) for i, e in enumerate(copies))]
    items += [record_of(e, 0, i) for i, e in enumerate(events[1000:2200], 1000)]
    items.append(TestingSource.ABORT())
    items += [record_of(e, 0, i) for i, e in enumerate(events[2200:], 2200)]
    init_db_dir(tmp_path, 1)
    recovery = RecoveryConfig(str(tmp_path))

    def run(written: list[TableRow]) -> None:
        flow = build_flow(
            TestingSource(items, batch_size=50),
            RecordingSink(migrated_database_url, written),
            settings=SETTINGS,
        )
        # No snapshot before the crash: the resumed run starts from empty windows and re-delivers
        # every record, so each stored copy must be counted again while the late copies are not.
        run_main(flow, epoch_interval=timedelta(minutes=10), recovery_config=recovery)

    before_crash: list[TableRow] = []
    run(before_crash)
    after_crash: list[TableRow] = []
    run(after_crash)  # the ABORT has fired and is skipped now

    def raw_keys(rows: list[TableRow]) -> set[tuple[str, Any]]:
        return {(table, row[0]) for table, row in rows if table in RAW_TABLE.values()}

    # The resumed run wrote again raw rows the crashed run had stored: replayed, not dropped.
    assert raw_keys(before_crash) & raw_keys(after_crash)
    assert compare_database(migrated_database_url, truth_of([*events, *copies])) == []


def test_a_replay_counts_its_stored_copy_even_when_a_late_copy_comes_first(
    migrated_database_url: str,
) -> None:
    # A replay may interleave partitions otherwise than the first run: here the late copy (from
    # partition 1) comes before the stored copy (partition 0, offset 5) of the same event. The
    # late copy must be dropped without the in-memory dedupe remembering its id.
    stored = next(e for e in clean_events(50) if e.event_type is EventType.CLICKSTREAM)
    late = replace(stored, key=OTHER_SESSION, record={**stored.record, "session_id": OTHER_SESSION})
    # Another event of the same window and project, so the replay emits the window again.
    other = replace(
        stored, record={**stored.record, "event_id": "00000000-0000-4000-8000-0000000000aa"}
    )
    first_run = [record_of(stored, 0, 5)]
    replay = [record_of(late, 1, 0), record_of(stored, 0, 5), record_of(other, 0, 6)]
    for items in (first_run, replay):  # the replay starts from windows without the event
        flow = build_flow(
            TestingSource(items), PostgresSink(migrated_database_url), settings=SETTINGS
        )
        run_main(flow)

    with psycopg.connect(migrated_database_url) as conn:
        events = conn.execute(
            "SELECT events, unique_sessions FROM analytics.window_aggregates "
            "WHERE ico_website_id = %s AND window_length = '5 minutes' "
            "AND window_start <= to_timestamp(%s / 1000.0) "
            "AND window_end > to_timestamp(%s / 1000.0)",
            (
                stored.record["ico_website_id"],
                stored.record["timestamp"],
                stored.record["timestamp"],
            ),
        ).fetchall()
        rows = conn.execute(
            "SELECT session_id::text, source_partition, source_offset "
            "FROM raw_data.clickstream_events WHERE event_id = %s",
            (stored.record["event_id"],),
        ).fetchall()
    assert events == [(2, 1)]
    assert rows == [(stored.record["session_id"], 0, 5)]
