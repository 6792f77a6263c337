"""Statistical and contract checks of the generator over 50k seeded events."""

from __future__ import annotations

import itertools
import re
import statistics
from collections import Counter, defaultdict
from typing import Any

import fastavro.validation
import pytest

from generator.faults import FAULT_KINDS, MALFORMED_RULES, MISSING_FIELDS
from generator.model import EventGenerator, GeneratedEvent
from generator.vocab import COUNTRIES
from ico_core.codec import PARSED_SCHEMAS, Codec, LocalSchemas
from ico_core.errors import CodecError
from ico_core.events import EventType
from ico_core.projects import load_projects
from ico_core.rules import (
    CLICKSTREAM_EVENT_TYPES,
    CONVERSION_TYPES,
    DEVICE_TYPES,
    MAX_AMOUNT_USD,
    MAX_EVENT_AGE_MS,
    MAX_EVENT_LEAD_MS,
    MAX_PAGE_LOAD_TIME_S,
    PAGE_TYPES,
    PAYMENT_METHODS,
    PURCHASE_TYPES,
    UUID_PATTERN,
    VERIFICATION_TIERS,
    WALLET_ADDRESS_PATTERN,
)
from tests.groundtruth import seed_rule_variant

START_MS = 1_764_000_000_000  # Mon 2025-11-24 16:00 UTC
N_EVENTS = 50_000
UUID_RE = re.compile(UUID_PATTERN)
WALLET_RE = re.compile(WALLET_ADDRESS_PATTERN)
CLICK, REG, CONV = EventType.CLICKSTREAM, EventType.REGISTRATION, EventType.CONVERSION
VALID_FAULTS = {None, "duplicate", "late", "out_of_order"}


def violations(et: EventType, r: dict[str, Any], clock_ms: int, websites: int = 20) -> list[str]:
    """The business rules of generator.vocab, written out independently of the generator."""
    bad: list[str] = []

    def uuid_ok(name: str, nullable: bool = False) -> None:
        value = r[name]
        if value is None and nullable:
            return
        if not (isinstance(value, str) and UUID_RE.match(value)):
            bad.append(name)

    if not 1 <= r["ico_website_id"] <= websites:
        bad.append("ico_website_id")
    if not clock_ms - MAX_EVENT_AGE_MS <= r["timestamp"] <= clock_ms + MAX_EVENT_LEAD_MS:
        bad.append("timestamp")
    uuid_ok(et.id_field)
    uuid_ok("session_id")
    uuid_ok("user_id", nullable=et is CLICK)
    if et is CLICK:
        if r["event_type"] not in CLICKSTREAM_EVENT_TYPES:
            bad.append("event_type")
        if r["page_type"] not in PAGE_TYPES:
            bad.append("page_type")
        if r["device_type"] not in DEVICE_TYPES:
            bad.append("device_type")
        if r["country"] not in COUNTRIES:
            bad.append("country")
        plt = r["page_load_time"]
        if plt is not None and not 0 < plt <= MAX_PAGE_LOAD_TIME_S:
            bad.append("page_load_time")
        if r["scroll_depth"] is not None and not 0 <= r["scroll_depth"] <= 100:
            bad.append("scroll_depth")
    elif et is REG:
        if r["country"] not in COUNTRIES:
            bad.append("country")
        if r["verification_tier"] not in VERIFICATION_TIERS:
            bad.append("verification_tier")
        if "@" not in r["email"]:
            bad.append("email")
        if r["wallet_address"] is not None and not WALLET_RE.match(r["wallet_address"]):
            bad.append("wallet_address")
    else:
        if r["conversion_type"] not in CONVERSION_TYPES:
            bad.append("conversion_type")
        if r["payment_method"] is not None and r["payment_method"] not in PAYMENT_METHODS:
            bad.append("payment_method")
        if r["amount_usd"] is not None and not 0 < r["amount_usd"] <= MAX_AMOUNT_USD:
            bad.append("amount_usd")
        if r["token_amount"] is not None and not r["token_amount"] > 0:
            bad.append("token_amount")
        if r["time_to_convert"] < 0:
            bad.append("time_to_convert")
    return bad


@pytest.fixture(scope="module")
def events() -> list[GeneratedEvent]:
    return list(itertools.islice(EventGenerator(seed=7, start_time_ms=START_MS), N_EVENTS))


@pytest.fixture(scope="module")
def clean(events: list[GeneratedEvent]) -> list[GeneratedEvent]:
    """Valid events, each once (duplicate copies dropped)."""
    return [e for e in events if e.fault in {None, "late", "out_of_order"}]


@pytest.fixture(scope="module")
def fault_free() -> list[GeneratedEvent]:
    """A stream without faults: every session's events are all there (but for the last ones).

    At 100 events/min the 50k events span ~8 h, so most sessions (at most 2 h) are complete.
    """
    gen = EventGenerator(
        seed=8, start_time_ms=START_MS, data_quality_issues=False, events_per_minute=100
    )
    return list(itertools.islice(gen, N_EVENTS))


@pytest.fixture(scope="module")
def sessions(fault_free: list[GeneratedEvent]) -> dict[str, list[GeneratedEvent]]:
    by_session: dict[str, list[GeneratedEvent]] = defaultdict(list)
    for e in fault_free:
        by_session[e.key].append(e)
    for evs in by_session.values():
        evs.sort(key=lambda e: e.record["timestamp"])
    return by_session


def share(counter: Counter[str], key: str) -> float:
    return 100 * counter[key] / sum(counter.values())


def test_event_mix_is_85_10_5(events: list[GeneratedEvent]) -> None:
    mix = Counter(e.event_type.value for e in events)
    assert share(mix, "clickstream") == pytest.approx(85, abs=2)
    assert share(mix, "registration") == pytest.approx(10, abs=2)
    assert share(mix, "conversion") == pytest.approx(5, abs=2)


def test_device_mix_is_60_30_10(clean: list[GeneratedEvent]) -> None:
    devices = Counter(e.record["device_type"] for e in clean if e.event_type is CLICK)
    assert share(devices, "desktop") == pytest.approx(60, abs=3)
    assert share(devices, "mobile") == pytest.approx(30, abs=3)
    assert share(devices, "tablet") == pytest.approx(10, abs=3)


def test_crypto_friendly_countries_lead(clean: list[GeneratedEvent]) -> None:
    countries = Counter(e.record["country"] for e in clean if e.event_type is CLICK)
    ranked = [c for c, _ in countries.most_common()]
    assert ranked[0] == "US"
    assert set(ranked[:5]) == {"US", "DE", "JP", "KR", "SG"}
    assert len(countries) >= 20
    assert all(re.fullmatch("[A-Z]{2}", c) for c in countries)


def test_purchases_amounts_and_token_amounts(clean: list[GeneratedEvent]) -> None:
    prices = {p.id: p.token_price_usd for p in load_projects()}
    purchases = [
        e.record
        for e in clean
        if e.event_type is CONV and e.record["conversion_type"] != "wallet_connect"
    ]
    assert len(purchases) > 500
    assert {r["conversion_type"] for r in purchases} == set(PURCHASE_TYPES)
    assert {r["payment_method"] for r in purchases} == set(PAYMENT_METHODS)
    amounts = [r["amount_usd"] for r in purchases]
    assert min(amounts) >= 100 and max(amounts) <= 10_000
    assert min(amounts) < 150 and max(amounts) > 8_000  # spans the range, not clipped to a corner
    for r in purchases:
        assert round(r["amount_usd"], 2) == r["amount_usd"]
        expected = round(r["amount_usd"] / prices[r["ico_website_id"]], 6)
        assert r["token_amount"] == expected
    wallets = [
        e.record
        for e in clean
        if e.event_type is CONV and e.record["conversion_type"] == "wallet_connect"
    ]
    assert all(r["amount_usd"] is None and r["token_amount"] is None for r in wallets)
    assert all(r["payment_method"] is None for r in wallets)


def test_funnel_order_and_user_ids(sessions: dict[str, list[GeneratedEvent]]) -> None:
    signed_up = {
        e.record["user_id"]: e.record["timestamp"]
        for evs in sessions.values()
        for e in evs
        if e.event_type is REG
    }
    checked = returning = 0
    for evs in sessions.values():
        regs = [e for e in evs if e.event_type is REG]
        convs = [e for e in evs if e.event_type is CONV]
        assert len(regs) <= 1
        wallet_ts = [
            c.record["timestamp"] for c in convs if c.record["conversion_type"] == "wallet_connect"
        ]
        for c in convs:
            if c.record["conversion_type"] != "wallet_connect":
                assert wallet_ts and c.record["timestamp"] > wallet_ts[0]
                checked += 1
        if not regs:
            (user,) = {e.record["user_id"] for e in evs}
            if user is None:  # a new visitor who did not sign up
                assert not convs
            else:  # a signed-up visitor back, logged in from the first event
                assert signed_up[user] < min(e.record["timestamp"] for e in evs)
                returning += 1
            continue
        reg = regs[0].record
        for e in evs:
            if e.event_type is CLICK:
                # The user id appears exactly from the registration on.
                before = e.record["timestamp"] < reg["timestamp"]
                assert e.record["user_id"] == (None if before else reg["user_id"])
        for c in convs:
            assert c.record["user_id"] == reg["user_id"]
            assert c.record["timestamp"] > reg["timestamp"]
    assert checked > 300
    assert returning > 100


def test_time_to_convert_counts_from_session_start(
    sessions: dict[str, list[GeneratedEvent]],
) -> None:
    checked = 0
    for evs in sessions.values():
        first = evs[0]
        assert first.event_type is CLICK and first.record["event_type"] == "page_view"
        for e in evs:
            if e.event_type is CONV:
                ts = e.record["timestamp"]
                assert e.record["time_to_convert"] == (ts - first.record["timestamp"]) / 1000
                checked += 1
    assert checked > 1000


def test_pages_and_durations_per_session(
    fault_free: list[GeneratedEvent], sessions: dict[str, list[GeneratedEvent]]
) -> None:
    pages = Counter(
        e.key for e in fault_free if e.event_type is CLICK and e.record["event_type"] == "page_view"
    )
    assert min(pages.values()) >= 1 and max(pages.values()) <= 15
    assert max(pages.values()) >= 10
    assert 0.3 < sum(1 for n in pages.values() if n == 1) / len(pages) < 0.7
    # Sessions that started over 2 h (the longest session) before the end are complete.
    cutoff = fault_free[-1].record["timestamp"] - 2 * 3600_000
    durations = [
        (evs[-1].record["timestamp"] - evs[0].record["timestamp"]) / 1000
        for evs in sessions.values()
        if evs[0].record["timestamp"] < cutoff
    ]
    assert len(durations) > 3000
    assert 30 <= min(durations) < 35
    assert max(durations) > 30 * 60
    assert 45 < statistics.median(durations) < 300


def test_clickstream_field_semantics(clean: list[GeneratedEvent]) -> None:
    clicks = [e.record for e in clean if e.event_type is CLICK]
    assert {r["event_type"] for r in clicks} == set(CLICKSTREAM_EVENT_TYPES)
    loads: dict[str, list[float]] = defaultdict(list)
    for r in clicks:
        assert (r["page_load_time"] is not None) == (r["event_type"] == "page_view")
        assert (r["scroll_depth"] is not None) == (r["event_type"] == "scroll")
        if r["page_load_time"] is not None:
            assert round(r["page_load_time"], 3) == r["page_load_time"]
            loads[r["device_type"]].append(r["page_load_time"])
        assert r["page_url"].startswith("https://")
        assert r["user_agent"].startswith("Mozilla/5.0")
    assert statistics.median(loads["mobile"]) > 1.5 * statistics.median(loads["desktop"])
    all_loads = sorted(x for xs in loads.values() for x in xs)
    assert all_loads[len(all_loads) // 100] > 0.3 and all_loads[-len(all_loads) // 100] < 8
    sources = Counter(r["utm_source"] for r in clicks)
    assert {"twitter", "telegram", "google", "coinmarketcap", "newsletter", None} <= set(sources)
    referrers = {r["referrer"] for r in clicks}
    assert "https://www.google.com/" in referrers and None in referrers


def test_valid_events_pass_avro_and_business_rules(events: list[GeneratedEvent]) -> None:
    clock = 0
    for e in events:
        if e.fault is None:
            clock = max(clock, e.record["timestamp"])
        if e.fault in VALID_FAULTS:
            assert fastavro.validation.validate(
                e.record, PARSED_SCHEMAS[e.event_type], raise_errors=True, strict=True
            )
            assert violations(e.event_type, e.record, clock) == [], e
            assert e.key == e.record["session_id"]


def test_emission_follows_event_time_except_delayed_faults(events: list[GeneratedEvent]) -> None:
    ordered = [e.record["timestamp"] for e in events if e.fault is None]
    assert ordered == sorted(ordered)
    # The simulated clock runs at ~500 events/min (minus the warm-up without sessions in flight).
    span_minutes = (ordered[-1] - ordered[0]) / 60_000
    assert span_minutes == pytest.approx(N_EVENTS / 500, rel=0.1)


def test_faults(events: list[GeneratedEvent]) -> None:
    faults = Counter(e.fault for e in events)
    assert set(faults) == {None, *FAULT_KINDS}
    assert 100 * (N_EVENTS - faults[None]) / N_EVENTS == pytest.approx(3, abs=1)

    codec = Codec(LocalSchemas())
    by_id = {}
    clock = 0
    lags: dict[str, list[int]] = defaultdict(list)
    broken_rules = set()
    for e in events:
        if e.fault is None:
            clock = max(clock, e.record["timestamp"])
            by_id[e.record[e.event_type.id_field]] = e
        elif e.fault in {"late", "out_of_order"}:
            lags[e.fault].append(clock - e.record["timestamp"])
        elif e.fault == "duplicate":
            original = by_id[e.record[e.event_type.id_field]]  # emitted before its copy
            assert original.record == e.record and original.key == e.key
        elif e.fault == "missing_field":
            missing = [f for f in MISSING_FIELDS[e.event_type] if f not in e.record]
            assert len(missing) == 1
            with pytest.raises(CodecError):
                codec.encode(e.event_type, e.record)
        else:
            bad = violations(e.event_type, e.record, clock)
            assert bad, e
            broken_rules.update(bad)
            # Avro-valid: only the validator can catch it.
            assert fastavro.validation.validate(
                e.record, PARSED_SCHEMAS[e.event_type], raise_errors=True, strict=True
            )
    assert min(lags["late"]) >= 5 * 60_000 and max(lags["late"]) <= 3 * 3600_000
    assert min(lags["out_of_order"]) >= 1_000 and max(lags["out_of_order"]) <= 60_000
    # 50k events give ~225 malformed ones: most of the rules' fields show up.
    assert len(broken_rules) >= 12
    assert {r.field for r in MALFORMED_RULES} >= broken_rules


def test_duplicates_follow_within_200_events(events: list[GeneratedEvent]) -> None:
    position: dict[str, int] = {}
    distances = []
    for i, e in enumerate(events):
        if e.fault == "duplicate":
            distances.append(i - position[e.record[e.event_type.id_field]])
        elif e.fault is None:
            position[e.record[e.event_type.id_field]] = i
    # Up to 200, plus the odd held-back event released in the same step.
    assert min(distances) >= 1 and max(distances) <= 205
    assert max(distances) > 150


def test_without_data_quality_issues_no_faults() -> None:
    gen = EventGenerator(
        seed=3, start_time_ms=START_MS, data_quality_issues=False, websites_count=5
    )
    sample = list(itertools.islice(gen, 5_000))
    assert all(e.fault is None for e in sample)
    assert {e.record["ico_website_id"] for e in sample} == {1, 2, 3, 4, 5}
    clock = max(e.record["timestamp"] for e in sample)
    assert all(violations(e.event_type, e.record, clock, websites=5) == [] for e in sample)


def test_deterministic_for_a_seed() -> None:
    def first(seed: int) -> list[GeneratedEvent]:
        return list(itertools.islice(EventGenerator(seed=seed, start_time_ms=START_MS), 5_000))

    a = first(11)
    assert a == first(11)
    b = first(12)
    assert [e.record for e in a[:100]] != [e.record for e in b[:100]]
    gen = EventGenerator(seed=11, start_time_ms=START_MS)
    assert list(itertools.islice(gen, 1000)) == a[:1000]  # each iteration restarts the stream
    assert list(itertools.islice(gen, 1000)) == a[:1000]


def test_unseeded_generator_records_its_seed() -> None:
    gen = EventGenerator()
    assert isinstance(gen.seed, int)
    replay = EventGenerator(seed=gen.seed, start_time_ms=gen.start_time_ms)
    assert list(itertools.islice(gen, 200)) == list(itertools.islice(replay, 200))


def test_variant_b_signs_up_with_the_configured_lift() -> None:
    experiments = {p.id: p.landing_experiment for p in load_projects()}

    def rates(lift: float) -> dict[str, float]:
        signed_up: dict[str, tuple[str, bool]] = {}
        gen = EventGenerator(
            seed=3, start_time_ms=START_MS, data_quality_issues=False, experiment_lift=lift
        )
        for event in itertools.islice(gen, 100_000):
            r = event.record
            variant = seed_rule_variant(r["session_id"], experiments[r["ico_website_id"]])
            was = signed_up.get(r["session_id"], (variant, False))[1]
            signed_up[r["session_id"]] = (
                variant,
                was or event.event_type is EventType.REGISTRATION,
            )
        arms = {v: [done for variant, done in signed_up.values() if variant == v] for v in "AB"}
        # Both arms hold about half of ~19,000 visitors.
        assert all(8_500 < len(arm) < 10_500 for arm in arms.values())
        return {v: sum(arm) / len(arm) for v, arm in arms.items()}

    even = rates(0.0)
    assert 0.94 < even["B"] / even["A"] < 1.06
    # +30% sign-up probability; sessions already near certain to sign up cannot gain it all.
    lifted = rates(0.3)
    assert 1.18 < lifted["B"] / lifted["A"] < 1.32
