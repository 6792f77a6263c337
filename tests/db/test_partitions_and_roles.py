"""Daily partitions ahead of time, rows in the DEFAULT partition, retention, Grafana's role."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg
import pytest
from typer.testing import CliRunner

from ico_analytics.cli import app

RAW_TABLES = ("clickstream_events", "user_registrations", "conversions")


def _today() -> date:
    return datetime.now(UTC).date()


def _insert_conversion(conn: psycopg.Connection[Any], at: datetime) -> str:
    """Insert a conversion at ``at``; returns the partition it landed in."""
    row = conn.execute(
        """
        INSERT INTO raw_data.conversions (conversion_id, user_id, session_id, "timestamp",
            conversion_type, time_to_convert, ico_website_id)
        VALUES (%s, %s, %s, %s, 'wallet_connect', 12.5, 1)
        RETURNING tableoid::regclass::text
        """,
        (uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), at),
    ).fetchone()
    assert row is not None
    return str(row[0])


def _partitions(conn: psycopg.Connection[Any], table: str) -> set[str]:
    rows = conn.execute(
        "SELECT inhrelid::regclass::text FROM pg_inherits WHERE inhparent = %s::regclass",
        (f"raw_data.{table}",),
    ).fetchall()
    return {r[0] for r in rows}


def _midday(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 12, tzinfo=UTC)


def test_partitions_exist_for_a_week_either_side(migrated_database_url: str) -> None:
    today = _today()
    with psycopg.connect(migrated_database_url) as conn:
        for table in RAW_TABLES:
            expected = {
                f"raw_data.{table}_p{today + timedelta(days=d):%Y%m%d}" for d in range(-7, 8)
            }
            assert expected | {f"raw_data.{table}_default"} == _partitions(conn, table)
        assert _insert_conversion(conn, _midday(today)) == f"raw_data.conversions_p{today:%Y%m%d}"
        far = datetime(2001, 1, 1, tzinfo=UTC)
        assert _insert_conversion(conn, far) == "raw_data.conversions_default"


def test_new_partition_takes_over_rows_from_the_default_partition(
    migrated_database_url: str,
) -> None:
    day = _today() + timedelta(days=30)
    with psycopg.connect(migrated_database_url) as conn:
        assert _insert_conversion(conn, _midday(day)) == "raw_data.conversions_default"
        _insert_conversion(conn, _midday(day + timedelta(days=1)))  # the day after stays put
        conn.commit()

        created = conn.execute(
            "SELECT raw_data.ensure_daily_partitions(%s, %s)", (day, day)
        ).fetchone()
        assert created == (len(RAW_TABLES),)
        assert conn.execute(
            "SELECT raw_data.ensure_daily_partitions(%s, %s)", (day, day)
        ).fetchone() == (0,)
        where = conn.execute(
            "SELECT tableoid::regclass::text, count(*) FROM raw_data.conversions"
            ' WHERE "timestamp" >= %s GROUP BY 1 ORDER BY 1',
            (_midday(day) - timedelta(hours=12),),
        ).fetchall()
    assert where == [
        ("raw_data.conversions_default", 1),
        (f"raw_data.conversions_p{day:%Y%m%d}", 1),
    ]


def test_retention_drops_old_partitions_and_old_default_rows(migrated_database_url: str) -> None:
    today = _today()
    old = today - timedelta(days=40)
    with psycopg.connect(migrated_database_url) as conn:
        conn.execute("SELECT raw_data.ensure_daily_partitions(%s, %s)", (old, old + timedelta(2)))
        _insert_conversion(conn, _midday(old))
        _insert_conversion(conn, _midday(old - timedelta(days=5)))  # in the DEFAULT partition
        _insert_conversion(conn, _midday(today))

        dropped = conn.execute("SELECT raw_data.drop_partitions_older_than(30)").fetchone()
        assert dropped == (3 * len(RAW_TABLES),)
        remaining = _partitions(conn, "conversions")
        assert f"raw_data.conversions_p{old:%Y%m%d}" not in remaining
        assert f"raw_data.conversions_p{today - timedelta(days=7):%Y%m%d}" in remaining
        count = conn.execute("SELECT count(*) FROM raw_data.conversions").fetchone()
    assert count == (1,)


def test_grafana_reader_can_read_but_not_write(migrated_database_url: str) -> None:
    with psycopg.connect(migrated_database_url) as conn:
        # Created after the migration: covered by the default privileges.
        conn.execute("CREATE MATERIALIZED VIEW analytics.later AS SELECT 1 AS x")
        conn.execute("SET ROLE grafana_reader")
        for table in (
            "analytics.window_aggregates",
            "analytics.data_lineage",
            "analytics.sessions",
            "analytics.funnel",
            "analytics.attribution",
            "analytics.experiment_results",
            "analytics.cohort_retention",
            "analytics.lead_summary",
            "analytics.user_conversion",
            "analytics.minute_counts",
            "analytics.five_minute_counts",
            "analytics.page_load_histograms",
            "analytics.sessions_rollup",
            "analytics.sessions_geo_rollup",
            "analytics.registrations_geo_rollup",
            "analytics.leads_rollup",
            "analytics.later",
            "processed_data.ico_websites",
            "raw_data.clickstream_events",
            "raw_data.dead_letters",
        ):
            conn.execute(f"SELECT count(*) FROM {table}")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(
                "INSERT INTO analytics.data_lineage (source_table, target_table, transformation)"
                " VALUES ('a', 'b', 'c')"
            )
        conn.rollback()
        conn.execute("SET ROLE grafana_reader")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DELETE FROM processed_data.ico_websites")
        conn.rollback()
        conn.execute("SET ROLE grafana_reader")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT * FROM analytics.sessions_touched")
        conn.rollback()
        conn.execute("SET ROLE grafana_reader")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT * FROM analytics.minutes_touched")


def test_grafana_reader_never_reads_personal_data(migrated_database_url: str) -> None:
    today = datetime.now(UTC).date()
    with psycopg.connect(migrated_database_url, autocommit=True) as conn:
        # A partition created later, as `maintain` does, is no way around the column grants.
        later = today + timedelta(days=30)
        conn.execute("SELECT raw_data.ensure_daily_partitions(%s, %s)", (later, later))
        conn.execute("SET ROLE grafana_reader")
        conn.execute("SELECT count(*), max(reason), max(received_at) FROM raw_data.dead_letters")
        conn.execute("SELECT count(*), max(email), max(country) FROM raw_data.user_registrations")
        conn.execute("SELECT count(*), max(verification_tier) FROM analytics.leads")
        refused = [
            "SELECT email_sealed FROM analytics.leads",
            "SELECT payload FROM raw_data.dead_letters",
            "SELECT record_key FROM raw_data.dead_letters",
            "SELECT * FROM raw_data.dead_letters",
            "SELECT social_handles FROM raw_data.user_registrations",
            "SELECT * FROM raw_data.user_registrations_default",
            f"SELECT * FROM raw_data.user_registrations_p{today:%Y%m%d}",
            f"SELECT * FROM raw_data.user_registrations_p{later:%Y%m%d}",
            f"SELECT * FROM raw_data.clickstream_events_p{today:%Y%m%d}",
        ]
        for statement in refused:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)


ROLLUP_ROWS = (
    "INSERT INTO analytics.sessions_rollup VALUES (1, '1 hour', %s, 'desktop', 'direct', 1, 1, 1,"
    " 0, 0, 0, 0, 0)",
    "INSERT INTO analytics.sessions_geo_rollup VALUES (1, '1 hour', %s, 'CH', 'Europe', 1, 0)",
    "INSERT INTO analytics.registrations_geo_rollup VALUES (1, '1 hour', %s, 'CH', 'Europe', 1)",
    "INSERT INTO analytics.leads_rollup VALUES (1, '1 hour', %s, 'direct', 1, 1, 1, 1, 0, 0)",
)


def test_maintain_creates_partitions_ahead_and_applies_retention(
    migrated_database_url: str,
) -> None:
    today = _today()
    old = today - timedelta(days=40)
    ahead = f"raw_data.conversions_p{today + timedelta(days=7):%Y%m%d}"
    with psycopg.connect(migrated_database_url) as conn:
        conn.execute("SELECT raw_data.ensure_daily_partitions(%s, %s)", (old, old))
        _insert_conversion(conn, _midday(old))
        conn.execute(f"DROP TABLE {ahead}")  # as if a week had passed since the last run
        for offset, received in enumerate((_midday(old), _midday(today))):
            conn.execute(
                "INSERT INTO raw_data.dead_letters (source_topic, source_partition, source_offset,"
                " stage, reason, received_at) VALUES ('conversions', 0, %s, 'decode', 'x', %s)",
                (offset, received),
            )
            conn.execute(
                "INSERT INTO analytics.sessions (session_id, session_start, session_end,"
                " ico_website_id, duration_seconds, events, page_views, bounce, signed_up,"
                " wallet_connected, purchased, purchases, revenue_usd)"
                " VALUES (gen_random_uuid(), %s, %s, 1, 0, 1, 1, true, false, false, false, 0, 0)",
                (received, received),
            )
            conn.execute(
                "INSERT INTO analytics.leads (registration_id, ico_website_id, session_id,"
                " registered_at, country, kyc_completed, verification_tier, consent_marketing,"
                " email_sealed) VALUES (gen_random_uuid(), 1, gen_random_uuid(), %s, 'CH', true,"
                " 'basic', true, '\\x01')",
                (received,),
            )
            conn.execute(
                "INSERT INTO analytics.minute_counts VALUES"
                " (date_bin('1 minute', %s, '2000-01-01'), 1, 1, 0, 0, 0, 0)",
                (received,),
            )
            conn.execute(
                "INSERT INTO analytics.five_minute_counts VALUES"
                " (date_bin('5 minutes', %s, '2000-01-01'), 1, 1, 0, 0, 0, 0)",
                (received,),
            )
            conn.execute(
                "INSERT INTO analytics.page_load_histograms VALUES"
                " (date_bin('1 hour', %s, '2000-01-01'), '1 hour', 1, 'project', '', 1, 0, 1)",
                (received,),
            )
            # The sessions' hourly rollups (their rows, as the refresher would have made them).
            for rollup in ROLLUP_ROWS:
                conn.execute(rollup, (received,))

    def maintain(*options: str) -> str:
        args = ["maintain", "--database-url", migrated_database_url, *options]
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
        housekeeping, refreshed = result.output.strip().splitlines()[-2:]
        assert re.fullmatch(r"refreshed the daily KPIs in \d+\.\d\ds", refreshed)
        return housekeeping

    assert maintain() == "created 1 partition(s), dropped 0 partition(s), deleted 0 dead letter(s)"
    assert maintain("--retention-days", "30") == (
        f"created 0 partition(s), dropped {len(RAW_TABLES)} partition(s), deleted 1 dead letter(s)"
    )
    assert maintain("--retention-days", "30").startswith("created 0 partition(s), dropped 0")
    with psycopg.connect(migrated_database_url) as conn:
        assert ahead in _partitions(conn, "conversions")
        assert f"raw_data.conversions_p{old:%Y%m%d}" not in _partitions(conn, "conversions")
        left = conn.execute("SELECT source_offset FROM raw_data.dead_letters").fetchall()
        sessions = conn.execute("SELECT session_start FROM analytics.sessions").fetchall()
        # The refresh ran after retention: only today's session is in the daily KPIs.
        kpis = conn.execute(
            "SELECT ico_website_id, day, sessions, bounces, events FROM analytics.daily_project_kpis"
        ).fetchall()
        leads = conn.execute("SELECT registered_at FROM analytics.leads").fetchall()
        rollups = conn.execute(
            "SELECT (SELECT array_agg(minute) FROM analytics.minute_counts),"
            " (SELECT array_agg(period_start) FROM analytics.five_minute_counts),"
            " (SELECT array_agg(period_start) FROM analytics.page_load_histograms)"
        ).fetchone()
        hours = conn.execute(
            "SELECT span_start FROM analytics.sessions_rollup UNION ALL"
            " SELECT span_start FROM analytics.sessions_geo_rollup UNION ALL"
            " SELECT span_start FROM analytics.registrations_geo_rollup UNION ALL"
            " SELECT span_start FROM analytics.leads_rollup"
        ).fetchall()
    assert left == [(1,)]
    assert hours == [(_midday(today),)] * len(ROLLUP_ROWS)
    assert rollups == ([_midday(today)], [_midday(today)], [_midday(today)])
    assert sessions == [(_midday(today),)]
    assert leads == [(_midday(today),)]
    assert kpis == [(1, today, 1, 1, 0)]
    only = CliRunner().invoke(
        app, ["maintain", "--database-url", migrated_database_url, "--kpis-only"]
    )
    assert only.exit_code == 0 and only.output.startswith("refreshed the daily KPIs in ")
