"""PostgresSink against a real PostgreSQL: upserts, atomic batches, odd values, restarts."""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections import namedtuple
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
import pytest

from dataflows import metrics
from dataflows.enrich import ClickstreamRow, ConversionRow, RegistrationRow
from dataflows.records import DEAD_LETTERS_TABLE, DeadLetter, TableRow
from dataflows.sessions import refresh_all
from dataflows.sinks import PostgresSink, PostgresSinkPartition, RetryPolicy, Timeouts
from dataflows.windows import WindowAggregateRow
from ico_analytics.services.postgres import LocalPostgres
from ico_core.db import migrate
from ico_core.errors import SinkError
from tests.local_postgres import local_postgres

FAST_RETRY = RetryPolicy(max_retries=2, initial_wait=0.05, max_wait=0.1, deadline=5)
NOW = datetime.now(UTC).replace(microsecond=123000)


def _partition(url: str, retry: RetryPolicy = FAST_RETRY) -> PostgresSinkPartition:
    """A partition without the sessions refresher's thread (these tests do not close it)."""
    return PostgresSink(url, retry=retry, sessions_refresh_seconds=None).build("test", 0, 1)


def adhoc(table: str, **values: Any) -> TableRow:
    """A row of an ad-hoc named tuple type: any columns, in any order."""
    return table, namedtuple("Row", values)(**values)  # type: ignore[misc]


def click(**overrides: Any) -> TableRow:
    row = {
        "event_id": str(uuid.uuid4()),
        "session_id": str(uuid.uuid4()),
        "user_id": None,
        "timestamp": NOW,
        "event_type": "page_view",
        "page_type": "homepage",
        "page_url": "https://lumora.finance/",
        "referrer": None,
        "utm_source": None,
        "utm_medium": None,
        "utm_campaign": None,
        "traffic_source": "direct",
        "country": "CH",
        "region": "Europe",
        "device_type": "desktop",
        "browser": "Firefox",
        "page_load_time": 1.25,
        "scroll_depth": 40,
        "ip_address": "3f2a",
        "user_agent": "Mozilla/5.0",
        "ico_website_id": 1,
    }
    return "raw_data.clickstream_events", ClickstreamRow(**row | overrides)


def registration(**overrides: Any) -> TableRow:
    row = {
        "registration_id": str(uuid.uuid4()),
        "user_id": str(uuid.uuid4()),
        "session_id": str(uuid.uuid4()),
        "timestamp": NOW,
        "email": "a1b2",
        "wallet_address": None,
        "social_handles": {"twitter": "@x", "telegram": None},
        "consent_marketing": True,
        "kyc_completed": False,
        "verification_tier": "basic",
        "country": "SG",
        "region": "Asia",
        "ico_website_id": 2,
    }
    return "raw_data.user_registrations", RegistrationRow(**row | overrides)


def conversion(**overrides: Any) -> TableRow:
    row = {
        "conversion_id": str(uuid.uuid4()),
        "user_id": str(uuid.uuid4()),
        "session_id": str(uuid.uuid4()),
        "timestamp": NOW,
        "conversion_type": "token_purchase",
        "amount_usd": Decimal("1234.56"),
        "token_amount": Decimal("2743.466667"),
        "payment_method": "USDT",
        "time_to_convert": 321.5,
        "ico_website_id": 3,
    }
    return "raw_data.conversions", ConversionRow(**row | overrides)


def aggregate(**overrides: Any) -> TableRow:
    start = NOW.replace(minute=0, second=0, microsecond=0)
    row = {
        "ico_website_id": 1,
        "window_length": timedelta(minutes=5),
        "window_start": start,
        "window_end": start + timedelta(minutes=5),
        "events": 10,
        "page_views": 8,
        "unique_sessions": 3,
        "unique_users": 2,
        "registrations": 1,
        "conversions": 1,
        "wallet_connects": 0,
        "purchases": 1,
        "revenue_usd": Decimal("99.99"),
        "avg_page_load_time": 1.5,
        "p95_page_load_time": 2.5,
        "page_views_by_country": {"US": 5, "DE": 3},
    }
    return "analytics.window_aggregates", WindowAggregateRow(**row | overrides)


def _rows(url: str, table: str, order_by: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(f"SELECT * FROM {table} ORDER BY {order_by}").fetchall()


def _count(url: str, table: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
    assert row is not None
    return int(row[0])


def test_same_batch_twice_leaves_the_same_content(migrated_database_url: str) -> None:
    batch = [click() for _ in range(50)] + [registration(), conversion(), aggregate()]
    sink = _partition(migrated_database_url)
    sink.write_batch(batch)
    first = {
        table: _rows(migrated_database_url, table, "1, 2, 3")
        for table in {table for table, _ in batch}
    }
    versions = _versions(migrated_database_url)
    sink.write_batch(batch)
    _partition(migrated_database_url).write_batch(batch)  # and from a fresh connection
    for table, rows in first.items():
        assert _rows(migrated_database_url, table, "1, 2, 3") == rows
    assert len(first["raw_data.clickstream_events"]) == 50
    assert _versions(migrated_database_url) == versions  # rows stored as sent are not rewritten

    _, changed = batch[0]
    sink.write_batch([click(**changed._asdict() | {"page_url": "https://changed/"})])
    assert _count(migrated_database_url, "raw_data.clickstream_events") == 50
    stored = _rows(migrated_database_url, "raw_data.clickstream_events", "1, 2")
    assert [row[6] for row in stored].count("https://changed/") == 1
    sink.close()


def _versions(url: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT event_id, xmin::text FROM raw_data.clickstream_events ORDER BY 1"
        ).fetchall()


def test_last_row_per_primary_key_wins(migrated_database_url: str) -> None:
    _, first = click(page_url="https://a/")
    same_key = {"event_id": first.event_id, "timestamp": first.timestamp}
    batch = [
        ("raw_data.clickstream_events", first),
        click(**same_key, page_url="https://b/"),
        aggregate(events=1),
        aggregate(events=2),
    ]
    _partition(migrated_database_url).write_batch(batch)
    assert _rows(migrated_database_url, "raw_data.clickstream_events", "1")[0][6] == "https://b/"
    assert _rows(migrated_database_url, "analytics.window_aggregates", "1")[0][4] == 2


def test_batch_is_atomic_across_tables(migrated_database_url: str) -> None:
    tables = [
        "raw_data.clickstream_events",
        "raw_data.user_registrations",
        "raw_data.conversions",
        "analytics.window_aggregates",
    ]
    sink = _partition(migrated_database_url)
    # The last table's last row fails (an unknown column) after the others were merged.
    bad = adhoc("raw_data.conversions", **conversion()[1]._asdict(), no_such_column=1)
    with pytest.raises(SinkError, match="no_such_column"):
        sink.write_batch([click(), registration(), conversion(), aggregate(), bad])
    assert [_count(migrated_database_url, t) for t in tables] == [0, 0, 0, 0]

    # The partition recovers: the next good batch commits all four tables together.
    sink.write_batch([click(), registration(), conversion(), aggregate()])
    assert [_count(migrated_database_url, t) for t in tables] == [1, 1, 1, 1]


def test_rows_that_cannot_be_written_raise_sink_error(migrated_database_url: str) -> None:
    sink = _partition(migrated_database_url)
    with pytest.raises(SinkError, match="no_such_column"):
        sink.write_batch(
            [adhoc("raw_data.clickstream_events", **click()[1]._asdict(), no_such_column=1)]
        )
    with pytest.raises(SinkError, match="event_id"):
        sink.write_batch([adhoc("raw_data.clickstream_events", timestamp=NOW)])
    with pytest.raises(SinkError, match=r"raw_data\.nope"):
        sink.write_batch([adhoc("raw_data.nope", x=1)])
    with pytest.raises(SinkError, match="named tuples"):
        sink.write_batch([("raw_data.clickstream_events", click()[1]._asdict())])  # type: ignore[list-item]


def test_text_and_typed_values_are_stored_verbatim(migrated_database_url: str) -> None:
    nasty = [
        "'; DROP TABLE raw_data.conversions; --",
        "quotes \" ' `back` \\ backslash \\N \\. tab\tnew\nline\r",
        "unicode: Zürich \u2013 東京 \u2013 🚀 \u2013 \u200b",
        "x" * 1_000_000,
        "",
    ]
    batch = [click(page_url=text, referrer=text) for text in nasty]
    payload = bytes(range(256))
    dead = DeadLetter("conversions", 0, 7, "decode", nasty[1], None, b"\x00key", payload)
    batch.append(("raw_data.dead_letters", dead))
    batch.append(registration(social_handles={"q": nasty[1], "list": [1, "ü", None]}))
    _partition(migrated_database_url).write_batch(batch)

    with psycopg.connect(migrated_database_url) as conn:
        stored = conn.execute(
            "SELECT page_url, referrer FROM raw_data.clickstream_events"
        ).fetchall()
        letter = conn.execute(
            "SELECT reason, record_key, payload FROM raw_data.dead_letters"
        ).fetchone()
        handles = conn.execute("SELECT social_handles FROM raw_data.user_registrations").fetchone()
        tables = conn.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'raw_data'"
        ).fetchone()
    assert sorted(stored) == sorted((t, t) for t in nasty)
    assert letter == (nasty[1], b"\x00key", payload)
    assert handles == ({"q": nasty[1], "list": [1, "ü", None]},)
    assert tables is not None and tables[0] > 0


def test_rows_with_different_column_subsets_in_one_batch(migrated_database_url: str) -> None:
    _, full = registration()
    values = {k: v for k, v in registration()[1]._asdict().items() if k != "social_handles"}
    partial = adhoc("raw_data.user_registrations", **values)
    _partition(migrated_database_url).write_batch([("raw_data.user_registrations", full), partial])
    with psycopg.connect(migrated_database_url) as conn:
        handles = conn.execute(
            "SELECT social_handles FROM raw_data.user_registrations WHERE registration_id = %s",
            (values["registration_id"],),
        ).fetchone()
    assert handles == ({},)  # the column default
    assert _count(migrated_database_url, "raw_data.user_registrations") == 2


def test_unreachable_database_fails_after_bounded_retries(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sink = _partition("postgresql://postgres@127.0.0.1:9/none")  # discard port: refused
    retries_before = metrics.SINK_RETRIES._value.get()
    began = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="dataflows.sinks"), pytest.raises(SinkError):
        sink.write_batch([click()])
    assert time.monotonic() - began < 5
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 2
    assert metrics.SINK_RETRIES._value.get() - retries_before == 2  # /metrics counts them too


@pytest.fixture
def own_server() -> Iterator[LocalPostgres]:
    """A server of its own, so stopping it cannot disturb other tests' connections."""
    with local_postgres("ico-analytics-pg-restart-") as server:
        yield server


def test_restart_during_writes_is_retried_and_every_row_written_once(
    own_server: LocalPostgres, caplog: pytest.LogCaptureFixture
) -> None:
    migrate(own_server.url)
    sink = _partition(own_server.url, RetryPolicy(initial_wait=0.2, max_wait=1, deadline=60))
    batches = [[click(ico_website_id=i % 20 + 1) for _ in range(2000)] for i in range(40)]

    def restart() -> None:
        time.sleep(0.3)
        own_server.stop()
        time.sleep(1.0)
        own_server.start()

    restarter = threading.Thread(target=restart)
    with caplog.at_level(logging.WARNING, logger="dataflows.sinks"):
        restarter.start()
        for batch in batches:
            sink.write_batch(batch)
        restarter.join()

    assert any(
        "OperationalError" in r.getMessage() or "AdminShutdown" in r.getMessage()
        for r in caplog.records
    ), "the restart was not noticed; make the writes longer"
    with psycopg.connect(own_server.url) as conn:
        stored = conn.execute(
            "SELECT count(*), count(DISTINCT event_id) FROM raw_data.clickstream_events"
        ).fetchone()
    assert stored == (80_000, 80_000)


def test_a_write_blocked_on_a_lock_is_retried_then_lands(
    migrated_database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    sink = PostgresSink(
        migrated_database_url,
        retry=RetryPolicy(initial_wait=0.1, max_wait=0.5, deadline=30),
        timeouts=Timeouts(statement=5, lock=0.3),
        sessions_refresh_seconds=None,
    ).build("test", 0, 1)
    released = threading.Event()

    def hold_lock() -> None:
        with psycopg.connect(migrated_database_url) as conn:
            conn.execute("LOCK TABLE raw_data.clickstream_events IN ACCESS EXCLUSIVE MODE")
            released.wait(2.0)

    holder = threading.Thread(target=hold_lock)
    holder.start()
    time.sleep(0.5)  # the lock is held
    with caplog.at_level(logging.WARNING, logger="dataflows.sinks"):
        sink.write_batch([click(), click()])
    holder.join()
    assert any("LockNotAvailable" in r.getMessage() for r in caplog.records)
    assert _count(migrated_database_url, "raw_data.clickstream_events") == 2


def test_a_lock_that_is_never_released_fails_the_batch_instead_of_hanging(
    migrated_database_url: str,
) -> None:
    sink = PostgresSink(
        migrated_database_url,
        retry=RetryPolicy(initial_wait=0.1, max_wait=0.2, deadline=2),
        timeouts=Timeouts(statement=5, lock=0.2),
        sessions_refresh_seconds=None,
    ).build("test", 0, 1)
    with psycopg.connect(migrated_database_url) as holder:
        holder.execute("LOCK TABLE raw_data.clickstream_events IN ACCESS EXCLUSIVE MODE")
        began = time.monotonic()
        with pytest.raises(SinkError, match="lock timeout"):
            sink.write_batch([click()])
        assert time.monotonic() - began < 10


def test_a_row_postgres_refuses_is_kept_as_a_dead_letter_and_the_rest_lands(
    migrated_database_url: str,
) -> None:
    good = [click() for _ in range(9)]
    # NOT NULL: refused the same way on every replay.
    bad = click(event_type=None)
    batch = [*good[:4], bad, *good[4:]]
    sink = _partition(migrated_database_url)
    sink.write_batch(batch)
    sink.write_batch(batch)  # a replay: the same rows, the same dead letter
    assert _count(migrated_database_url, "raw_data.clickstream_events") == 9
    with psycopg.connect(migrated_database_url) as conn:
        letters = conn.execute(
            "SELECT source_topic, source_partition, stage, event_type, reason, payload"
            " FROM raw_data.dead_letters"
        ).fetchall()
    assert len(letters) == 1
    topic, partition, stage, event_type, reason, payload = letters[0]
    assert (topic, partition, stage, event_type) == (
        "postgres:raw_data.clickstream_events",
        -1,
        "store",
        "raw_data.clickstream_events",
    )
    assert reason.startswith(
        'refused by PostgreSQL (23502): null value in column "event_type" of relation '
    )
    assert json.loads(payload)["event_id"] == bad[1].event_id  # type: ignore[attr-defined]


def test_the_dataflow_role_writes_its_tables_and_nothing_else(migrated_database_url: str) -> None:
    with psycopg.connect(migrated_database_url, autocommit=True) as conn:
        conn.execute("DROP ROLE IF EXISTS flow_login")
        conn.execute("CREATE ROLE flow_login LOGIN IN ROLE ico_writer")
    url = migrated_database_url.replace("postgresql://postgres@", "postgresql://flow_login@")
    try:
        dead = DeadLetter("conversions", 0, 3, "decode", "empty record", None, None, None)
        batch = [click(), registration(), conversion(), aggregate(), (DEAD_LETTERS_TABLE, dead)]
        _partition(url).write_batch(batch)
        _partition(url).write_batch(batch)  # merging again reads the stored rows
        assert _count(migrated_database_url, "raw_data.dead_letters") == 1
        with psycopg.connect(url, autocommit=True) as conn:
            assert refresh_all(conn) == 4  # the three raw rows' sessions and the minute they share
        assert _count(migrated_database_url, "analytics.sessions") == 3
        with psycopg.connect(url, autocommit=True) as conn:
            for statement in (
                "CREATE TABLE raw_data.mine (x int)",
                "DROP TABLE raw_data.dead_letters",
                "DELETE FROM raw_data.dead_letters",
                "TRUNCATE analytics.window_aggregates",
                "SELECT * FROM processed_data.ico_websites",
                "UPDATE processed_data.ico_websites SET name = 'x'",
            ):
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    conn.execute(statement)
    finally:
        with psycopg.connect(migrated_database_url, autocommit=True) as conn:
            conn.execute("DROP OWNED BY flow_login")
            conn.execute("DROP ROLE flow_login")
