"""Sessions recomputed in PostgreSQL from the rows the sink stores (``dataflows.sessions``)."""

from __future__ import annotations

import threading
import uuid
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg

from dataflows.leads import LEADS_TABLE, LeadRow
from dataflows.records import TableRow
from dataflows.sessions import refresh_all
from dataflows.sinks import PostgresSink
from tests.groundtruth import session_rollup_differences
from tests.sinks.test_postgres_sink import FAST_RETRY, NOW, click, conversion, registration

T0 = NOW.replace(microsecond=0) - timedelta(days=1)
MIN = timedelta(minutes=1)


def _store(url: str, *batches: list[TableRow], refresh_seconds: float = 3600.0) -> None:
    """Write ``batches`` through one sink partition and close it (which refreshes)."""
    sink = PostgresSink(url, retry=FAST_RETRY, sessions_refresh_seconds=refresh_seconds)
    partition = sink.build("sessions", 0, 1)
    try:
        for batch in batches:
            partition.write_batch(batch)
    finally:
        partition.close()


def _sessions(url: str, session_id: str) -> list[dict[str, Any]]:
    with psycopg.connect(url) as conn, conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        return cur.execute(
            "SELECT * FROM analytics.sessions WHERE session_id = %s ORDER BY session_start",
            (session_id,),
        ).fetchall()


def _spans(url: str, session_id: str) -> list[tuple[datetime, datetime, int]]:
    return [(s["session_start"], s["session_end"], s["events"]) for s in _sessions(url, session_id)]


def test_a_gap_over_30_minutes_splits_and_a_late_event_joins_the_halves(
    migrated_database_url: str,
) -> None:
    url, sid = migrated_database_url, str(uuid.uuid4())
    at = [T0, T0 + 10 * MIN, T0 + 40 * MIN, T0 + 71 * MIN]  # gaps: 10, 30 (kept), 31 (split)
    _store(url, [click(session_id=sid, timestamp=t) for t in at])
    assert _spans(url, sid) == [(T0, T0 + 40 * MIN, 3), (T0 + 71 * MIN, T0 + 71 * MIN, 1)]

    # Three hours later, an event at +55 min arrives: both gaps are now under 30 minutes.
    _store(url, [click(session_id=sid, timestamp=T0 + 55 * MIN)])
    assert _spans(url, sid) == [(T0, T0 + 71 * MIN, 5)]


def test_activity_without_a_pause_is_cut_every_24_hours(migrated_database_url: str) -> None:
    url, sid = migrated_database_url, str(uuid.uuid4())
    at = [T0 - timedelta(days=2) + 20 * MIN * i for i in range(76)]  # 25 h, every 20 minutes
    _store(url, [click(session_id=sid, timestamp=t) for t in at])
    assert _spans(url, sid) == [(at[0], at[71], 72), (at[72], at[75], 4)]


def test_a_session_row_holds_the_funnel_and_the_entry(migrated_database_url: str) -> None:
    url, sid, user = migrated_database_url, str(uuid.uuid4()), str(uuid.uuid4())
    rows = [
        click(
            session_id=sid,
            timestamp=T0,
            event_type="scroll",
            page_url="https://x.io/blog",
            utm_source="twitter",
            utm_medium="social",
            utm_campaign="launch",
            traffic_source="social",
            device_type="mobile",
            country="DE",
            ico_website_id=7,
        ),
        click(session_id=sid, timestamp=T0 + MIN, page_url="https://x.io/"),
        click(session_id=sid, timestamp=T0 + 2 * MIN, page_url="https://x.io/token"),
        registration(session_id=sid, user_id=user, timestamp=T0 + 3 * MIN, ico_website_id=7),
        conversion(
            session_id=sid,
            user_id=user,
            timestamp=T0 + 4 * MIN,
            conversion_type="wallet_connect",
            amount_usd=None,
            ico_website_id=7,
        ),
        conversion(session_id=sid, user_id=user, timestamp=T0 + 5 * MIN, ico_website_id=7),
        conversion(
            session_id=sid,
            user_id=user,
            timestamp=T0 + 6 * MIN,
            conversion_type="presale_participate",
            amount_usd=Decimal("100.44"),
            ico_website_id=7,
        ),
    ]
    _store(url, rows[:4], rows[4:])
    [session] = _sessions(url, sid)
    assert {k: v for k, v in session.items() if k not in ("session_id",)} == {
        "session_start": T0,
        "session_end": T0 + 6 * MIN,
        "ico_website_id": 7,
        "user_id": uuid.UUID(user),
        "duration_seconds": 360.0,
        "events": 7,
        "page_views": 2,
        "bounce": False,
        "entry_page": "https://x.io/",
        "exit_page": "https://x.io/token",
        "traffic_source": "social",
        "utm_source": "twitter",
        "utm_medium": "social",
        "utm_campaign": "launch",
        "device_type": "mobile",
        "country": "DE",
        "region": "Europe",
        "signed_up": True,
        "wallet_connected": True,
        "purchased": True,
        "purchases": 2,
        "revenue_usd": Decimal("1335.00"),
        "seconds_to_wallet": 321.5,
        "seconds_to_purchase": 321.5,
    }


def test_replaying_a_batch_changes_nothing(migrated_database_url: str) -> None:
    url, sid = migrated_database_url, str(uuid.uuid4())
    batch = [click(session_id=sid, timestamp=T0 + i * 7 * MIN) for i in range(6)]
    _store(url, batch)
    before = _sessions(url, sid)
    _store(url, batch, batch[2:4])
    assert _sessions(url, sid) == before
    assert len(before) == 1 and before[0]["events"] == 6 and before[0]["bounce"] is False


def test_a_lead_stored_after_its_registration_counts_with_its_session_source(
    migrated_database_url: str,
) -> None:
    """The leads' rollup (migration 0023) is redone when a lead arrives in a later sink batch
    than its registration, whose refresh has already counted the hour without it."""
    url, sid, rid = migrated_database_url, str(uuid.uuid4()), str(uuid.uuid4())
    signed_up = T0.replace(minute=20, second=0)
    first = [
        click(session_id=sid, timestamp=signed_up - 5 * MIN, traffic_source="social"),
        registration(registration_id=rid, session_id=sid, timestamp=signed_up, ico_website_id=1),
    ]
    lead = LeadRow(
        registration_id=rid,
        ico_website_id=1,
        session_id=sid,
        registered_at=signed_up,
        country="SG",
        kyc_completed=True,
        verification_tier="premium",
        consent_marketing=False,
        email_sealed=None,
    )
    _store(url, first)
    _store(url, [(LEADS_TABLE, lead)])
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT span, span_start, traffic_source, registrations, kyc_completed, consenting,"
            " basic, advanced, premium FROM analytics.leads_rollup ORDER BY span"
        ).fetchall()
        assert session_rollup_differences(conn) == []
    assert rows == [
        (timedelta(hours=1), signed_up.replace(minute=0), "social", 1, 1, 0, 0, 0, 1),
        (timedelta(days=1), signed_up.replace(hour=0, minute=0), "social", 1, 1, 0, 0, 0, 1),
    ]


def _rollups(url: str) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[str]]:
    """The sessions' and the places' hour rows, and how the rollups (hours and days) differ
    from a regrouping."""
    with psycopg.connect(url) as conn:
        hourly = conn.execute(
            "SELECT span_start, device_type, sessions, bounces, page_views, signed_up,"
            " wallet_connected, purchased, purchases, revenue_usd FROM analytics.sessions_rollup"
            " WHERE span = interval '1 hour' ORDER BY span_start, device_type"
        ).fetchall()
        places = conn.execute(
            "SELECT 'sessions', span_start, country, sessions, revenue_usd"
            " FROM analytics.sessions_geo_rollup WHERE span = interval '1 hour'"
            " UNION ALL SELECT 'registrations', span_start, country, registrations, NULL"
            " FROM analytics.registrations_geo_rollup WHERE span = interval '1 hour'"
            " ORDER BY 1, 2, 3"
        ).fetchall()
        return hourly, places, session_rollup_differences(conn)


def test_replayed_and_late_events_keep_the_rollups_regrouped(
    migrated_database_url: str,
) -> None:
    """A late event that joins a session of the next hour to one of this hour empties that
    hour's rollup row; replaying the batches changes nothing."""
    url, sid, other = migrated_database_url, str(uuid.uuid4()), str(uuid.uuid4())
    at = T0.replace(minute=50, second=0)  # ten minutes before an hour ends
    h0, h1 = at.replace(minute=0), at.replace(minute=0) + 60 * MIN
    first = [
        *(click(session_id=sid, timestamp=at + m * MIN) for m in (0, 5, 40, 50)),  # gap 35
        conversion(session_id=sid, timestamp=at + 45 * MIN, ico_website_id=1),
        registration(session_id=sid, timestamp=at + 50 * MIN, ico_website_id=1),
        click(session_id=other, timestamp=at + 35 * MIN, device_type="mobile"),
    ]
    _store(url, first)
    hourly, places, differences = _rollups(url)
    assert differences == []
    paid = Decimal("1234.56")
    assert hourly == [
        (h0, "desktop", 1, 0, 2, 0, 0, 0, 0, Decimal(0)),
        (h1, "desktop", 1, 0, 2, 1, 0, 1, 1, paid),
        (h1, "mobile", 1, 1, 1, 0, 0, 0, 0, Decimal(0)),
    ]

    late = [click(session_id=sid, timestamp=at + 20 * MIN)]  # gaps 15 and 20: one session
    _store(url, late, first, late)
    hourly, places, differences = _rollups(url)
    assert differences == []
    assert hourly == [
        (h0, "desktop", 1, 0, 5, 1, 0, 1, 1, paid),
        (h1, "mobile", 1, 1, 1, 0, 0, 0, 0, Decimal(0)),
    ]
    assert places == [
        ("registrations", h1, "SG", 1, None),
        ("sessions", h0, "CH", 1, paid),
        ("sessions", h1, "CH", 1, Decimal(0)),
    ]


def test_two_workers_and_refreshers_racing_on_the_same_sessions_end_exact(
    migrated_database_url: str,
) -> None:
    """Two sink partitions store interleaved events of the same 40 sessions in small batches
    while both refresh every 10 ms; every session ends exactly as if stored at once."""
    url = migrated_database_url
    sids = [str(uuid.uuid4()) for _ in range(40)]
    # Per session: 12 events 4 minutes apart, then one 45 minutes later (a second session).
    events = [
        click(session_id=sid, timestamp=T0 + (4 * i if i < 12 else 44 + 45) * MIN)
        for sid in sids
        for i in range(13)
    ]
    halves = [events[0::2], events[1::2]]
    failures: list[BaseException] = []

    def worker(rows: list[TableRow], index: int) -> None:
        sink = PostgresSink(url, retry=FAST_RETRY, sessions_refresh_seconds=0.01)
        partition = sink.build("race", index, 2)
        try:
            for i in range(0, len(rows), 7):
                partition.write_batch(rows[i : i + 7])
        except BaseException as exc:
            failures.append(exc)
        finally:
            partition.close()

    threads = [threading.Thread(target=worker, args=(h, i)) for i, h in enumerate(halves)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    with psycopg.connect(url) as conn:
        assert refresh_all(conn) == 0  # nothing was left behind
        assert session_rollup_differences(conn) == []
    for sid in sids:
        assert _spans(url, sid) == [
            (T0, T0 + 44 * MIN, 12),
            (T0 + 89 * MIN, T0 + 89 * MIN, 1),
        ]


#: Each rollup reader (migration 0019) and the same grouping done on the exact rows.
BETWEEN = (
    (
        "SELECT ico_website_id, device_type, traffic_source, sum(sessions), sum(bounces),"
        " sum(page_views), sum(signed_up), sum(wallet_connected), sum(purchased),"
        " sum(purchases), sum(revenue_usd)"
        " FROM analytics.sessions_rollup_between(%(a)s, %(b)s) GROUP BY 1, 2, 3",
        "SELECT ico_website_id, device_type, traffic_source, count(*),"
        " count(*) FILTER (WHERE bounce), sum(page_views), count(*) FILTER (WHERE signed_up),"
        " count(*) FILTER (WHERE wallet_connected), count(*) FILTER (WHERE purchased),"
        " sum(purchases), sum(revenue_usd) FROM analytics.sessions"
        " WHERE session_start BETWEEN %(a)s AND %(b)s GROUP BY 1, 2, 3",
    ),
    (
        "SELECT ico_website_id, country, region, sum(sessions), sum(revenue_usd)"
        " FROM analytics.sessions_geo_rollup_between(%(a)s, %(b)s) GROUP BY 1, 2, 3",
        "SELECT ico_website_id, country, region, count(*), sum(revenue_usd)"
        " FROM analytics.sessions WHERE session_start BETWEEN %(a)s AND %(b)s GROUP BY 1, 2, 3",
    ),
    (
        "SELECT ico_website_id, country, region, sum(registrations)"
        " FROM analytics.registrations_geo_rollup_between(%(a)s, %(b)s) GROUP BY 1, 2, 3",
        "SELECT ico_website_id, country, region, count(*) FROM raw_data.user_registrations"
        ' WHERE "timestamp" BETWEEN %(a)s AND %(b)s GROUP BY 1, 2, 3',
    ),
)


def test_rollup_readers_count_any_range_as_the_exact_rows(migrated_database_url: str) -> None:
    """Whole days, whole hours and the partial hours at either end add up to the sessions (and
    registrations) of the range, both ends included, whether it is aligned on hours or not."""
    url = migrated_database_url
    midnight = T0.replace(hour=0, minute=0, second=0)
    # A session every 37 minutes for 3 days, some exactly on an hour or on midnight; every
    # third one signs up, every fifth one buys.
    starts = [midnight - timedelta(days=2) + 37 * MIN * i for i in range(3 * 24 * 60 // 37)]
    starts += [midnight, midnight - timedelta(days=1), midnight + 60 * MIN]
    rows: list[TableRow] = []
    for i, at in enumerate(starts):
        sid = str(uuid.uuid4())
        device = ("desktop", "mobile", "tablet")[i % 3]
        rows.append(
            click(session_id=sid, timestamp=at, device_type=device, ico_website_id=1 + i % 2)
        )
        if i % 3 == 0:
            rows.append(registration(session_id=sid, timestamp=at, ico_website_id=1 + i % 2))
        if i % 5 == 0:
            rows.append(conversion(session_id=sid, timestamp=at + MIN, ico_website_id=1 + i % 2))
    _store(url, rows)
    ranges = [
        (midnight - timedelta(days=1), midnight),  # a whole day, and the session at its end
        (midnight - timedelta(days=2), midnight + timedelta(days=1)),
        (midnight - timedelta(days=1, minutes=10), midnight + 130 * MIN),
        (midnight - timedelta(days=2) + 7 * MIN, midnight + timedelta(hours=20, minutes=3)),
        (midnight + 10 * MIN, midnight + 50 * MIN),  # within one hour
        (midnight - 10 * MIN, midnight + 10 * MIN),  # across midnight
        (midnight + 60 * MIN, midnight + 60 * MIN),  # one instant, with a session on it
        (midnight - timedelta(hours=5), midnight - timedelta(hours=2)),  # whole hours only
    ]
    with psycopg.connect(url) as conn:
        assert session_rollup_differences(conn) == []
        for a, b in ranges:
            for i, (rollup, exact) in enumerate(BETWEEN):
                got = sorted(conn.execute(rollup, {"a": a, "b": b}).fetchall(), key=repr)
                want = sorted(conn.execute(exact, {"a": a, "b": b}).fetchall(), key=repr)
                assert got == want, (a, b, rollup)
                assert want or i == 2, (a, b)  # every range holds sessions
