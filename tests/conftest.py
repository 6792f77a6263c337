"""Shared fixtures. PostgreSQL: one server per test session, one fresh database per test."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql

from ico_analytics.services.postgres import LocalPostgres
from ico_core.db import migrate
from tests.local_postgres import local_postgres

_database_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[LocalPostgres]:
    with local_postgres("ico-analytics-pg-") as server:
        yield server


@pytest.fixture
def database_url(postgres_server: LocalPostgres) -> Iterator[str]:
    """URL of a new, empty database, dropped after the test."""
    name = f"test_{next(_database_numbers)}"
    with psycopg.connect(postgres_server.url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name)))
    yield postgres_server.url_for(name)
    with psycopg.connect(postgres_server.url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def migrated_database_url(database_url: str) -> str:
    """Like ``database_url``, with every migration and the reference data applied."""
    migrate(database_url)
    return database_url
