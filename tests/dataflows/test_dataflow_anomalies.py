"""Anomalies: complete 5-minute windows judged against the hour before them and the dispersion
of the 6 hours before them, verdicts that follow late changes, one alert per flip, old snapshots
that still load, and the whole flow against a recomputation from ground truth."""

from __future__ import annotations

import itertools
import json
import math
import statistics
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import bytewax.operators as op
import pytest
from bytewax.dataflow import Dataflow
from bytewax.testing import TestingSink, TestingSource, run_main

from dataflows.anomalies import (
    ANOMALIES_TABLE,
    BASELINE_WINDOWS,
    DISPERSION_WINDOWS,
    METRICS,
    MIN_HISTORY_WINDOWS,
    MIN_PURCHASES,
    AlertMessage,
    AnomalyLogic,
    Verdict,
    WindowPoint,
    ZRule,
    alert_message,
    detect_anomalies,
)
from dataflows.pipeline import build_flow
from dataflows.records import RawRecord, TableRow
from dataflows.windows import WindowAggregateRow
from generator.model import EventGenerator, GeneratedEvent, to_wire
from ico_core.codec import Codec, LocalSchemas
from ico_core.events import EventType
from ico_core.settings import Settings
from tests.groundtruth import expected_from

THRESHOLD = Settings().anomaly_z_threshold
T0 = 1_750_000_200_000 - 1_750_000_200_000 % 300_000  # a window boundary
FIVE = 300_000


def window(project: int, index: int, events: int, length_ms: int = FIVE) -> WindowAggregateRow:
    start = datetime.fromtimestamp((T0 + index * FIVE) / 1000, UTC)
    return WindowAggregateRow(
        project, timedelta(milliseconds=length_ms), start, start + timedelta(milliseconds=length_ms),
        events, events, events, 0, events // 10, 0, 0, 0, Decimal(0), None, None, {"US": events},
    )  # fmt: skip


def run(rows: list[Any], threshold: float = THRESHOLD) -> list[Verdict]:
    out: list[Verdict] = []
    flow = Dataflow("anomalies_test")
    up = op.input("input", flow, TestingSource(rows))
    verdicts = detect_anomalies(
        "anomalies", up, lateness_seconds=3600, threshold=threshold, revenue_drop_ratio=0.8
    )
    op.output("out", verdicts, TestingSink(out))
    run_main(flow)
    return out


def at(index: int) -> datetime:
    return datetime.fromtimestamp((T0 + index * FIVE) / 1000, UTC)


def _z(value: float, history: list[float], floor: float = 1.0) -> float:
    """The documented z, written out: ``history`` newest first, the mean of its first 12, the
    dispersion of all of it."""
    mean, whole = sum(history[:12]) / 12, statistics.mean(history)
    phi = max(floor, statistics.variance(history) / whole) if whole else floor
    return 2 * (math.sqrt(value / phi + 0.375) - math.sqrt(mean / phi + 0.375)) / math.sqrt(13 / 12)


def test_a_spike_and_a_silent_window_are_flagged_once_complete() -> None:
    # Windows 0-49 of 100 events (10 registrations), but 300 in window 30 and none in window 45.
    rows = [window(1, i, 300 if i == 30 else 100) for i in range(50) if i != 45]
    out = run(rows)
    flagged = [(v.row.metric, v.row.window_start, v.row.direction, v.newly_flagged) for v in out]
    assert flagged == [
        ("events", at(30), "spike", True),
        ("registrations", at(30), "spike", True),
        ("events", at(45), "drop", True),
        ("registrations", at(45), "drop", True),
    ]
    spike, registrations, drop, _ = (v.row for v in out)
    # 30 windows of 100 before it: no spread, so the Poisson floor (dispersion 1).
    assert (spike.value, spike.baseline_mean, spike.baseline_stddev) == (300.0, 100.0, 0.0)
    assert spike.z_score == pytest.approx(
        2 * (math.sqrt(300.375) - math.sqrt(100.375)) / math.sqrt(13 / 12)
    )
    assert spike.z_score == pytest.approx(14.05, abs=0.01)
    assert registrations.z_score == pytest.approx(_z(30, [10.0] * 30))
    # The spike is in the silent window's 45 windows of history: a dispersion of 8.5.
    history = [300.0 if i == 30 else 100.0 for i in range(44, -1, -1)]
    assert (drop.value, drop.z_score) == (0.0, pytest.approx(_z(0, history)))
    assert drop.z_score == pytest.approx(-5.52, abs=0.01)
    # The windows after the spike, with it in their mean, are not flagged as drops.
    assert not [v for v in out if at(30) < v.row.window_start < at(45)]


def test_over_dispersed_traffic_needs_a_larger_spike() -> None:
    # Windows alternating 50 and 150 events: a variance 25 times the mean. 300 is 4 standard
    # deviations of that baseline (the old rule flagged it) but no anomaly; 900 is.
    def rows(peak: int) -> list[WindowAggregateRow]:
        return [window(1, i, peak if i == 40 else 50 + 100 * (i % 2)) for i in range(43)]

    assert run(rows(300)) == []
    out = run(rows(900))
    assert [(v.row.metric, v.row.window_start) for v in out] == [
        ("events", at(40)),
        ("registrations", at(40)),
    ]
    history = [50.0 + 100 * (i % 2) for i in range(39, -1, -1)]
    assert out[0].row.z_score == pytest.approx(_z(900, history))
    assert _z(300, history) < THRESHOLD


def test_nothing_is_judged_without_history_or_before_it_is_complete() -> None:
    # 24 windows of history are needed; window 25 only completes once window 27 has data.
    assert run([window(1, i, 100) for i in range(24)] + [window(1, 24, 500)]) == []
    assert (
        run([window(1, i, 100) for i in range(25)] + [window(1, 25, 900), window(1, 26, 100)]) == []
    )
    out = run([window(1, i, 100) for i in range(25)] + [window(1, 25, 900), window(1, 27, 100)])
    assert [(v.row.metric, v.row.window_start) for v in out][:1] == [("events", at(25))]
    # Only 5-minute windows are judged; 15-minute and hourly rows are ignored.
    hourly = [window(1, i, 100 if i != 30 else 900, length_ms=3_600_000) for i in range(35)]
    assert run(hourly) == []


def _revenue_window(index: int, purchases: int, cents: int) -> WindowAggregateRow:
    return window(1, index, 100)._replace(purchases=purchases, revenue_usd=Decimal(cents) / 100)


def test_revenue_is_judged_against_the_spread_of_purchase_amounts() -> None:
    # Two purchases totalling $2,000 a window: amounts alike, E[a^2] = E[a]^2, so revenue's
    # dispersion is E[a] = $1,000; a window of $12,000 is within that noise, $15,000 beyond.
    usual = [_revenue_window(i, 2, 200_000) for i in range(40)]
    after = [window(1, 41, 100), window(1, 42, 100)]
    assert run([*usual, _revenue_window(40, 2, 1_200_000), *after]) == []
    out = run([*usual, _revenue_window(40, 2, 1_500_000), *after])
    assert [(v.row.metric, v.row.window_start, v.row.direction) for v in out] == [
        ("revenue_usd", at(40), "spike")
    ]
    assert out[0].row.z_score == pytest.approx(_z(15_000, [2000.0] * 40, floor=1000.0))
    assert _z(12_000, [2000.0] * 40, floor=1000.0) < THRESHOLD
    # A project expecting under one purchase a window: its revenue is not judged (a z of 12
    # otherwise).
    rare = [_revenue_window(i, i % 2, 100_000 * (i % 2)) for i in range(40)]
    assert run([*rare, _revenue_window(40, 5, 5_000_000), window(1, 42, 100)]) == []


def test_late_events_clear_a_verdict_and_alerts_follow_flips() -> None:
    logic = AnomalyLogic(changeable_windows=14, rule=ZRule(THRESHOLD), resume=None)
    points = [WindowPoint(1, T0 + i * FIVE, (100.0, 10.0, 0.0, 0.0)) for i in range(30)]
    out, _ = logic.on_batch([*points, WindowPoint(1, T0 + 32 * FIVE, (100.0, 10.0, 0.0, 0.0))])
    # Window 30 had no row yet, window 32 makes it complete: silent, a drop.
    silent = _z(0, [100.0] * 30)
    assert [(v.row.metric, v.row.window_start, v.row.is_anomaly, v.newly_flagged) for v in out] == [
        ("events", at(30), True, True),
        ("registrations", at(30), True, True),
    ]
    messages = [m for m in map(alert_message, out) if m is not None]
    assert [m.key for m in messages] == [
        f"1:{metric}:{at(30).isoformat()}".encode() for metric in ("events", "registrations")
    ]
    message = messages[0]
    body = json.loads(message.value or b"")
    assert (body["metric"], body["direction"]) == ("events", "drop")
    assert body["z_score"] == pytest.approx(silent)

    resumed = AnomalyLogic(changeable_windows=14, rule=ZRule(THRESHOLD), resume=logic.snapshot())
    # Window 30's events arrive late: the verdicts are rewritten as cleared, with no alert.
    out, _ = resumed.on_batch([WindowPoint(1, T0 + 30 * FIVE, (101.0, 10.0, 0.0, 0.0))])
    assert [(v.row.window_start, v.row.is_anomaly, v.newly_flagged) for v in out] == [
        (at(30), False, False),
        (at(30), False, False),
    ]
    assert [alert_message(v) for v in out] == [None, None]
    # More late events make it a spike: flagged again, a new alert; judged again while still
    # flagged, no further alert.
    out, _ = resumed.on_batch([WindowPoint(1, T0 + 30 * FIVE, (900.0, 10.0, 0.0, 0.0))])
    assert [(v.row.direction, v.newly_flagged) for v in out] == [("spike", True)]
    out, _ = resumed.on_batch([WindowPoint(1, T0 + 30 * FIVE, (950.0, 10.0, 0.0, 0.0))])
    assert [(v.row.value, v.row.is_anomaly, v.newly_flagged) for v in out] == [(950.0, True, False)]
    assert out[0].row.z_score == pytest.approx(_z(950, [100.0] * 30))


def test_a_snapshot_of_points_without_purchases_still_loads() -> None:
    # Before revenue was judged on purchases, a point held events, registrations and revenue.
    logic = AnomalyLogic(changeable_windows=14, rule=ZRule(THRESHOLD), resume=None)
    logic.on_batch([WindowPoint(1, T0 + i * FIVE, (100.0, 10.0, 50.0)) for i in range(30)])
    resumed = AnomalyLogic(changeable_windows=14, rule=ZRule(THRESHOLD), resume=logic.snapshot())
    # New points carry purchases; the old ones count for events and registrations only.
    new = [WindowPoint(1, T0 + i * FIVE, (100.0, 10.0, 50.0, 1.0)) for i in range(30, 34)]
    out, _ = resumed.on_batch([*new, WindowPoint(1, T0 + 34 * FIVE, (900.0, 10.0, 50.0, 1.0))])
    assert out == []
    out, _ = resumed.on_batch([WindowPoint(1, T0 + 36 * FIVE, (100.0, 10.0, 50.0, 1.0))])
    assert [(v.row.metric, v.row.window_start) for v in out] == [("events", at(34))]
    assert out[0].row.z_score == pytest.approx(_z(900, [100.0] * 34))


def _with_spike(events: list[GeneratedEvent], project: int, start_ms: int) -> list[GeneratedEvent]:
    """Every clean clickstream event of ``project`` in the window at ``start_ms`` four more
    times, as new events (fresh ids): five times the window's traffic."""
    extra = []
    for e in events:
        r = e.record
        if (
            e.event_type is EventType.CLICKSTREAM
            and e.fault is None
            and r["ico_website_id"] == project
            and start_ms <= r["timestamp"] < start_ms + FIVE
        ):
            for n in range(4):
                copy = {**r, "event_id": str(uuid.UUID(int=uuid.UUID(r["event_id"]).int ^ (n + 1)))}
                extra.append(GeneratedEvent(e.event_type, e.key, copy, None))
    return events + extra


def _expected_flags(lines: list[dict[str, Any]]) -> set[tuple[int, str, datetime]]:
    """The rule, recomputed naively from the ground truth's final 5-minute windows."""
    exp = expected_from(lines)
    series: dict[int, dict[datetime, tuple[float, ...]]] = {}
    for (site, length, start), a in exp.aggregates.items():
        if length == timedelta(minutes=5):
            values = (
                float(a["events"]),
                float(a["registrations"]),
                float(a["revenue_usd"]),
                float(a["purchases"]),
            )
            series.setdefault(site, {})[start] = values
    flags = set()
    five = timedelta(minutes=5)
    zero = (0.0, 0.0, 0.0, 0.0)
    for site, windows in series.items():
        first, newest = min(windows), max(windows)
        start = first + MIN_HISTORY_WINDOWS * five
        while start <= newest - 2 * five:
            # The history the project has of the 6 h before, newest first; the mean is of its
            # first hour.
            past = [windows.get(start - k * five, zero) for k in range(1, DISPERSION_WINDOWS + 1)]
            past = [p for k, p in enumerate(past, 1) if start - k * five >= first]
            for i, metric in enumerate(METRICS):
                floor = 1.0
                if metric == "revenue_usd":
                    purchases = sum(p[3] for p in past)
                    baseline = past[:BASELINE_WINDOWS]
                    expected = sum(p[3] for p in baseline) / BASELINE_WINDOWS
                    if not purchases or expected < MIN_PURCHASES:
                        continue
                    amount = sum(p[2] for p in past) / purchases
                    pairs = sum(p[3] * (p[3] - 1) for p in past)
                    squares = sum(p[2] ** 2 for p in past)
                    floor = max((squares - amount**2 * pairs) / purchases, amount**2) / amount
                value = windows.get(start, zero)[i]
                if abs(_z(value, [p[i] for p in past], floor)) >= THRESHOLD:
                    flags.add((site, metric, start))
            start += five
    return flags


def test_flow_flags_an_injected_spike_and_matches_the_recomputation() -> None:
    start_ms = 1_750_000_000_000 - 1_750_000_000_000 % FIVE
    generated = list(
        itertools.islice(
            EventGenerator(seed=3, start_time_ms=start_ms, events_per_minute=500), 70_000
        )
    )
    spike_at = start_ms + 125 * 60_000  # past the 2 h of history the rule needs
    events = _with_spike(generated, project=7, start_ms=spike_at)
    codec = Codec(LocalSchemas())
    records = [
        RawRecord(e.event_type.topic, 0, i, e.key.encode(), to_wire(e, codec))
        for i, e in enumerate(events)
    ]
    out: list[TableRow] = []
    alerts: list[AlertMessage] = []
    settings = Settings(AGGREGATE_FLUSH_SECONDS=0.05)
    run_main(
        build_flow(
            TestingSource(records, batch_size=500),
            TestingSink(out),
            settings=settings,
            alerts_kafka_sink=TestingSink(alerts),
            reference_time_ms=start_ms + 6 * 3_600_000,
        )
    )
    final: dict[tuple[int, str, datetime], Any] = {}
    for table, row in out:
        if table == ANOMALIES_TABLE:
            final[(row.ico_website_id, row.metric, row.window_start)] = row
    got = {key for key, row in final.items() if row.is_anomaly}
    spike = datetime.fromtimestamp(spike_at / 1000, UTC)
    # The copies repeat each page view of a session in its country, clustering the spike
    # window's mix five times more than its baseline's: that window alone may shift.
    assert {key for key in got if key[1] not in METRICS} <= {(7, "country_mix", spike)}
    got = {key for key in got if key[1] in METRICS}
    lines = [
        {"event_type": e.event_type.value, "fault": e.fault, "record": e.record} for e in events
    ]
    assert got == _expected_flags(lines)
    assert (7, "events", spike) in got
    assert final[(7, "events", spike)].direction == "spike"
    # One alert per window that became flagged, keyed by project, metric and window.
    keys = [m.key for m in alerts]
    assert len(keys) == len(set(keys))
    assert f"7:events:{spike.isoformat()}".encode() in keys
    assert {f"{p}:{m}:{w.isoformat()}".encode() for p, m, w in got} <= set(keys)
