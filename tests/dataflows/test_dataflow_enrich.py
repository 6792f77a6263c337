"""Enrichment and raw rows: columns as in the migration, region, traffic source, pseudonyms."""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from bytewax.testing import TestingSink, TestingSource, run_main

from dataflows.enrich import Pseudonymiser, RowBuilder, region_of, traffic_source, usd_cents
from dataflows.pipeline import build_flow, dead_letter_row
from dataflows.records import DeadLetter, RawRecord, TableRow
from dataflows.windows import Window, window_row, window_table_row
from ico_core.codec import Codec, LocalSchemas
from ico_core.events import EventType
from ico_core.resources import sql_file
from ico_core.settings import Settings

REF_MS = 1_750_000_000_000
IP = "203.0.113.77"
EMAIL = "Alice.Smith@Example.com"
WALLET = "0x" + "5a" * 20
CLICK: dict[str, Any] = {
    "event_id": "00000000-0000-4000-8000-000000000001",
    "session_id": "00000000-0000-4000-8000-0000000000aa",
    "user_id": None,
    "timestamp": REF_MS - 1,
    "event_type": "page_view",
    "page_type": "tokenomics",
    "page_url": "https://novachain.io/tokenomics",
    "referrer": "https://www.google.com/search?q=nova",
    "utm_source": None,
    "utm_medium": None,
    "utm_campaign": None,
    "country": "BR",
    "device_type": "mobile",
    "browser": "Safari",
    "page_load_time": 0.8,
    "scroll_depth": None,
    "ip_address": IP,
    "user_agent": "Mozilla/5.0",
    "ico_website_id": 7,
}
REGISTRATION: dict[str, Any] = {
    "registration_id": "00000000-0000-4000-8000-000000000002",
    "user_id": "00000000-0000-4000-8000-0000000000bb",
    "session_id": "00000000-0000-4000-8000-0000000000aa",
    "timestamp": REF_MS,
    "email": EMAIL,
    "wallet_address": WALLET,
    "social_handles": {"telegram": "@alice"},
    "consent_marketing": False,
    "kyc_completed": True,
    "verification_tier": "premium",
    "country": "AE",
    "ico_website_id": 7,
}
CONVERSION: dict[str, Any] = {
    "conversion_id": "00000000-0000-4000-8000-000000000003",
    "user_id": "00000000-0000-4000-8000-0000000000bb",
    "session_id": "00000000-0000-4000-8000-0000000000aa",
    "timestamp": REF_MS,
    "conversion_type": "presale_participate",
    "amount_usd": 100.0,
    "token_amount": 1234.5678901,
    "payment_method": "USDC",
    "time_to_convert": 12.5,
    "ico_website_id": 7,
}


ADD_COLUMN = re.compile(r"ALTER TABLE (\S+) ADD COLUMN (\w+)([^;]*);")
CREATE_TABLE = re.compile(r"CREATE TABLE ((?:raw_data|analytics)\.\w+) \((.*?)\n\)", re.S)


def migration_columns() -> dict[str, set[str]]:
    """The columns the dataflow writes: as the tables were created, plus the columns later
    migrations added without a default (one with a default is the database's to fill)."""
    tables = {}
    for name in ("0001_schemas_and_raw_tables.sql", "0002_window_aggregates.sql"):
        text = sql_file(f"migrations/{name}").read_text()
        for name, body in CREATE_TABLE.findall(text):
            tables[name] = {
                line.split()[0].strip('"')
                for line in body.splitlines()
                if line.strip() and not line.strip().startswith(("PRIMARY", "UNIQUE", "--"))
            }
    for migration in sorted(sql_file("migrations").iterdir(), key=lambda p: p.name):
        if migration.name.endswith(".sql"):
            for table, column, rest in ADD_COLUMN.findall(migration.read_text()):
                if table in tables and "DEFAULT" not in rest.upper():
                    tables[table].add(column)
    return tables


def run_pipeline() -> list[TableRow]:
    codec = Codec(LocalSchemas())
    records = [
        RawRecord(t.topic, 0, i, b"k", codec.encode(t, r))
        for i, (t, r) in enumerate(
            [
                (EventType.CLICKSTREAM, CLICK),
                (EventType.REGISTRATION, REGISTRATION),
                (EventType.CONVERSION, CONVERSION),
            ]
        )
    ]
    out: list[TableRow] = []
    settings = Settings(PII_HMAC_KEY="test-key")
    run_main(
        build_flow(
            TestingSource(records), TestingSink(out), settings=settings, reference_time_ms=REF_MS
        )
    )
    return out


def test_raw_rows_carry_exactly_the_migration_columns_with_enrichment() -> None:
    rows = {table: row._asdict() for table, row in run_pipeline() if table.startswith("raw_data.")}
    columns = migration_columns()
    assert set(rows) == {
        "raw_data.clickstream_events",
        "raw_data.user_registrations",
        "raw_data.conversions",
    }
    for table, row in rows.items():
        assert set(row) == columns[table], table
    click = rows["raw_data.clickstream_events"]
    assert click["timestamp"] == datetime(2025, 6, 15, 15, 6, 39, 999000, tzinfo=UTC)
    assert (click["region"], click["traffic_source"]) == ("Latin America", "organic")
    reg = rows["raw_data.user_registrations"]
    assert reg["region"] == "Middle East"
    conv = rows["raw_data.conversions"]
    assert conv["amount_usd"] == Decimal("100.00") and str(conv["amount_usd"]) == "100.00"
    assert conv["token_amount"] == Decimal("1234.567890")


def test_pii_is_pseudonymised_with_the_keyed_hmac_and_never_stored_raw() -> None:
    out = run_pipeline()
    dump = repr(out).lower()
    for secret in (IP, EMAIL.lower(), WALLET, "@alice"):
        assert secret.lower() not in dump
    rows = {table: row._asdict() for table, row in out}
    mac = lambda v: hmac.new(b"test-key", v.encode(), hashlib.sha256).hexdigest()[:32]  # noqa: E731
    assert rows["raw_data.clickstream_events"]["ip_address"] == mac(IP)
    assert rows["raw_data.user_registrations"]["email"] == mac(EMAIL.lower())
    assert rows["raw_data.user_registrations"]["wallet_address"] == mac(WALLET)
    # Social handles keep their network, the handle becomes a pseudonym.
    assert rows["raw_data.user_registrations"]["social_handles"] == {"telegram": mac("@alice")}


def test_pseudonyms_are_deterministic_and_depend_on_the_key() -> None:
    a, b = Pseudonymiser(b"k1"), Pseudonymiser(b"k2")
    assert a("x@y.z") == a("x@y.z") == Pseudonymiser(b"k1")("x@y.z")
    assert a("x@y.z") != b("x@y.z")
    assert len(a("x@y.z")) == 32
    coordinates = {"source_partition": 0, "source_offset": 0}  # as validation adds them
    event = (EventType.REGISTRATION, REGISTRATION | coordinates | {"email": " ALICE@x.io"})
    row = RowBuilder(b"k1")(event)
    assert row[1]._asdict()["email"] == a("alice@x.io")


@pytest.mark.parametrize(
    ("country", "region"),
    [
        ("US", "North America"),
        ("MX", "Latin America"),
        ("DE", "Europe"),
        ("UA", "Europe"),
        ("SG", "Asia-Pacific"),
        ("AU", "Asia-Pacific"),
        ("TR", "Middle East"),
        ("NG", "Africa"),
        ("AQ", "Other"),
    ],
)
def test_region(country: str, region: str) -> None:
    assert region_of(country) == region


@pytest.mark.parametrize(
    ("referrer", "utm_source", "utm_medium", "expected"),
    [
        (None, None, None, "direct"),
        (None, "google", "cpc", "paid"),
        ("https://twitter.com/x", "twitter", "display", "paid"),
        (None, "newsletter", "email", "email"),
        (None, "telegram", None, "social"),
        ("https://t.me/novachain", None, None, "social"),
        ("https://x.com/nova/status/1", None, None, "social"),
        ("https://old.reddit.com/r/crypto", None, None, "social"),
        ("https://discord.gg/abc", None, None, "social"),
        ("https://www.google.co.uk/search?q=ico", None, None, "organic"),
        ("https://duckduckgo.com/?q=ico", None, None, "organic"),
        ("https://coinmarketcap.com/ico", None, None, "referral"),
        ("https://novachain.io/team", None, None, "direct"),  # internal navigation
        (None, "partner", "affiliate", "paid"),
        (None, "somewhere", None, "referral"),
    ],
)
def test_traffic_source(
    referrer: str | None, utm_source: str | None, utm_medium: str | None, expected: str
) -> None:
    assert traffic_source(referrer, utm_source, utm_medium, "https://novachain.io/") == expected


def test_cents_round_like_numeric_2() -> None:
    assert usd_cents(1234.565) == 123457  # the float is 1234.5649999..., numeric sees 1234.565
    assert usd_cents(0.1 + 0.2) == 30
    assert usd_cents(9999.99) == 999999


def test_dead_letter_and_window_rows_carry_exactly_the_migration_columns() -> None:
    columns = migration_columns()
    dead = DeadLetter("conversions", 0, 1, "decode", "empty record", None, None, None)
    table, row = dead_letter_row(dead)
    assert set(row._fields) == columns[table]
    table, row = window_table_row(window_row(1, (300_000, 0), Window()))
    assert set(row._fields) == columns[table] == columns["analytics.window_aggregates"]
