"""Injected anomalies: parsed from the setting, deterministic under the seed, confined to their
project and time, and absent runs unchanged."""

from __future__ import annotations

import itertools
from collections import Counter

import pytest

from generator.model import EventGenerator, GeneratedEvent
from ico_core.errors import ConfigError
from ico_core.injections import SHIFT_COUNTRY, AnomalyKind, Injection, parse_injections
from ico_core.settings import Settings

START_MS = 1_764_547_200_000  # 2025-12-01T00:00Z
HOUR = 3_600_000
N = 60_000  # two hours at 500 events/min


def test_the_setting_parses_into_typed_injections() -> None:
    text = "3:revenue_drop:2025-12-01T10:00:0.5, 7:traffic_spike:2025-12-01T12:00+01:00:3"
    assert parse_injections(text) == (
        Injection(3, AnomalyKind.REVENUE_DROP, START_MS + 10 * HOUR, 0.5),
        Injection(7, AnomalyKind.TRAFFIC_SPIKE, START_MS + 11 * HOUR, 3.0),
    )
    assert Settings(GENERATOR_ANOMALIES=text).injections == parse_injections(text)
    assert Settings().injections == ()
    for bad in ("3:revenue_drop:0.5", "3:meteor:2025-12-01T10:00:0.5", "3:revenue_drop:x:0.5"):
        with pytest.raises(ConfigError):
            parse_injections(bad)
    with pytest.raises(ConfigError, match="<= 1"):
        parse_injections("3:conversion_drop:2025-12-01T10:00:1.5")
    with pytest.raises(ValueError, match="meteor"):
        Settings(GENERATOR_ANOMALIES="3:meteor:2025-12-01T10:00:0.5")


def _events(*injections: Injection) -> list[GeneratedEvent]:
    generator = EventGenerator(seed=2, start_time_ms=START_MS, injections=injections)
    return list(itertools.islice(generator, N))


def _clean(events: list[GeneratedEvent], project: int, lo: int, hi: int) -> list[GeneratedEvent]:
    return [
        e
        for e in events
        if e.fault is None
        and e.record["ico_website_id"] == project
        and lo <= e.record["timestamp"] < hi
    ]


def test_each_kind_changes_its_project_at_its_time_only() -> None:
    base = _events()
    at = START_MS + HOUR
    window = (at + 10 * 60_000, at + 15 * 60_000)  # inside every kind's duration

    spike = _events(Injection(3, AnomalyKind.TRAFFIC_SPIKE, at, 3.0))
    assert len(_clean(spike, 3, *window)) > 3 * len(_clean(base, 3, *window))
    # Before the start, the run is the very same sequence.
    prefix = next(
        i for i, e in enumerate(base) if e.fault is None and e.record["timestamp"] >= at - HOUR // 2
    )
    assert spike[:prefix] == base[:prefix]

    shift = _events(Injection(3, AnomalyKind.COUNTRY_SHIFT, at, 0.5))
    hour = (at, at + HOUR)
    views = [e for e in _clean(shift, 3, *hour) if e.record.get("event_type") == "page_view"]
    share = Counter(e.record["country"] for e in views)[SHIFT_COUNTRY] / len(views)
    assert share > 0.35
    other = [e for e in _clean(shift, 5, *hour) if e.record.get("event_type") == "page_view"]
    assert Counter(e.record["country"] for e in other)[SHIFT_COUNTRY] / len(other) < 0.05

    drop = _events(Injection(3, AnomalyKind.CONVERSION_DROP, at, 1.0))
    late = (at + 10 * 60_000, at + HOUR)  # sessions begun before the start may still sign up

    def signups(events: list[GeneratedEvent], project: int) -> int:
        return sum(1 for e in _clean(events, project, *late) if "registration_id" in e.record)

    assert signups(drop, 3) < signups(base, 3) / 4
    assert signups(drop, 5) > 0

    revenue = _events(Injection(3, AnomalyKind.REVENUE_DROP, at, 1.0))
    after = (at + 30 * 60_000, START_MS + 2 * HOUR)

    def purchases(events: list[GeneratedEvent], project: int) -> int:
        return sum(
            1
            for e in _clean(events, project, *after)
            if e.record.get("conversion_type") in ("presale_participate", "token_purchase")
        )

    assert purchases(revenue, 3) == 0 < purchases(base, 3)
    assert purchases(revenue, 13) > 0
    # Deterministic under the seed.
    assert _events(Injection(3, AnomalyKind.REVENUE_DROP, at, 1.0)) == revenue
