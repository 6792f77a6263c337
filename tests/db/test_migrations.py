"""Migrations replay on an empty database, are recorded, and load the reference data."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

from ico_core.db import migrate
from ico_core.resources import sql_file


def _snapshot(url: str) -> dict[str, Any]:
    """Objects of the project's schemas, function sources, and per table its row count and
    row versions (xmin), so a no-op UPDATE shows up as a change too."""
    with psycopg.connect(url) as conn:
        objects = conn.execute(
            """
            SELECT n.nspname, c.relname, c.relkind
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname IN ('public', 'raw_data', 'processed_data', 'analytics')
            ORDER BY 1, 2
            """
        ).fetchall()
        functions = conn.execute(
            """
            SELECT p.proname, md5(p.prosrc) FROM pg_proc p
            JOIN pg_namespace n ON n.oid = p.pronamespace
            WHERE n.nspname = 'raw_data' ORDER BY 1
            """
        ).fetchall()
        tables: dict[str, Any] = {}
        for schema, name, kind in objects:
            if kind in ("r", "p"):
                ident = sql.Identifier(schema, name)
                tables[f"{schema}.{name}"] = conn.execute(
                    sql.SQL("SELECT count(*), sum(xmin::text::bigint) FROM {}").format(ident)
                ).fetchone()
            elif kind == "S":
                ident = sql.Identifier(schema, name)
                tables[f"{schema}.{name}"] = conn.execute(
                    sql.SQL("SELECT last_value, is_called FROM {}").format(ident)
                ).fetchone()
    return {"objects": objects, "functions": functions, "tables": tables}


def test_migrations_replay_on_empty_database_then_apply_nothing(database_url: str) -> None:
    files = sorted(
        p.name.removesuffix(".sql")
        for p in sql_file("migrations").iterdir()
        if p.name[:4].isdigit() and p.name.endswith(".sql")
    )
    assert migrate(database_url) == files

    before = _snapshot(database_url)
    assert migrate(database_url) == []
    assert _snapshot(database_url) == before

    with psycopg.connect(database_url) as conn:
        recorded = conn.execute("SELECT migration_id FROM _yoyo_migration ORDER BY 1").fetchall()
    assert [r[0] for r in recorded] == files


def test_reference_data_loaded(migrated_database_url: str) -> None:
    with psycopg.connect(migrated_database_url) as conn:
        websites = conn.execute(
            "SELECT id, name, token_symbol, target_raise_usd::text, launch_date::text, country"
            " FROM processed_data.ico_websites ORDER BY id"
        ).fetchall()
        lineage = conn.execute(
            "SELECT source_table, target_table FROM analytics.data_lineage"
        ).fetchall()
    assert [w[0] for w in websites] == list(range(1, 21))
    assert websites[0] == (1, "Lumora Finance", "LUMA", "85000000.00", "2026-03-15", "CH")
    assert ("topic:clickstream-events", "raw_data.clickstream_events") in lineage
    assert ("raw_data.conversions", "analytics.window_aggregates") in lineage
    assert ("raw_data.clickstream_events", "analytics.sessions") in lineage
    assert {target for _, target in lineage} >= {
        "processed_data.ico_websites",
        "raw_data.user_registrations",
        "raw_data.dead_letters",
    }


def test_changed_reference_row_is_restored(migrated_database_url: str) -> None:
    with psycopg.connect(migrated_database_url) as conn:
        conn.execute("UPDATE processed_data.ico_websites SET name = 'x' WHERE id = 3")
        conn.execute("DELETE FROM analytics.data_lineage WHERE source_table = 'topic:conversions'")
    migrate(migrated_database_url)
    with psycopg.connect(migrated_database_url) as conn:
        name = conn.execute("SELECT name FROM processed_data.ico_websites WHERE id = 3").fetchone()
        lineage = conn.execute(
            "SELECT count(*) FROM analytics.data_lineage WHERE source_table = 'topic:conversions'"
        ).fetchone()
    assert name == ("Cerebra Network",)
    assert lineage == (2,)
