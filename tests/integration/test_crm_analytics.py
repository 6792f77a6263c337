"""Attribution and weekly retention over three weeks of generated traffic (with visitors who
come back logged in), against a recomputation from the generated events."""

from __future__ import annotations

import itertools
import time
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from bytewax.testing import TestingSource, run_main

from dataflows.pipeline import build_flow
from dataflows.records import RawRecord
from dataflows.sinks import PostgresSink
from generator.model import EventGenerator, to_wire
from ico_core.codec import Codec, LocalSchemas
from ico_core.settings import Settings
from tests.groundtruth import expected_from, expected_user_conversion, first_sign_ups

EVENTS = 30_000
SEED = 20261201
DAY_MS = 86_400_000


def _monday(at: datetime) -> date:
    day = at.date()
    return day - timedelta(days=day.weekday())


def _load(url: str) -> list[dict[str, Any]]:
    """Three weeks of events (one per simulated minute), through the whole flow into ``url``."""
    start_ms = int(time.time() * 1000) - 22 * DAY_MS
    events = list(
        itertools.islice(
            EventGenerator(
                seed=SEED, start_time_ms=start_ms, events_per_minute=1, data_quality_issues=False
            ),
            EVENTS,
        )
    )
    codec = Codec(LocalSchemas())
    records = [
        RawRecord(
            e.event_type.topic, 0, i, e.key.encode(), to_wire(e, codec), e.record["timestamp"]
        )
        for i, e in enumerate(events)
    ]
    settings = Settings()
    run_main(
        build_flow(TestingSource(records, batch_size=50), PostgresSink(url), settings=settings)
    )
    return [{"event_type": e.event_type.value, "fault": None, "record": e.record} for e in events]


def _rows(url: str, statement: str) -> list[dict[str, Any]]:
    with psycopg.connect(url) as conn, conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        return cur.execute(statement).fetchall()


def test_attribution_and_retention_match_a_recomputation(migrated_database_url: str) -> None:
    url = migrated_database_url
    lines = _load(url)
    sessions = expected_from(lines).sessions
    sources = {
        r["event_id"]: r["traffic_source"]
        for r in _rows(
            url, "SELECT event_id::text, traffic_source FROM raw_data.clickstream_events"
        )
    }

    # Attribution: a user's sessions in order; the first one's source and campaign, and each
    # session's own.
    by_user: dict[tuple[int, str], list[tuple[datetime, str, dict[str, Any]]]] = {}
    for (session_id, start), s in sessions.items():
        if s["user_id"] is not None:
            key = (s["ico_website_id"], s["user_id"])
            by_user.setdefault(key, []).append((start, session_id, s))
    want: dict[tuple[Any, ...], list[Any]] = {}
    returning_purchases = 0
    for visits in by_user.values():
        visits.sort(key=lambda v: (v[0], v[1]))
        first = visits[0][2]
        for start, _, s in visits:
            if s is not first and s["purchases"]:
                returning_purchases += 1
            for model, credited in (("first_touch", first), ("last_touch", s)):
                key = (
                    s["ico_website_id"],
                    start.date(),
                    model,
                    sources.get(credited["traffic_source"]),
                    credited["utm_campaign"],
                )
                totals = want.setdefault(key, [0, 0, Decimal(0)])
                totals[0] += s["signed_up"]
                totals[1] += s["purchases"]
                totals[2] += s["revenue_usd"]
    got = {
        (r["ico_website_id"], r["day"], r["model"], r["traffic_source"], r["utm_campaign"]): [
            r["registrations"],
            r["purchases"],
            r["revenue_usd"],
        ]
        for r in _rows(url, "SELECT * FROM analytics.attribution")
    }
    assert got == want
    # The two models differ: purchases on later visits credit the first visit's source.
    assert returning_purchases > 50

    # Retention: cohorts by sign-up week; per week since, who came back and who purchased.
    signed_up = first_sign_ups((line["event_type"], line["record"]) for line in lines)
    cohorts: dict[tuple[int, date], set[str]] = {}
    cohort_of: dict[tuple[int, str], date] = {}
    for (project, user), ts in signed_up.items():
        week = _monday(datetime.fromtimestamp(ts / 1000, tz=next(iter(sessions))[1].tzinfo))
        cohorts.setdefault((project, week), set()).add(user)
        cohort_of[(project, user)] = week
    newest = _monday(max(start for _, start in sessions))
    retention: dict[tuple[int, date, int], list[Any]] = {}
    for (project, week), users in cohorts.items():
        for k in range((newest - week).days // 7 + 1):
            retention[(project, week, k)] = [len(users), set(), set()]
    for (_, start), s in sessions.items():
        key = (s["ico_website_id"], s["user_id"])
        if key not in signed_up:
            continue
        signed_up_at = datetime.fromtimestamp(signed_up[key] / 1000, tz=start.tzinfo)
        if s["session_end"] < signed_up_at:
            continue
        week = cohort_of[key]
        counted_from = max(start, signed_up_at)  # the sign-up session counts from the sign-up
        cell = retention[(key[0], week, (_monday(counted_from) - week).days // 7)]
        if start > signed_up_at:
            cell[1].add(key[1])
        if s["purchased"]:
            cell[2].add(key[1])
    got_retention = {
        (r["ico_website_id"], r["cohort_week"], r["week"]): [
            r["cohort_users"],
            r["returned_users"],
            r["purchased_users"],
            r["returned_share"],
            r["purchased_share"],
        ]
        for r in _rows(url, "SELECT * FROM analytics.cohort_retention")
    }
    want_retention = {
        key: [size, len(back), len(bought), len(back) / size, len(bought) / size]
        for key, (size, back, bought) in retention.items()
    }
    assert got_retention == want_retention
    # Three weeks of cohorts, and people really come back in the weeks after signing up.
    assert {k[2] for k in want_retention} >= {0, 1, 2}
    assert sum(v[1] for k, v in want_retention.items() if k[2] >= 1) > 50

    # The user funnel across days: first wallet and first purchase after signing up, within 1
    # and 7 days, in any later visit.
    tz = next(iter(sessions))[1].tzinfo
    funnel = expected_user_conversion(lines, datetime.now(tz).date())
    got_funnel = {
        (r.pop("ico_website_id"), r.pop("day")): r
        for r in _rows(url, "SELECT * FROM analytics.user_conversion_now")
    }
    assert set(got_funnel) == set(funnel)
    for key, want in funnel.items():
        r = got_funnel[key]
        for hours in ("median_hours_to_purchase", "p90_hours_to_purchase"):
            assert r.pop(hours) == pytest.approx(want.pop(hours)), (key, hours)
        assert r == want, key
    # Some users buy days after signing up: the window spans days.
    assert sum(v["purchased_within_7d"] - v["purchased_within_1d"] for v in funnel.values()) > 10
