"""Anomalies: complete 5-minute windows judged against the 12 before them, verdicts that follow
late changes, one alert per flip, and the whole flow against a recomputation from ground truth."""

from __future__ import annotations

import itertools
import json
import math
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import bytewax.operators as op
from bytewax.dataflow import Dataflow
from bytewax.testing import TestingSink, TestingSource, run_main

from dataflows.anomalies import (
    ANOMALIES_TABLE,
    BASELINE_WINDOWS,
    METRICS,
    AlertMessage,
    AnomalyLogic,
    Verdict,
    WindowPoint,
    ZRule,
    alert_message,
    detect_anomalies,
    score,
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


def test_a_spike_and_a_silent_window_are_flagged_once_complete() -> None:
    # Windows 0-37 of 100 events (10 registrations), but 300 in window 20 and none in window 35.
    rows = [window(1, i, 300 if i == 20 else 100) for i in range(38) if i != 35]
    out = run(rows)
    flagged = [(v.row.metric, v.row.window_start, v.row.direction, v.newly_flagged) for v in out]
    assert flagged == [
        ("events", at(20), "spike", True),
        ("registrations", at(20), "spike", True),
        ("events", at(35), "drop", True),
    ]
    spike, registrations, drop = (v.row for v in out)
    # A baseline of 12 windows of 100 (stddev 0): the scale is the floor sqrt(100) = 10.
    assert (spike.value, spike.baseline_mean, spike.baseline_stddev, spike.z_score) == (
        300.0, 100.0, 0.0, 20.0,
    )  # fmt: skip
    assert registrations.z_score == (30 - 10) / math.sqrt(10)
    # A silent window is a zero; 0 registrations against 10 is only z = -3.2, not flagged.
    assert (drop.value, drop.z_score, drop.is_anomaly) == (0.0, -10.0, True)
    # With the seed's 3 sigma, that registrations drop is flagged too.
    seed_rule = run(rows, threshold=3.0)
    assert [(v.row.metric, v.row.window_start) for v in seed_rule][2:] == [
        ("events", at(35)),
        ("registrations", at(35)),
    ]
    # Window 20's spike is in the baseline of windows 21-32: it masks a drop there.
    masked = run([window(1, i, 300 if i == 20 else 100) for i in range(38) if i != 25])
    assert [(v.row.metric, v.row.window_start) for v in masked][2:] == []


def test_nothing_is_judged_without_history_or_before_it_is_complete() -> None:
    # 12 windows of history are needed; window 13 only completes once window 15 has data.
    assert run([window(1, i, 100) for i in range(12)] + [window(1, 12, 500)]) == []
    assert (
        run([window(1, i, 100) for i in range(13)] + [window(1, 13, 900), window(1, 14, 100)]) == []
    )
    out = run([window(1, i, 100) for i in range(13)] + [window(1, 13, 900), window(1, 15, 100)])
    assert [(v.row.metric, v.row.window_start) for v in out][:1] == [("events", at(13))]
    # Only 5-minute windows are judged; 15-minute and hourly rows are ignored.
    hourly = [window(1, i, 100 if i != 20 else 900, length_ms=3_600_000) for i in range(25)]
    assert run(hourly) == []


def test_late_events_clear_a_verdict_and_alerts_follow_flips() -> None:
    logic = AnomalyLogic(changeable_windows=14, rule=ZRule(THRESHOLD), resume=None)
    points = [WindowPoint(1, T0 + i * FIVE, (100.0, 10.0, 0.0)) for i in range(20)]
    out, _ = logic.on_batch([*points, WindowPoint(1, T0 + 22 * FIVE, (100.0, 10.0, 0.0))])
    # Window 20 had no row yet, window 22 makes it complete: silent, a drop.
    assert [(v.row.metric, v.row.window_start, v.row.is_anomaly, v.newly_flagged) for v in out] == [
        ("events", at(20), True, True)
    ]
    (message,) = [m for m in map(alert_message, out) if m is not None]
    assert message.key == f"1:events:{at(20).isoformat()}".encode()
    body = json.loads(message.value or b"")
    assert (body["metric"], body["direction"], body["z_score"]) == ("events", "drop", -10.0)

    resumed = AnomalyLogic(changeable_windows=14, rule=ZRule(THRESHOLD), resume=logic.snapshot())
    # Window 20's events arrive late: the verdict is rewritten as cleared, with no alert.
    out, _ = resumed.on_batch([WindowPoint(1, T0 + 20 * FIVE, (101.0, 10.0, 0.0))])
    assert [(v.row.window_start, v.row.is_anomaly, v.newly_flagged) for v in out] == [
        (at(20), False, False)
    ]
    assert alert_message(out[0]) is None
    # More late events make it a spike: flagged again, a new alert; judged again while still
    # flagged, no further alert.
    out, _ = resumed.on_batch([WindowPoint(1, T0 + 20 * FIVE, (900.0, 10.0, 0.0))])
    assert [(v.row.direction, v.newly_flagged) for v in out] == [("spike", True)]
    out, _ = resumed.on_batch([WindowPoint(1, T0 + 20 * FIVE, (950.0, 10.0, 0.0))])
    assert [(v.row.value, v.row.is_anomaly, v.newly_flagged) for v in out] == [(950.0, True, False)]
    assert out[0].row.z_score == score(950.0, [100.0] * 12)[2] == 85.0


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
            values = (float(a["events"]), float(a["registrations"]), float(a["revenue_usd"]))
            series.setdefault(site, {})[start] = values
    flags = set()
    five = timedelta(minutes=5)
    for site, windows in series.items():
        first, newest = min(windows), max(windows)
        start = first + BASELINE_WINDOWS * five
        while start <= newest - 2 * five:
            past = [windows.get(start - k * five, (0.0, 0.0, 0.0)) for k in range(1, 13)]
            for i, metric in enumerate(METRICS):
                value = windows.get(start, (0.0, 0.0, 0.0))[i]
                mean = math.fsum(p[i] for p in past) / 12
                std = math.sqrt(math.fsum((p[i] - mean) ** 2 for p in past) / 12)
                if abs(value - mean) / max(std, math.sqrt(mean), 1.0) >= THRESHOLD:
                    flags.add((site, metric, start))
            start += five
    return flags


def test_flow_flags_an_injected_spike_and_matches_the_recomputation() -> None:
    start_ms = 1_750_000_000_000 - 1_750_000_000_000 % FIVE
    generated = list(
        itertools.islice(
            EventGenerator(seed=3, start_time_ms=start_ms, events_per_minute=500), 45_000
        )
    )
    spike_at = start_ms + 60 * 60_000  # an hour in: a full baseline behind it
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
