"""Window aggregates: right window whatever the order, exact measures, lateness, overwrites."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import bytewax.operators as op
from bytewax.dataflow import Dataflow
from bytewax.testing import TestingSink, TestingSource, run_main
from prometheus_client import REGISTRY

from dataflows.validate import Event
from dataflows.windows import (
    ProjectWindows,
    Window,
    WindowAggregateRow,
    WindowLogic,
    window_aggregates,
    window_input,
)
from ico_core.events import EventType

T10 = int(datetime(2025, 6, 15, 10, 0, tzinfo=UTC).timestamp() * 1000)
MIN = 60_000
_ids = iter(range(1, 10**9))


def _uuid(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012x}"


def click(
    ts: int,
    *,
    site: int = 1,
    session: int = 1,
    user: int | None = None,
    page_view: bool = True,
    load: float | None = None,
    country: str = "US",
) -> Event:
    return EventType.CLICKSTREAM, {
        "event_id": _uuid(next(_ids)),
        "session_id": _uuid(session),
        "user_id": None if user is None else _uuid(user),
        "timestamp": ts,
        "event_type": "page_view" if page_view else "click",
        "page_load_time": load,
        "country": country,
        "ico_website_id": site,
    }


def registration(ts: int, *, site: int = 1, session: int = 1, user: int = 1) -> Event:
    return EventType.REGISTRATION, {
        "registration_id": _uuid(next(_ids)),
        "session_id": _uuid(session),
        "user_id": _uuid(user),
        "timestamp": ts,
        "ico_website_id": site,
    }


def conversion(
    ts: int,
    kind: str,
    amount: float | None = None,
    *,
    site: int = 1,
    session: int = 1,
    user: int = 1,
) -> Event:
    return EventType.CONVERSION, {
        "conversion_id": _uuid(next(_ids)),
        "session_id": _uuid(session),
        "user_id": _uuid(user),
        "timestamp": ts,
        "conversion_type": kind,
        "amount_usd": amount,
        "ico_website_id": site,
    }


Key = tuple[int, timedelta, datetime]


def run(items: list[Any], lateness_seconds: int = 3 * 3600) -> list[WindowAggregateRow]:
    out: list[WindowAggregateRow] = []
    flow = Dataflow("windows_test")
    events = op.input("input", flow, TestingSource(items, batch_size=3))
    rows = window_aggregates(
        "windows", events, lateness_seconds=lateness_seconds, flush_seconds=0.01
    )
    op.output("out", rows, TestingSink(out))
    run_main(flow)
    return out


def final(rows: list[WindowAggregateRow]) -> dict[Key, dict[str, Any]]:
    """What the table holds after the upserts: the last row per primary key."""
    table: dict[Key, dict[str, Any]] = {}
    for window in rows:
        row = window._asdict()
        table[(row["ico_website_id"], row["window_length"], row["window_start"])] = row
    return table


def at(minutes: int, length_min: int, site: int = 1) -> Key:
    start = datetime.fromtimestamp((T10 + minutes * MIN) / 1000, UTC)
    return site, timedelta(minutes=length_min), start


def test_event_on_a_boundary_starts_the_next_window() -> None:
    rows = final(run([click(T10 + 5 * MIN)]))
    assert set(rows) == {at(5, 5), at(0, 15), at(0, 60)}
    assert rows[at(5, 5)]["window_end"] == datetime(2025, 6, 15, 10, 10, tzinfo=UTC)
    assert rows[at(0, 60)]["window_end"] == datetime(2025, 6, 15, 11, 0, tzinfo=UTC)
    assert rows[at(5, 5)]["events"] == 1


def test_all_measures_of_a_window() -> None:
    rows = final(
        run(
            [
                click(T10 + 1, session=1, load=2.0),
                click(T10 + 2, session=1, user=7, load=4.0),
                click(T10 + 3, session=2, page_view=False),
                registration(T10 + 4, session=2, user=8),
                conversion(T10 + 5, "wallet_connect", session=2, user=8),
                conversion(T10 + 6, "presale_participate", 100.10, session=2, user=8),
                conversion(T10 + 7, "token_purchase", 100.10, session=3, user=9),
                conversion(T10 + 8, "token_purchase", 100.10, session=3, user=9),
            ]
        )
    )
    assert rows[at(0, 5)] == {
        "ico_website_id": 1,
        "window_length": timedelta(minutes=5),
        "window_start": datetime(2025, 6, 15, 10, 0, tzinfo=UTC),
        "window_end": datetime(2025, 6, 15, 10, 5, tzinfo=UTC),
        "events": 8,
        "page_views": 2,
        "unique_sessions": 3,
        "unique_users": 3,
        "registrations": 1,
        "conversions": 4,
        "wallet_connects": 1,
        "purchases": 3,
        "revenue_usd": Decimal("300.30"),
        "avg_page_load_time": 3.0,
        "p95_page_load_time": 2.0 + (4.0 - 2.0) * 0.95,
        "page_views_by_country": {"US": 2},
    }
    assert str(rows[at(0, 5)]["revenue_usd"]) == "300.30"


def test_window_without_page_load_times_has_null_averages() -> None:
    row = final(run([click(T10, page_view=False), click(T10 + 1, load=None)]))[at(0, 5)]
    measures = (row["page_views"], row["avg_page_load_time"], row["p95_page_load_time"])
    assert measures == (1, None, None)
    assert row["revenue_usd"] == Decimal("0.00")


def percentile_cont(values: list[float], q: float) -> float:
    ordered = sorted(values)
    pos = q * (len(ordered) - 1)
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def test_p95_and_average_match_a_direct_computation() -> None:
    rng = random.Random(7)
    loads = [round(rng.lognormvariate(0, 0.6), 3) for _ in range(1000)] + [1.5] * 50
    events = [click(T10 + rng.randrange(5 * MIN), session=rng.randrange(40), load=x) for x in loads]
    row = final(run(events))[at(0, 5)]
    assert row["p95_page_load_time"] == percentile_cont(loads, 0.95)
    assert math.isclose(row["avg_page_load_time"], sum(loads) / len(loads), rel_tol=1e-12)
    assert row["unique_sessions"] == len({e[1]["session_id"] for e in events})


def test_late_and_out_of_order_events_count_in_their_own_windows() -> None:
    in_order = [click(T10 + m * MIN, session=m % 3, load=1.0 + m / 1000) for m in range(0, 180, 7)]
    late = click(T10 + 2 * MIN, session=99, user=5, load=9.0)  # 2 h 50 min behind the clock
    shuffled = in_order[:]
    random.Random(3).shuffle(shuffled)
    expected = final(run([*in_order, late]))
    assert final(run([*shuffled, late])) == expected
    assert final(run([late, *in_order])) == expected
    row = expected[at(0, 5)]
    assert (row["events"], row["unique_users"], row["avg_page_load_time"]) == (2, 1, 5.0)
    assert expected[at(0, 60)]["events"] == 1 + len([m for m in range(0, 60, 7)])


def _too_late_count(window: str) -> float:
    value = REGISTRY.get_sample_value("ico_dataflow_events_too_late_total", {"window": window})
    return value or 0.0


def test_events_beyond_the_lateness_are_left_out_and_counted() -> None:
    before = (_too_late_count("5m"), _too_late_count("60m"))
    rows = run(
        [
            click(T10 + 1),
            click(T10 + 90 * MIN),  # the clock moves 1.5 h on; lateness is 10 min
            click(T10 + 2),  # too late for every window length
            click(T10 + 80 * MIN + 1),  # 5-min [11:20, 11:25) ended 11:25 + 10 min > 11:30: in time
        ],
        lateness_seconds=600,
    )
    table = final(rows)
    assert table[at(0, 5)]["events"] == 1
    assert table[at(0, 60)]["events"] == 1
    assert table[at(80, 5)]["events"] == 1
    assert table[at(60, 60)]["events"] == 2
    assert (_too_late_count("5m"), _too_late_count("60m")) == (before[0] + 1, before[1] + 1)


def test_rows_are_full_overwrites_emitted_only_for_changed_windows() -> None:
    rows = run(
        [
            click(T10, site=1),
            TestingSource.PAUSE(timedelta(milliseconds=100)),
            click(T10 + 1, site=1),
            click(T10, site=2),
        ]
    )
    per_key: dict[Key, list[int]] = {}
    for row in rows:
        per_key.setdefault((row.ico_website_id, row.window_length, row.window_start), []).append(
            row.events
        )
    # Site 1 flushed after the pause, then again with its new total; never an increment.
    assert per_key[at(0, 5, site=1)] == [1, 2]
    assert per_key[at(0, 5, site=2)] == [1]


def test_page_views_by_country_and_windows_resumed_from_before_them() -> None:
    events = [click(T10, country="DE"), click(T10 + 1, country="DE"), click(T10 + 2)]
    events.append(click(T10 + 3, page_view=False, country="JP"))  # not a page view
    assert final(run(events))[at(0, 5)]["page_views_by_country"] == {"DE": 2, "US": 1}
    # A window snapshotted before countries were counted: its counts would be partial, so the
    # row says it has none (NULL), and the anomalies do not judge its mix.
    old = Window()
    del old.countries
    key = (300_000, T10 - T10 % 300_000)
    state = ProjectWindows(1, T10, {key: old}, {key})
    logic = WindowLogic(lateness_ms=3_600_000, flush=timedelta(seconds=1), resume=state)
    rows, _ = logic.on_batch([window_input(click(T10 + 4, country="DE"))[1]])
    rows += logic.on_eof()[0]
    assert [row.page_views_by_country for row in rows if row.window_length.seconds == 300] == [None]
