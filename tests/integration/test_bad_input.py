"""Hand-made garbage between good records: every bad one is a dead letter with a reason in
PostgreSQL, every good one lands, and the flow never stops."""

from __future__ import annotations

import io
import itertools
import json
import struct
import time
from typing import Any

import fastavro
import psycopg
from bytewax.testing import TestingSource, run_main

from dataflows.pipeline import build_flow
from dataflows.records import RawRecord
from dataflows.sinks import PostgresSink
from generator.model import EventGenerator, to_wire
from ico_core.codec import PARSED_SCHEMAS, Codec, LocalSchemas
from ico_core.events import EventType
from ico_core.settings import Settings

CODEC = Codec(LocalSchemas())
NOW_MS = int(time.time() * 1000)
SQL_TRICKS = "'; DROP TABLE raw_data.clickstream_events; -- \" \\ $$ %s {} ü 漢字"


def _avro(event_type: EventType, record: dict[str, Any], schema_id: int | None = None) -> bytes:
    buf = io.BytesIO()
    sid = CODEC.schemas.schema_id(event_type) if schema_id is None else schema_id
    buf.write(struct.pack(">bI", 0, sid))
    fastavro.schemaless_writer(buf, PARSED_SCHEMAS[event_type], record)
    return buf.getvalue()


def test_garbage_is_dead_lettered_with_reasons_and_good_records_land(
    migrated_database_url: str,
) -> None:
    events = list(
        itertools.islice(
            EventGenerator(seed=11, data_quality_issues=False, start_time_ms=NOW_MS - 600_000), 600
        )
    )
    click = next(e.record for e in events if e.event_type is EventType.CLICKSTREAM)
    registration = next(e.record for e in events if e.event_type is EventType.REGISTRATION)
    good_wire = to_wire(events[0], CODEC)
    garbage: dict[str, bytes | None] = {
        "empty": b"",
        "null value": None,
        "truncated": good_wire[: len(good_wire) // 2],
        "header only": good_wire[:5],
        "not framed": json.dumps(click).encode(),
        "unknown schema id": _avro(EventType.CLICKSTREAM, click, schema_id=4242),
        # A conversion payload read with the clickstream schema: wrong types on the wire.
        "wrong schema": _avro(EventType.CLICKSTREAM, click, schema_id=3),
        "trailing bytes": good_wire + b"\x00\x01",
        "far future": _avro(EventType.CLICKSTREAM, {**click, "timestamp": 10**15}),
        "before epoch": _avro(EventType.CLICKSTREAM, {**click, "timestamp": -5}),
        "unknown project": _avro(EventType.CLICKSTREAM, {**click, "ico_website_id": 21}),
        "oversized url": _avro(EventType.CLICKSTREAM, {**click, "page_url": "x" * 1_000_000}),
        "NUL in agent": _avro(EventType.CLICKSTREAM, {**click, "user_agent": "a\x00b"}),
        "bad email": _avro(EventType.REGISTRATION, {**registration, "email": SQL_TRICKS}),
        "bad uuid": _avro(EventType.REGISTRATION, {**registration, "user_id": SQL_TRICKS}),
    }
    # Valid, with SQL metacharacters where free text is allowed: stored verbatim.
    tricky = {
        **click,
        "event_id": "00000000-0000-4000-8000-000000000001",
        "page_url": SQL_TRICKS,
        "user_agent": SQL_TRICKS,
        "utm_campaign": "a'b\"c;--",
    }
    records: list[RawRecord] = []
    offsets: dict[str, int] = {}
    for i, event in enumerate(events):
        records.append(
            RawRecord(
                event.event_type.topic,
                0,
                len(records),
                event.key.encode(),
                to_wire(event, CODEC),
                NOW_MS,
            )
        )
        if i % 40 == 0 and garbage:
            name, value = garbage.popitem()
            offsets[name] = len(records)
            records.append(RawRecord("clickstream-events", 0, len(records), b"k", value, NOW_MS))
    assert not garbage, "every garbage record was placed"
    records.append(
        RawRecord(
            "clickstream-events",
            0,
            len(records),
            b"k",
            _avro(EventType.CLICKSTREAM, tricky),
            NOW_MS,
        )
    )

    settings = Settings(DATA_QUALITY_ISSUES=False)
    run_main(
        build_flow(
            TestingSource(records, batch_size=50),
            PostgresSink(migrated_database_url),
            settings=settings,
        )
    )

    with psycopg.connect(migrated_database_url) as conn:
        dead = {
            offset: (stage, reason)
            for offset, stage, reason in conn.execute(
                "SELECT source_offset, stage, reason FROM raw_data.dead_letters"
            ).fetchall()
        }
        stored = conn.execute(
            "SELECT (SELECT count(*) FROM raw_data.clickstream_events) + "
            "(SELECT count(*) FROM raw_data.user_registrations) + "
            "(SELECT count(*) FROM raw_data.conversions)"
        ).fetchone()
        verbatim = conn.execute(
            "SELECT page_url, user_agent, utm_campaign FROM raw_data.clickstream_events "
            "WHERE event_id = '00000000-0000-4000-8000-000000000001'"
        ).fetchone()
        tables = conn.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'raw_data' "
            "AND tablename = 'clickstream_events'"
        ).fetchone()
    assert set(dead) == set(offsets.values())
    by_name = {name: dead[offset] for name, offset in offsets.items()}
    for name in (
        "empty",
        "null value",
        "truncated",
        "header only",
        "not framed",
        "unknown schema id",
        "trailing bytes",
    ):
        assert by_name[name][0] == "decode", (name, by_name[name])
    for name, field in [
        ("far future", "timestamp"),
        ("before epoch", "timestamp"),
        ("unknown project", "ico_website_id"),
        ("oversized url", "page_url"),
        ("NUL in agent", "user_agent"),
        ("bad email", "email"),
        ("bad uuid", "user_id"),
    ]:
        stage, reason = by_name[name]
        assert stage == "validate" and field in reason, (name, reason)
    assert all(reason for _, reason in dead.values())
    assert stored == (len(events) + 1,)  # every good record around the garbage, plus the tricky one
    assert verbatim == (SQL_TRICKS, SQL_TRICKS, "a'b\"c;--")
    assert tables == (1,)
