"""Wire encoding, the JSONL ground truth, metrics and pacing."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from generator.metrics import GeneratorMetrics
from generator.model import EventGenerator, GeneratedEvent, paced, read_jsonl, to_wire, write_jsonl
from ico_core.codec import Codec, LocalSchemas
from ico_core.errors import CodecError
from ico_core.events import EventType

START_MS = 1_764_000_000_000


@pytest.fixture(scope="module")
def events() -> list[GeneratedEvent]:
    # A high fault rate packs every fault kind into a small sample.
    gen = EventGenerator(seed=5, start_time_ms=START_MS, fault_rate=0.3)
    return list(itertools.islice(gen, 5_000))


def test_wire_round_trip_and_broken_producer(events: list[GeneratedEvent]) -> None:
    codec = Codec(LocalSchemas())
    kinds = set()
    for e in events:
        value = to_wire(e, codec)
        kinds.add(e.fault)
        if e.fault == "missing_field":
            assert json.loads(value) == e.record
            with pytest.raises(CodecError, match="magic byte"):
                codec.decode(value)
        else:
            assert codec.decode(value) == (e.event_type, e.record)
    assert {"missing_field", "malformed", "duplicate", "late", "out_of_order", None} <= kinds


def test_duplicates_are_byte_identical(events: list[GeneratedEvent]) -> None:
    codec = Codec(LocalSchemas())
    wire = {}
    duplicates = 0
    for e in events:
        if e.fault is None:
            wire[e.record[e.event_type.id_field]] = to_wire(e, codec)
        elif e.fault == "duplicate":
            assert to_wire(e, codec) == wire[e.record[e.event_type.id_field]]
            duplicates += 1
    assert duplicates > 100


def test_jsonl_round_trip(events: list[GeneratedEvent], tmp_path: Path) -> None:
    path = tmp_path / "truth.jsonl"
    assert write_jsonl(events, path) == len(events)
    lines = path.read_text().splitlines()
    assert len(lines) == len(events)
    first = json.loads(lines[0])
    assert set(first) == {"event_type", "topic", "key", "fault", "record"}
    assert first["topic"] == events[0].event_type.topic
    assert list(read_jsonl(path)) == events


def test_metrics_count_events_and_bytes(events: list[GeneratedEvent]) -> None:
    registry = CollectorRegistry()
    metrics = GeneratorMetrics(registry)
    metrics.set_rate(500)
    codec = Codec(LocalSchemas())
    total_bytes = 0
    for e in events:
        value = to_wire(e, codec)
        total_bytes += len(value)
        metrics.observe(e, len(value))

    def sample(name: str, **labels: str) -> float:
        value = registry.get_sample_value(name, labels)
        return 0.0 if value is None else value

    clicks_site_1 = sum(
        1
        for e in events
        if e.event_type is EventType.CLICKSTREAM
        and e.fault is None
        and e.record["ico_website_id"] == 1
    )
    assert clicks_site_1 > 0
    labels = {"event_type": "clickstream", "ico_website_id": "1", "fault": "none"}
    assert sample("ico_generator_events_total", **labels) == clicks_site_1
    counted = sum(
        sample("ico_generator_events_total", event_type=t.value, ico_website_id=w, fault=f)
        for t in EventType
        for w in [*map(str, range(1, 21)), "invalid"]
        for f in ["none", "duplicate", "late", "out_of_order", "missing_field", "malformed"]
    )
    assert counted == len(events)
    malformed_ids = sum(
        1
        for e in events
        if e.fault == "malformed" and e.record["ico_website_id"] not in range(1, 21)
    )
    assert malformed_ids > 0
    invalid = sum(
        sample(
            "ico_generator_events_total",
            event_type=t.value,
            ico_website_id="invalid",
            fault="malformed",
        )
        for t in EventType
    )
    assert invalid == malformed_ids
    assert (
        sum(sample("ico_generator_bytes_total", event_type=t.value) for t in EventType)
        == total_bytes
    )
    assert sample("ico_generator_configured_events_per_minute") == 500


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_paced_holds_the_rate_against_the_clock() -> None:
    clock = FakeClock()
    out = list(paced(range(10), 600, clock=clock, sleep=clock.sleep))  # one per 0.1 s
    assert out == list(range(10))
    assert clock.now == pytest.approx(100.9)
    assert len(clock.sleeps) == 9


def test_paced_restarts_after_a_stall_instead_of_bursting() -> None:
    clock = FakeClock()
    stream = paced(range(100), 60, clock=clock, sleep=clock.sleep)  # one per second
    assert [next(stream) for _ in range(3)] == [0, 1, 2]
    clock.now += 30  # the consumer stalled
    next(stream)
    before = len(clock.sleeps)
    next(stream)
    assert len(clock.sleeps) == before + 1 and clock.sleeps[-1] == pytest.approx(1.0)


def test_unpaced_never_sleeps() -> None:
    clock = FakeClock()
    assert list(paced(range(1000), 0, clock=clock, sleep=clock.sleep)) == list(range(1000))
    assert clock.sleeps == []
