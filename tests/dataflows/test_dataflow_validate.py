"""Decode and validation: every broken record becomes a dead-letter row naming what broke."""

from __future__ import annotations

import json
import struct
from typing import Any

import pytest
from bytewax.testing import TestingSink, TestingSource, run_main

from dataflows.pipeline import build_flow
from dataflows.records import DeadLetter, RawRecord, TableRow
from dataflows.validate import DecodeValidate
from ico_core.codec import Codec, LocalSchemas
from ico_core.errors import CodecError
from ico_core.events import EventType
from ico_core.pii import PayloadSealer
from ico_core.settings import Settings

REF_MS = 1_750_000_000_000  # 2025-06-15T15:06:40Z, the validator's "now"
CODEC = Codec(LocalSchemas())
SETTINGS = Settings(ICO_WEBSITES_COUNT=20)


def click(**changes: Any) -> dict[str, Any]:
    return {
        "event_id": "00000000-0000-4000-8000-000000000001",
        "session_id": "00000000-0000-4000-8000-0000000000aa",
        "user_id": None,
        "timestamp": REF_MS - 60_000,
        "event_type": "page_view",
        "page_type": "homepage",
        "page_url": "https://example.io/",
        "referrer": None,
        "utm_source": None,
        "utm_medium": None,
        "utm_campaign": None,
        "country": "DE",
        "device_type": "desktop",
        "browser": "Firefox",
        "page_load_time": 1.234,
        "scroll_depth": None,
        "ip_address": "203.0.113.7",
        "user_agent": "Mozilla/5.0",
        "ico_website_id": 3,
    } | changes


def registration(**changes: Any) -> dict[str, Any]:
    return {
        "registration_id": "00000000-0000-4000-8000-000000000002",
        "user_id": "00000000-0000-4000-8000-0000000000bb",
        "session_id": "00000000-0000-4000-8000-0000000000aa",
        "timestamp": REF_MS - 60_000,
        "email": "alice@example.com",
        "wallet_address": "0x" + "ab" * 20,
        "social_handles": {"twitter": "@alice"},
        "consent_marketing": True,
        "kyc_completed": False,
        "verification_tier": "basic",
        "country": "JP",
        "ico_website_id": 3,
    } | changes


def conversion(**changes: Any) -> dict[str, Any]:
    return {
        "conversion_id": "00000000-0000-4000-8000-000000000003",
        "user_id": "00000000-0000-4000-8000-0000000000bb",
        "session_id": "00000000-0000-4000-8000-0000000000aa",
        "timestamp": REF_MS - 60_000,
        "conversion_type": "token_purchase",
        "amount_usd": 250.5,
        "token_amount": 1000.0,
        "payment_method": "ETH",
        "time_to_convert": 42.0,
        "ico_website_id": 3,
    } | changes


MAKERS = {
    EventType.CLICKSTREAM: click,
    EventType.REGISTRATION: registration,
    EventType.CONVERSION: conversion,
}


def raw(value: bytes | None, offset: int = 0, topic: str = "clickstream-events") -> RawRecord:
    return RawRecord(topic=topic, partition=1, offset=offset, key=b"k", value=value)


def run(records: list[RawRecord]) -> list[TableRow]:
    out: list[TableRow] = []
    run_main(
        build_flow(
            TestingSource(records), TestingSink(out), settings=SETTINGS, reference_time_ms=REF_MS
        )
    )
    return out


def dead_rows(out: list[TableRow]) -> list[dict[str, Any]]:
    return [row._asdict() for table, row in out if table == "raw_data.dead_letters"]


VALID = CODEC.encode(EventType.CLICKSTREAM, click())


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (VALID[:20], "undecodable clickstream payload"),
        (b"\x01" + VALID[1:], "magic byte 1 is not Confluent framing"),
        (b"\x00" + struct.pack(">I", 99) + VALID[5:], "unknown schema id 99"),
        (VALID + b"\x00\x00", "2 trailing bytes after clickstream record"),
        (json.dumps(click()).encode(), "is not Confluent framing"),
        (b"\x00\x00", "shorter than the Confluent header"),
        (None, "empty record"),
    ],
    ids=["truncated", "wrong-magic", "unknown-schema", "trailing", "json", "short", "null"],
)
def test_undecodable_records_become_dead_letters_with_reason(
    value: bytes | None, reason: str
) -> None:
    out = run([raw(value, offset=7)])
    assert len(out) == 1
    (row,) = dead_rows(out)
    assert reason in row["reason"]
    assert row | {"reason": None, "payload": None} == {
        "source_topic": "clickstream-events",
        "source_partition": 1,
        "source_offset": 7,
        "stage": "decode",
        "reason": None,
        "event_type": None,
        "record_key": b"k",
        "payload": None,
    }
    # Stored sealed: only the PII key opens it, bound to where the record came from.
    sealer = PayloadSealer(SETTINGS.pii_key())
    if value is None:
        assert row["payload"] is None
    else:
        assert row["payload"] != value
        assert sealer.open("clickstream-events:1:7", row["payload"]) == value
        with pytest.raises(CodecError, match="another PII_HMAC_KEY or tampered"):
            sealer.open("clickstream-events:1:8", row["payload"])


BAD_FIELDS: list[tuple[EventType, str, Any, str]] = [
    # every kind: ids, time, project
    (EventType.CLICKSTREAM, "event_id", "00000000-0000-4000-8000-00000000000G", "canonical"),
    (EventType.CLICKSTREAM, "session_id", "00000000-0000-4000-8000-0000000000AA", "canonical"),
    (EventType.CLICKSTREAM, "user_id", "not-a-uuid", "canonical"),
    (
        EventType.REGISTRATION,
        "registration_id",
        "{00000000-0000-4000-8000-00000000002}",
        "canonical",
    ),
    (EventType.CONVERSION, "conversion_id", "00000000000040008000000000000003", "canonical"),
    (EventType.CLICKSTREAM, "timestamp", REF_MS - 7 * 86_400_000 - 1, "outside"),
    (EventType.REGISTRATION, "timestamp", REF_MS + 3_600_001, "outside"),
    (EventType.CONVERSION, "timestamp", 0, "outside"),
    (EventType.CLICKSTREAM, "ico_website_id", 0, "not in 1..20"),
    (EventType.CONVERSION, "ico_website_id", 21, "not in 1..20"),
    # clickstream
    (EventType.CLICKSTREAM, "event_type", "hover", "not one of"),
    (EventType.CLICKSTREAM, "page_type", "admin", "not one of"),
    (EventType.CLICKSTREAM, "device_type", "smart_fridge", "not one of"),
    (EventType.CLICKSTREAM, "country", "??", "ISO 3166"),
    (EventType.CLICKSTREAM, "country", "de", "ISO 3166"),
    (EventType.CLICKSTREAM, "country", "XX", "ISO 3166"),
    (EventType.CLICKSTREAM, "page_load_time", 0.0, "not in (0, 60.0]"),
    (EventType.CLICKSTREAM, "page_load_time", 60.001, "not in (0, 60.0]"),
    (EventType.CLICKSTREAM, "page_load_time", float("nan"), "not in (0, 60.0]"),
    (EventType.CLICKSTREAM, "scroll_depth", 101, "not in 0..100"),
    (EventType.CLICKSTREAM, "scroll_depth", -1, "not in 0..100"),
    (EventType.CLICKSTREAM, "page_url", "", "empty"),
    (EventType.CLICKSTREAM, "page_url", "https://x.io/" + "a" * 2040, "longer than 2048"),
    (EventType.CLICKSTREAM, "user_agent", "U" * 2049, "longer than 2048"),
    (EventType.CLICKSTREAM, "utm_campaign", "c" * 257, "longer than 256"),
    # registration
    (EventType.REGISTRATION, "email", "alice_at_example.com", "has no '@'"),
    (EventType.REGISTRATION, "email", "a" * 312 + "@example.com", "longer than 320"),
    (EventType.REGISTRATION, "wallet_address", "0x" + "Z" * 40, "0x + 40"),
    (EventType.REGISTRATION, "wallet_address", "0x" + "AB" * 20, "0x + 40"),
    (EventType.REGISTRATION, "verification_tier", "platinum", "not one of"),
    (EventType.REGISTRATION, "country", "ZZ", "ISO 3166"),
    (EventType.REGISTRATION, "social_handles", {"twitter": "h" * 300}, "longer than 256"),
    # conversion
    (EventType.CONVERSION, "conversion_type", "refund", "not one of"),
    (EventType.CONVERSION, "payment_method", "DOGE", "not one of"),
    (EventType.CONVERSION, "amount_usd", -100.0, "not in (0, 1000000]"),
    (EventType.CONVERSION, "amount_usd", 1_000_000.01, "not in (0, 1000000]"),
    (EventType.CONVERSION, "token_amount", 0.0, "not in (0,"),
    (EventType.CONVERSION, "token_amount", float("inf"), "not in (0,"),
    (EventType.CONVERSION, "time_to_convert", -1.0, "finite number >= 0"),
]


def test_each_business_rule_sends_its_breaker_to_dead_letters_naming_the_field() -> None:
    records = [
        raw(CODEC.encode(kind, MAKERS[kind](**{field: value})), offset=i, topic=kind.topic)
        for i, (kind, field, value, _) in enumerate(BAD_FIELDS)
    ]
    out = run(records)
    rows = {row["source_offset"]: row for row in dead_rows(out)}
    assert len(out) == len(rows) == len(BAD_FIELDS)  # nothing else came out
    for i, (kind, field, _, rule) in enumerate(BAD_FIELDS):
        row = rows[i]
        assert row["stage"] == "validate"
        assert row["event_type"] == kind.value
        assert row["reason"].startswith(f"{kind.value}.{field}"), row["reason"]
        assert rule in row["reason"], row["reason"]


def test_values_at_the_edges_of_each_rule_are_valid() -> None:
    edge_cases = [
        click(
            timestamp=REF_MS - 7 * 86_400_000,
            page_load_time=60.0,
            scroll_depth=0,
            event_type="scroll",
            user_id="00000000-0000-4000-8000-0000000000bb",
        ),
        click(
            event_id="00000000-0000-4000-8000-000000000011",
            timestamp=REF_MS + 3_600_000,
            page_load_time=None,
            scroll_depth=100,
            ico_website_id=20,
            country="AQ",
        ),
        registration(wallet_address=None, social_handles={}),
        conversion(
            amount_usd=1_000_000.0,
            token_amount=None,
            payment_method=None,
            conversion_type="wallet_connect",
            time_to_convert=0.0,
            ico_website_id=1,
        ),
    ]
    kinds = [
        EventType.CLICKSTREAM,
        EventType.CLICKSTREAM,
        EventType.REGISTRATION,
        EventType.CONVERSION,
    ]
    records = [
        raw(CODEC.encode(k, r), offset=i, topic=k.topic)
        for i, (k, r) in enumerate(zip(kinds, edge_cases, strict=True))
    ]
    out = run(records)
    assert dead_rows(out) == []
    assert sorted(table for table, _ in out if table.startswith("raw_data.")) == [
        "raw_data.clickstream_events",
        "raw_data.clickstream_events",
        "raw_data.conversions",
        "raw_data.user_registrations",
    ]


def test_sources_dead_letters_pass_through_unchanged() -> None:
    dead = DeadLetter("conversions", 2, 9, "decode", "kafka consume error: boom", None, None, None)
    validator = DecodeValidate(CODEC, websites_count=20, clock=lambda: REF_MS)
    assert validator([dead]) == [dead]


class _MissingCountry:
    """A decoder whose records lack a field the rules read (a schema nobody foresaw)."""

    def decode(self, data: bytes | None) -> tuple[EventType, dict[str, Any]]:
        record = click()
        del record["country"]
        return EventType.CLICKSTREAM, record


def test_an_exception_in_a_rule_is_a_dead_letter_not_a_crash() -> None:
    validator = DecodeValidate(_MissingCountry(), websites_count=20, clock=lambda: REF_MS)  # type: ignore[arg-type]
    [dead] = validator([raw(b"\x00\x00\x00\x00\x01")])
    assert isinstance(dead, DeadLetter)
    assert (dead.stage, dead.event_type, dead.reason) == (
        "validate",
        "clickstream",
        "clickstream: KeyError: 'country'",
    )


def test_reasons_never_quote_personal_data() -> None:
    broken = [
        registration(email="alice.example.com"),
        registration(wallet_address="0xNOT-A-WALLET-alice"),
        registration(social_handles={"telegram": "@alice\x00"}),
        click(ip_address="203.0.113.7\x00"),
    ]
    validator = DecodeValidate(CODEC, websites_count=20, clock=lambda: REF_MS)
    kinds = [EventType.REGISTRATION] * 3 + [EventType.CLICKSTREAM]
    letters = validator([raw(CODEC.encode(k, r)) for k, r in zip(kinds, broken, strict=True)])
    reasons = [d.reason for d in letters if isinstance(d, DeadLetter)]
    assert reasons == [
        "registration.email=<redacted>: has no '@'",
        "registration.wallet_address=<redacted>: not 0x + 40 lowercase hex digits",
        "registration.social_handles['telegram']=<redacted>: contains a NUL character",
        "clickstream.ip_address=<redacted>: contains a NUL character",
    ]
