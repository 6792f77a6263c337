"""The minute and 5-minute counts and page load histograms (``dataflows.rollups``) after
replays, duplicates and late events: equal to the stored events counted in Python, and to a
recomputation of every minute from the raw tables."""

from __future__ import annotations

import math
import random
import statistics
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from dataflows.records import TableRow
from dataflows.sessions import refresh_all
from dataflows.sinks import PostgresSink
from tests.groundtruth import _percentile_cont
from tests.sinks.test_postgres_sink import FAST_RETRY, NOW, click, conversion, registration

#: An hour boundary two days back: the events straddle it, so hour and minute rows both count.
T0 = NOW.replace(minute=0, second=0, microsecond=0) - timedelta(days=2)
#: The histograms' promise (migration 0018).
REL_ERROR = math.sqrt(1.05) - 1
PAGES = ("homepage", "presale", "faq")
#: Where date_bin counts periods from.
ORIGIN = datetime(2000, 1, 1, tzinfo=UTC)
DEVICES = ("desktop", "mobile", "tablet")


def _store(url: str, *batches: list[TableRow]) -> None:
    """Write ``batches`` through one sink partition and close it (which refreshes)."""
    partition = PostgresSink(url, retry=FAST_RETRY, sessions_refresh_seconds=3600.0).build(
        "rollups", 0, 1
    )
    try:
        for batch in batches:
            partition.write_batch(batch)
    finally:
        partition.close()


def _events(rng: random.Random, n: int, start: datetime, seconds: int) -> list[TableRow]:
    rows: list[TableRow] = []
    for _ in range(n):
        at = start + timedelta(seconds=rng.uniform(0, seconds))
        project = rng.randint(1, 3)
        kind = rng.random()
        if kind < 0.8:
            page_view = rng.random() < 0.7
            rows.append(
                click(
                    timestamp=at,
                    ico_website_id=project,
                    event_type="page_view" if page_view else "click",
                    page_type=rng.choice(PAGES),
                    device_type=rng.choice(DEVICES),
                    page_load_time=round(rng.lognormvariate(0.3, 0.8), 3) if page_view else None,
                )
            )
        elif kind < 0.9:
            rows.append(registration(timestamp=at, ico_website_id=project))
        else:
            rows.append(conversion(timestamp=at, ico_website_id=project))
    return rows


def _minute(at: datetime) -> datetime:
    return at.replace(second=0, microsecond=0)


KINDS = ("raw_data.clickstream_events", "raw_data.user_registrations", "raw_data.conversions")


def _expected_counts(rows: list[TableRow]) -> dict[tuple[datetime, int], tuple[int, ...]]:
    """(minute, project) -> clickstream, registrations, conversions, timed and slow views."""
    counts: dict[tuple[datetime, int], list[int]] = {}
    for table, r in rows:
        row: Any = r
        c = counts.setdefault((_minute(row.timestamp), row.ico_website_id), [0] * 5)
        c[KINDS.index(table)] += 1
        if table == KINDS[0] and row.event_type == "page_view" and row.page_load_time:
            c[3] += 1
            c[4] += row.page_load_time > 3
    return {k: tuple(v) for k, v in counts.items()}


def _stored_counts(url: str) -> dict[tuple[datetime, int], tuple[int, ...]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT minute, ico_website_id, clickstream, registrations, conversions,"
            " timed_views, slow_views FROM analytics.minute_counts"
        ).fetchall()
    return {(m, p): tuple(rest) for m, p, *rest in rows}


def _five_minutes(
    counts: dict[tuple[datetime, int], tuple[int, ...]],
) -> dict[tuple[datetime, int], tuple[int, ...]]:
    """Minute counts summed per 5-minute period (from 2000-01-01, as date_bin counts)."""
    periods: dict[tuple[datetime, int], list[int]] = {}
    for (minute, project), values in counts.items():
        start = minute.replace(minute=minute.minute - minute.minute % 5)
        period = periods.setdefault((start, project), [0] * 5)
        for i, n in enumerate(values):
            period[i] += n
    return {k: tuple(v) for k, v in periods.items()}


def _stored_five_minutes(url: str) -> dict[tuple[datetime, int], tuple[int, ...]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT period_start, ico_website_id, clickstream, registrations, conversions,"
            " timed_views, slow_views FROM analytics.five_minute_counts"
        ).fetchall()
    return {(m, p): tuple(rest) for m, p, *rest in rows}


def _histograms(url: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT period_start, period, ico_website_id, dimension, value, views, slow_views,"
            " histogram FROM analytics.page_load_histograms ORDER BY 1, 2, 3, 4, 5"
        ).fetchall()


def _recomputed(url: str) -> tuple[Any, ...]:
    """The rollups recomputed from nothing: every minute of the raw tables touched again."""
    with psycopg.connect(url) as conn:
        conn.execute(
            "TRUNCATE analytics.minute_counts, analytics.five_minute_counts,"
            " analytics.page_load_histograms"
        )
        conn.execute(
            "INSERT INTO analytics.minutes_touched (minutes)"
            " SELECT array_agg(DISTINCT date_bin('1 minute', \"timestamp\", '2000-01-01'))"
            ' FROM (SELECT "timestamp" FROM raw_data.clickstream_events'
            ' UNION ALL SELECT "timestamp" FROM raw_data.user_registrations'
            ' UNION ALL SELECT "timestamp" FROM raw_data.conversions) e'
        )
        conn.commit()
        assert refresh_all(conn) > 0
    return _stored_counts(url), _stored_five_minutes(url), _histograms(url)


def test_replays_duplicates_and_late_events_leave_the_rollups_exact(
    migrated_database_url: str,
) -> None:
    url, rng = migrated_database_url, random.Random(5)
    # 25 minutes either side of T0, in batches; then a replay of two batches, a batch with
    # duplicates, and late events into minutes already stored.
    rows = _events(rng, 1500, T0 - timedelta(minutes=25), 50 * 60)
    batches = [rows[i : i + 100] for i in range(0, len(rows), 100)]
    _store(url, *batches)
    late = _events(rng, 60, T0 - timedelta(minutes=10), 20 * 60)
    _store(url, batches[3], batches[9], rows[200:250] + rows[200:250], late)
    stored = rows + late

    counts = _stored_counts(url)
    assert counts == _expected_counts(stored)
    five_minutes = _stored_five_minutes(url)
    assert five_minutes == _five_minutes(counts)
    histograms = _histograms(url)
    assert {h[1] for h in histograms} == {
        timedelta(minutes=1),
        timedelta(hours=1),
        timedelta(days=1),
    }
    assert _recomputed(url) == (counts, five_minutes, histograms)

    # Views and slow views are exact per (period, project, dimension); the percentiles of each
    # hour's histogram within the promised error of the exact ones (a day's histogram is the
    # sum of its hours').
    views: dict[tuple[Any, ...], list[float]] = {}
    for table, r in stored:
        row: Any = r
        if table != KINDS[0] or row.page_load_time is None:
            continue
        for period, start in (
            (timedelta(minutes=1), _minute(row.timestamp)),
            (timedelta(hours=1), row.timestamp.replace(minute=0, second=0, microsecond=0)),
            (timedelta(days=1), row.timestamp.replace(hour=0, minute=0, second=0, microsecond=0)),
        ):
            for dimension, value in (
                ("project", ""),
                ("page_type", row.page_type),
                ("device", row.device_type),
            ):
                key = (start, period, row.ico_website_id, dimension, value)
                views.setdefault(key, []).append(row.page_load_time)
    assert {h[:5]: (h[5], h[6]) for h in histograms} == {
        k: (len(v), sum(x > 3 for x in v)) for k, v in views.items()
    }
    with psycopg.connect(url) as conn:
        for h in histograms:
            if h[1] != timedelta(hours=1):
                continue
            for q in (0.5, 0.95, 0.99):
                (got,) = conn.execute(
                    "SELECT analytics.page_load_percentile(%s, %s)", (h[7], q)
                ).fetchone() or (None,)
                exact = _percentile_cont(views[h[:5]], q)
                assert abs(got - exact) <= REL_ERROR * exact, (h[:5], q, got, exact)


@pytest.mark.parametrize(
    "around",
    [timedelta(minutes=61, seconds=17), timedelta(hours=25, minutes=1, seconds=17)],
    ids=["hours", "days"],
)
def test_a_range_off_the_minutes_reads_days_hours_minutes_and_raw_edges(
    migrated_database_url: str, around: timedelta
) -> None:
    """The panels' source over a range starting and ending mid-minute, ~2 hours or ~2 days
    long (which holds a whole UTC day): exact views and slow views, percentiles within the
    promised error, per page type."""
    url, rng = migrated_database_url, random.Random(9)
    rows = _events(
        rng, 3000, T0 - around - timedelta(minutes=9), int(2 * around.total_seconds()) + 18 * 60
    )
    _store(url, *[rows[i : i + 250] for i in range(0, len(rows), 250)])
    since = T0 - around
    until = T0 + around + timedelta(minutes=1, seconds=24)
    loads: dict[str, list[float]] = {}
    for table, r in rows:
        row: Any = r
        if (
            table == KINDS[0]
            and row.page_load_time is not None
            and row.ico_website_id in (1, 2)
            and since <= row.timestamp <= until
        ):
            loads.setdefault(row.page_type, []).append(row.page_load_time)
    with psycopg.connect(url) as conn:
        got = conn.execute(
            "SELECT value, sum(views), sum(slow_views),"
            " analytics.page_load_percentile(sum(histogram), 0.5),"
            " analytics.page_load_percentile(sum(histogram), 0.95)"
            " FROM analytics.page_load_histograms_in(%s, %s, 'page_type', '{1,2}') GROUP BY 1",
            (since, until),
        ).fetchall()
    assert {g[0]: (g[1], g[2]) for g in got} == {
        page: (len(v), sum(x > 3 for x in v)) for page, v in loads.items()
    }
    for page, _, _, p50, p95 in got:
        for q, value in ((0.5, p50), (0.95, p95)):
            exact = _percentile_cont(loads[page], q)
            assert abs(value - exact) <= REL_ERROR * exact
    assert statistics.median(len(v) for v in loads.values()) > 100


def test_event_counts_in_any_bucket_are_the_raw_events_of_the_range(
    migrated_database_url: str,
) -> None:
    """What the per-interval panels read, over a range starting and ending mid-minute and off
    the 5-minute periods: per bucket of 1, 2, 10 and 60 minutes, exactly the raw events of the
    selected projects in [since, until], both ends included as ``$__timeFilter``'s are."""
    url, rng = migrated_database_url, random.Random(13)
    rows = _events(rng, 3000, T0 - timedelta(minutes=70), 140 * 60)
    _store(url, *[rows[i : i + 250] for i in range(0, len(rows), 250)])
    since = T0 - timedelta(minutes=61, seconds=17)
    until = T0 + timedelta(minutes=62, seconds=41)
    inside = [(t, r) for t, r in rows if since <= r.timestamp <= until]  # type: ignore[attr-defined]
    assert 0 < len(inside) < len(rows)
    for minutes in (1, 2, 10, 60):
        bucket = timedelta(minutes=minutes)
        want: dict[datetime, list[int]] = {}
        for table, r in inside:
            row: Any = r
            if row.ico_website_id not in (1, 2):
                continue
            at = ORIGIN + (row.timestamp - ORIGIN) // bucket * bucket
            c = want.setdefault(at, [0] * 5)
            c[KINDS.index(table)] += 1
            if table == KINDS[0] and row.event_type == "page_view" and row.page_load_time:
                c[3] += 1
                c[4] += row.page_load_time > 3
        with psycopg.connect(url) as conn:
            got = conn.execute(
                "SELECT bucket_start, sum(clickstream), sum(registrations), sum(conversions),"
                " sum(timed_views), sum(slow_views)"
                " FROM analytics.event_counts_in(%s, %s, '{1,2}', %s) GROUP BY 1",
                (since, until, bucket),
            ).fetchall()
        assert {g[0]: list(g[1:]) for g in got} == want, minutes
