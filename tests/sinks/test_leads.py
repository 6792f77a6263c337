"""Leads through the sink into PostgreSQL: who may read the sealed emails, and replays."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from dataflows.leads import LeadBuilder
from dataflows.records import TableRow
from dataflows.sinks import PostgresSink, RetryPolicy
from ico_core.errors import CodecError
from ico_core.events import EventType
from ico_core.pii import EmailSealer

CRM_KEY = b"a-crm-test-key"
FAST_RETRY = RetryPolicy(max_retries=2, initial_wait=0.05, max_wait=0.1, deadline=5)
NOW = datetime.now(UTC).replace(microsecond=0)
LOGINS = {"crm_login": "crm_reader", "dash_login": "grafana_reader", "flow_login": "ico_writer"}


def _registration(n: int) -> dict[str, Any]:
    """A decoded registration: every third one without consent, every other one with KYC."""
    return {
        "registration_id": str(uuid.uuid4()),
        "user_id": str(uuid.uuid4()),
        "session_id": str(uuid.uuid4()),
        "timestamp": int((NOW - timedelta(minutes=n)).timestamp() * 1000),
        "email": f"Lead.{n}@Example.org",
        "wallet_address": None,
        "social_handles": {},
        "consent_marketing": n % 3 != 0,
        "kyc_completed": n % 2 == 0,
        "verification_tier": ("basic", "advanced", "premium")[n % 3],
        "country": "DE",
        "ico_website_id": 4,
    }


def _lead_rows(registrations: list[dict[str, Any]]) -> list[TableRow]:
    build = LeadBuilder(CRM_KEY)
    rows = [build((EventType.REGISTRATION, r)) for r in registrations]
    assert build((EventType.CONVERSION, {})) is None  # only registrations are leads
    return [row for row in rows if row is not None]


@pytest.fixture
def logins(migrated_database_url: str) -> Iterator[dict[str, str]]:
    """A login in each role, by role: URLs of the test database."""
    with psycopg.connect(migrated_database_url, autocommit=True) as conn:
        for login, role in LOGINS.items():
            conn.execute(f"DROP ROLE IF EXISTS {login}")
            conn.execute(f"CREATE ROLE {login} LOGIN IN ROLE {role}")
    yield {
        role: migrated_database_url.replace("postgresql://postgres@", f"postgresql://{login}@")
        for login, role in LOGINS.items()
    }
    with psycopg.connect(migrated_database_url, autocommit=True) as conn:
        for login in LOGINS:
            conn.execute(f"DROP OWNED BY {login}")
            conn.execute(f"DROP ROLE {login}")


def _stored(url: str) -> list[tuple[Any, ...]]:
    """Every lead as stored, with its row version: equal means not even rewritten."""
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT *, xmin::text FROM analytics.leads ORDER BY 1").fetchall()


def test_only_crm_reader_opens_consenting_emails_and_a_replay_changes_nothing(
    migrated_database_url: str, logins: dict[str, str]
) -> None:
    registrations = [_registration(n) for n in range(12)]
    batch = _lead_rows(registrations)
    # Written as the dataflow's role, which needs nothing more for leads.
    PostgresSink(logins["ico_writer"], retry=FAST_RETRY, sessions_refresh_seconds=None).build(
        "test", 0, 1
    ).write_batch(batch)
    stored = _stored(migrated_database_url)
    assert len(stored) == 12

    with psycopg.connect(logins["crm_reader"]) as conn:
        sealed = dict(
            conn.execute(
                "SELECT registration_id::text, email_sealed FROM analytics.leads"
                " WHERE consent_marketing"
            ).fetchall()
        )
        absent = conn.execute(
            "SELECT count(*) FROM analytics.leads"
            " WHERE NOT consent_marketing AND email_sealed IS NULL"
        ).fetchone()
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT email FROM raw_data.user_registrations")
    sealer = EmailSealer(CRM_KEY)
    consenting = {r["registration_id"]: r["email"] for r in registrations if r["consent_marketing"]}
    assert {rid: sealer.open(rid, s).decode() for rid, s in sealed.items()} == consenting
    assert len(consenting) == 8 and absent == (4,)
    # No consent, no email: the database refuses one even if a writer tried.
    with (
        psycopg.connect(migrated_database_url) as conn,
        pytest.raises(psycopg.errors.CheckViolation),
    ):
        conn.execute("UPDATE analytics.leads SET email_sealed = 'x' WHERE NOT consent_marketing")

    with psycopg.connect(logins["grafana_reader"], autocommit=True) as conn:
        for statement in (
            "SELECT email_sealed FROM analytics.leads",
            "SELECT * FROM analytics.leads",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)
        kyc = conn.execute(
            "SELECT count(*) FILTER (WHERE kyc_completed) FROM analytics.leads"
        ).fetchone()
        summary = conn.execute(
            "SELECT traffic_source, registrations, kyc_completed, consenting, basic, advanced,"
            " premium FROM analytics.lead_summary WHERE ico_website_id = 4 ORDER BY 1"
        ).fetchall()
    assert kyc == (6,)
    # No sessions refreshed here: every sign-up's source is unknown for now.
    days: dict[str, int] = {}
    for r in registrations:
        day = datetime.fromtimestamp(r["timestamp"] / 1000, UTC).date().isoformat()
        days[day] = days.get(day, 0) + 1
    assert sum(row[1] for row in summary) == 2 * 12
    assert {row[0] for row in summary} == {"all", "unknown"}
    assert len(summary) == 2 * len(days)
    all_days = [row for row in summary if row[0] == "all"]
    assert [sum(row[i] for row in all_days) for i in range(2, 7)] == [6, 8, 4, 4, 4]

    # A replay, from another connection: the same sealed bytes, not even a new row version.
    PostgresSink(logins["ico_writer"], retry=FAST_RETRY, sessions_refresh_seconds=None).build(
        "test", 0, 1
    ).write_batch(_lead_rows(registrations))
    assert _stored(migrated_database_url) == stored
    assert {row[0] for row in stored} == {uuid.UUID(r["registration_id"]) for r in registrations}


def test_an_email_seals_to_the_same_bytes_and_another_never_reuses_its_nonce() -> None:
    sealer = EmailSealer(CRM_KEY)
    rid = str(uuid.uuid4())
    first = sealer.seal(rid, b"a@example.org")
    assert sealer.seal(rid, b"a@example.org") == first  # a replay writes the same bytes
    # A second registration reusing the id with another email: another nonce (bytes 1..12).
    other = sealer.seal(rid, b"b@example.org")
    assert other[1:13] != first[1:13]
    assert sealer.open(rid, other) == b"b@example.org"
    with pytest.raises(CodecError, match="another CRM_EMAIL_KEY or tampered"):
        sealer.open(str(uuid.uuid4()), first)  # bound to its registration id
