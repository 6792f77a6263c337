"""Schema migrations, reference data and named SQL queries.

Migrations are the plain ``sql/migrations/NNNN_name.sql`` files, applied forward-only by
yoyo-migrations (each file in one transaction, recorded in ``public._yoyo_migration`` by file
name). Queries live in ``sql/queries/<name>.sql`` and are loaded with :func:`query`. Both travel
in the wheel as package data (``ico_core.resources``).
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict
from functools import cache
from importlib.resources import as_file

import psycopg
from yoyo import get_backend, read_migrations

from ico_core.errors import ConfigError
from ico_core.projects import load_projects
from ico_core.resources import sql_file

logger = logging.getLogger(__name__)

# Key of the session advisory lock that serialises concurrent migrate() calls on one database.
_MIGRATION_LOCK_KEY = 0x1C0A_0001


@cache
def query(name: str) -> str:
    """The text of ``sql/queries/<name>.sql``."""
    return sql_file(f"queries/{name}.sql").read_text(encoding="utf-8")


def libpq_url(url: str) -> str:
    """``url`` as libpq takes it: a SQLAlchemy-style ``postgresql+psycopg://`` works too."""
    return "postgresql://" + _strip_scheme(url)


def migrate(url: str) -> list[str]:
    """Apply pending migrations, then (every time) partitions ahead and reference data.

    Returns the ids (file names without ``.sql``) of the migrations applied by this call.
    """
    applied = _apply_migrations(url)
    with psycopg.connect(libpq_url(url)) as conn:  # one transaction, committed on exit
        conn.execute(query("ensure_partitions_around_today"))
        with conn.cursor() as cur:
            cur.executemany(query("upsert_ico_website"), [asdict(p) for p in load_projects()])
        conn.execute(query("sync_data_lineage"))
    if applied:
        logger.info("applied migrations: %s", ", ".join(applied))
    return applied


def maintain(url: str, retention_days: int | None) -> tuple[int, int, int]:
    """Daily housekeeping: raw partitions a week either side of today; with
    ``retention_days``, raw data older than that many days dropped.

    Returns (partitions created, partitions dropped, dead letters deleted).
    """
    with psycopg.connect(libpq_url(url)) as conn:
        created = conn.execute(query("ensure_partitions_around_today")).fetchone()
        dropped = (0, 0)
        if retention_days is not None:
            row = conn.execute(query("drop_raw_data_older_than"), {"days": retention_days})
            dropped = row.fetchone() or dropped
    return (created[0] if created else 0), dropped[0], dropped[1]


def refresh_kpis(url: str) -> float:
    """Refresh the dashboards' materialized views concurrently; returns the seconds it took.

    Runs as the views' owner (the role migrations and ``maintain`` use).
    """
    began = time.perf_counter()
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        conn.execute(query("refresh_materialized_views"))
    return time.perf_counter() - began


def _apply_migrations(url: str) -> list[str]:
    backend = get_backend("postgresql+psycopg://" + _strip_scheme(url))
    try:
        # A session advisory lock rather than yoyo's lock table: it is released when the
        # connection dies, so a migration Job killed midway leaves no stale lock behind.
        backend.execute("SELECT pg_advisory_lock(:key)", {"key": _MIGRATION_LOCK_KEY})
        with as_file(sql_file("migrations")) as migrations:
            pending = backend.to_apply(read_migrations(str(migrations)))
        # yoyo commits each migration, then records it in a second transaction: a crash in
        # between would leave a migration applied but unrecorded (rerun fails loudly on
        # "already exists"; nothing is silently applied twice).
        backend.apply_migrations(pending)
        return [str(m.id) for m in pending]
    finally:
        backend.connection.close()


def _strip_scheme(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.split("+")[0] not in {"postgres", "postgresql"}:
        raise ConfigError("database URL must start with postgresql:// (password not shown)")
    return rest
