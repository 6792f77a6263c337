"""The dashboards are proven on real data: every panel, variable and alert-rule query of the
committed JSON is expanded as Grafana expands it and run as the Grafana role on a database the
pipeline filled, and the values are compared with a recomputation from the ground truth."""

from __future__ import annotations

import json
import math
import statistics
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
from PIL import Image
from psycopg import sql
from typer.testing import CliRunner

from dataflows.enrich import region_of
from ico_analytics.cli import app
from ico_analytics.dashboards import DASHBOARDS_DIR, out_of_sync, write
from ico_analytics.dashboards.build import (
    ALERT_RULES_FILE,
    DATASOURCE_UID,
    PROMETHEUS_UID,
    build_files,
    dashboards,
)
from ico_analytics.dashboards.grafana_sql import expand, panel_interval
from ico_analytics.dashboards.preview import (
    GrafanaQuery,
    QueryResult,
    promql_in,
    queries_in,
    run_queries,
)
from ico_analytics.dashboards.render import fmt, render_all
from ico_analytics.kpis import Kpi, align, run_kpi
from ico_analytics.services.postgres import LocalPostgres
from ico_core.db import migrate, refresh_kpis
from ico_core.db import query as named_query
from ico_core.errors import DashboardError
from ico_core.events import EventType
from ico_core.projects import load_projects
from tests.embedded import generated, run_into
from tests.groundtruth import (
    BAD_FAULTS,
    LEAD_TIERS,
    _percentile_cont,
    compare_experiments,
    expected_from,
    expected_lead_summary,
    expected_user_conversion,
    read_jsonl,
    valid_records,
)

EVENTS = 20_000
WEEKS_EVENTS = 30_000
SEED = 77
PURCHASES = {"presale_participate", "token_purchase"}
SOURCES = {"organic", "social", "referral", "paid", "email", "direct"}
#: How far a percentile of the page load histograms may be from the exact one (migration 0018):
#: each value is estimated by the geometric middle of its bucket, 5 % wide.
LOAD_TIME_REL_ERROR = math.sqrt(1.05) - 1
UIDS = ["ico-realtime", "ico-business", "ico-geography", "ico-performance", "ico-system"]


@dataclass
class Filled:
    url: str
    lines: list[dict[str, Any]]
    time_from: datetime
    time_to: datetime
    loaded_at: float  # epoch seconds once the pipeline finished


@pytest.fixture(scope="module")
def filled(
    postgres_server: LocalPostgres, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Filled]:
    """20,000 seeded events with faults, stamped over the 40 minutes that ended 5 minutes ago,
    through the embedded pipeline into a database of this module's own."""
    start_ms = (int(time.time()) - 45 * 60) * 1000
    truth = tmp_path_factory.mktemp("dashboards") / "truth.jsonl"
    with _pipeline_database(postgres_server, "dashboards", EVENTS, start_ms, truth) as url:
        # Whole hours back so every window starts inside; whole seconds, as Grafana's macros are.
        time_from = datetime.fromtimestamp(start_ms // 3_600_000 * 3600 - 3600, UTC)
        time_to = datetime.fromtimestamp(int(time.time()) + 60, UTC)
        yield Filled(url, read_jsonl(truth), time_from, time_to, time.time())


@contextmanager
def _pipeline_database(
    postgres_server: LocalPostgres,
    name: str,
    events: int,
    start_ms: int,
    truth: Path,
    simulated_events_per_minute: int | None = None,
) -> Iterator[str]:
    """A database of its own, migrated, holding ``events`` seeded events from ``start_ms``
    through the embedded pipeline (their ground truth in ``truth``) with the materialized
    views refreshed as the maintenance job does; dropped afterwards."""
    with psycopg.connect(postgres_server.url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = postgres_server.url_for(name)
    migrate(url)
    run_into(
        url,
        generated(events, SEED, start_ms),
        truth,
        simulated_events_per_minute=simulated_events_per_minute,
    )
    refresh_kpis(url)
    try:
        yield url
    finally:
        with psycopg.connect(postgres_server.url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(scope="module")
def results(filled: Filled) -> dict[str, QueryResult]:
    queries = queries_in(DASHBOARDS_DIR)
    run = run_queries(filled.url, queries, time_from=filled.time_from, time_to=filled.time_to)
    return {r.query.title: r for r in run}


def _rows(result: QueryResult) -> list[dict[str, Any]]:
    return [dict(zip(result.columns, row, strict=True)) for row in result.rows]


def _ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


def test_committed_files_are_what_the_code_builds() -> None:
    assert out_of_sync() == []
    result = CliRunner().invoke(app, ["dashboards", "check"])
    assert result.exit_code == 0, result.output


def test_check_reports_drift_and_build_repairs_it(tmp_path: Path) -> None:
    write(tmp_path)
    business = tmp_path / "ico-business.json"
    business.write_text(business.read_text().replace("Sessions started", "Sessions begun"))
    (tmp_path / "old.json").write_text("{}")
    (tmp_path / "alert-rules.json").unlink()
    assert out_of_sync(tmp_path) == [
        "ico-business.json: differs from the build",
        "alert-rules.json: missing",
        "old.json: not built by the code",
    ]
    assert sorted(write(tmp_path)) == ["alert-rules.json", "ico-business.json", "old.json"]
    assert out_of_sync(tmp_path) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(build_files())


def test_five_linked_dashboards_read_the_provisioned_datasources() -> None:
    queries = queries_in(DASHBOARDS_DIR)
    # Results are looked up by title: only the shared project picker repeats, identically.
    titles = Counter(q.title for q in queries)
    assert {t for t, n in titles.items() if n > 1} == {"variable project"}
    assert len({q.sql for q in queries if q.title == "variable project"}) == 1
    assert {q.file for q in queries} == set(build_files())
    assert DATASOURCE_UID == "ico-postgres" and PROMETHEUS_UID == "ico-prometheus"
    boards = {b.uid: b for b in dashboards()}
    assert sorted(boards) == sorted(UIDS)
    for uid, board in boards.items():
        content = build_files()[f"{uid}.json"]
        assert content.count('"uid": "ico-postgres"') > 1, uid
        # Each links to the others by their common tag, keeping the range and the project.
        (link,) = board.links or []
        assert link.tags == board.tags == ["ico-analytics"]
        assert link.include_vars and link.keep_time
    assert '"uid": "ico-prometheus"' in build_files()["ico-system.json"]
    assert sum(q.title.startswith("alert ") for q in queries) == 5
    assert [q.title for q in promql_in(DASHBOARDS_DIR) if q.title.startswith("alert ")] == [
        "alert Kafka consumer lag above 10,000",
        "alert Dataflow down",
        "alert PostgreSQL sink stalled",
        "alert Duplicate look-up failing",
        "alert Late duplicates above 5%",
    ]
    geo = json.loads(build_files()["ico-geography.json"])
    (geomap,) = [p for p in geo["panels"] if p["type"] == "geomap"]
    assert geomap["options"]["layers"][0]["location"] == {
        "mode": "lookup",
        "lookup": "Country",
        "gazetteer": "public/gazetteer/countries.json",
    }


def test_panels_fit_the_grid_without_overlapping() -> None:
    """Grafana's grid is 24 columns wide; a panel past the edge or over another is moved
    about by Grafana, not shown where the code puts it."""
    for name, content in build_files().items():
        if name == ALERT_RULES_FILE:
            continue
        cells: dict[tuple[int, int], str] = {}
        for panel in json.loads(content)["panels"]:
            pos = panel["gridPos"]
            assert pos["x"] >= 0 and pos["x"] + pos["w"] <= 24, (name, panel["title"], pos)
            for x in range(pos["x"], pos["x"] + pos["w"]):
                for y in range(pos["y"], pos["y"] + pos["h"]):
                    assert (x, y) not in cells, (name, panel["title"], cells[(x, y)])
                    cells[(x, y)] = panel["title"]


def test_macros_expand_as_grafana_does() -> None:
    start = datetime(2026, 3, 1, 12, 0, 5, 900_000, tzinfo=UTC)
    end = start + timedelta(hours=1)
    text = 'WHERE $__timeFilter("timestamp") AND x > $__timeFrom() AND id IN ($project)'
    assert expand(text, time_from=start, time_to=end, variables={"project": ["1", "o'k"]}) == (
        "WHERE \"timestamp\" BETWEEN '2026-03-01T12:00:05Z' AND '2026-03-01T13:00:05Z' "
        "AND x > '2026-03-01T12:00:05Z' AND id IN ('1','o''k')"
    )
    csv = expand(
        "IN (${project:csv})", time_from=start, time_to=end, variables={"project": ["3", "4"]}
    )
    assert csv == "IN (3,4)"
    every = expand(
        "x / $__interval_ms",
        time_from=start,
        time_to=end,
        variables={},
        interval=timedelta(minutes=10),
    )
    assert every == "x / 600000"
    for unsupported in ("$__timeGroup(t, '5m')", "$other", "${project:regex}", "$__interval_ms"):
        with pytest.raises(DashboardError):
            expand(unsupported, time_from=start, time_to=end, variables={"project": ["1"]})


def test_interval_is_grafanas_rounded_range_over_the_points() -> None:
    end = datetime(2026, 3, 1, 12, tzinfo=UTC)
    minute = timedelta(minutes=1)
    got = {
        hours: panel_interval(end - timedelta(hours=hours), end, 1200, minute)
        for hours in (1, 6, 24, 48, 24 * 7, 24 * 30)
    }
    assert got == {
        1: minute,  # 3 s, rounded to 2 s: the panel's minimum
        6: minute,  # 18 s: 20 s
        24: minute,  # 72 s: 1 minute
        48: 2 * minute,  # 144 s
        24 * 7: 10 * minute,  # 504 s
        24 * 30: 30 * minute,  # 36 minutes
    }
    per_interval = [q for q in queries_in(DASHBOARDS_DIR) if "$__interval_ms" in q.sql]
    assert sorted(q.title for q in per_interval) == [
        "Events per second",
        "Rejections by source",
        "Slow pages",
        "Stored events per minute",
    ]
    assert all(q.interval(end - timedelta(days=7), end) == 10 * minute for q in per_interval)


def _sessions_in_range(filled: Filled) -> list[dict[str, Any]]:
    """The ground truth's sessions that started in the dashboards' range."""
    exp = expected_from(filled.lines)
    return [
        {"session_start": start, **fields}
        for (_, start), fields in exp.sessions.items()
        if filled.time_from <= start <= filled.time_to
    ]


def test_business_panels_match_the_ground_truth(
    filled: Filled, results: dict[str, QueryResult]
) -> None:
    valid, _ = valid_records(filled.lines)
    clicks = [r for kind, r in valid if kind == "clickstream"]
    registrations = [r for kind, r in valid if kind == "registration"]
    conversions = [r for kind, r in valid if kind == "conversion"]
    purchases = [r for r in conversions if r["conversion_type"] in PURCHASES]
    sessions = _sessions_in_range(filled)
    revenue = sum(Decimal(str(r["amount_usd"])) for r in purchases)

    assert [tuple(r.values()) for r in _rows(results["variable project"])] == [
        (i, name) for i, name in enumerate(_project_names(filled.url), start=1)
    ]
    assert _rows(results["Sessions"]) == [{"Sessions": len(sessions)}]
    page_views = sum(r["event_type"] == "page_view" for r in clicks)
    totals = {
        "Page views": page_views,
        "Registrations": len(registrations),
        "Purchases": len(purchases),
        "Revenue": revenue,
    }
    for title in ("Page views", "Registrations", "Purchases", "Revenue"):
        assert _rows(results[title]) == [totals]
    buyers = [s for s in sessions if s["purchased"]]
    (conversion,) = _rows(results["Buyer conversion"])
    assert float(conversion["Buyer conversion"]) == pytest.approx(100 * len(buyers) / len(sessions))

    by_project = _rows(results["Events by project"])
    assert sum(r["value"] for r in by_project) == len(valid)
    assert {r["metric"] for r in by_project} == set(_project_names(filled.url))
    traffic = _rows(results["Page views and sessions"])
    assert sum(r["Page views"] for r in traffic) == page_views
    assert [r["time"] for r in traffic] == sorted({r["time"] for r in by_project})
    assert sum(r["Revenue"] for r in _rows(results["Revenue and purchases per hour"])) == revenue

    steps = [
        ("Visited", len(sessions)),
        ("Registered", sum(s["signed_up"] for s in sessions)),
        ("Connected a wallet", sum(s["wallet_connected"] for s in sessions)),
        ("Bought tokens", len(buyers)),
    ]
    assert 0 < steps[3][1] < steps[2][1] < steps[1][1] < steps[0][1]
    funnel = _rows(results["Token-sale funnel"])
    assert [(r["Stage"], r["Sessions"]) for r in funnel] == steps
    assert funnel == _rows(results["Funnel conversion rates"])
    assert funnel[0]["Of previous step"] is None
    for before, row, (_, n) in zip(steps, funnel[1:], steps[1:], strict=False):
        assert float(row["Of previous step"]) == pytest.approx(100 * n / before[1])
        assert float(row["Of visitors"]) == pytest.approx(100 * n / len(sessions))

    with psycopg.connect(filled.url) as conn:
        row = conn.execute(
            "SELECT sum(target_raise_usd) FROM processed_data.ico_websites"
        ).fetchone()
    assert row is not None
    daily: dict[datetime, Decimal] = defaultdict(Decimal)
    for r in purchases:
        day = datetime.fromtimestamp(r["timestamp"] // 86_400_000 * 86_400, UTC)
        daily[day] += Decimal(str(r["amount_usd"]))
    got = _rows(results["Revenue per day against target raise"])
    assert {r["time"]: r["Revenue"] for r in got} == daily
    for r in got:
        assert float(r["Of target raise"]) == pytest.approx(float(100 * daily[r["time"]] / row[0]))


def test_daily_kpis_match_the_ground_truth(filled: Filled, results: dict[str, QueryResult]) -> None:
    valid, _ = valid_records(filled.lines)
    expected: dict[Any, Counter[str]] = defaultdict(Counter)
    revenue: dict[Any, Decimal] = defaultdict(Decimal)
    for kind, r in valid:
        day = datetime.fromtimestamp(r["timestamp"] / 1000, UTC).date()
        if kind == "clickstream":
            expected[day]["Page views"] += r["event_type"] == "page_view"
        elif kind == "registration":
            expected[day]["Registrations"] += 1
        elif r["conversion_type"] in PURCHASES:
            expected[day]["Purchases"] += 1
            revenue[day] += Decimal(str(r["amount_usd"]))
    for (_, start), session in expected_from(filled.lines).sessions.items():
        counts = expected[start.date()]
        counts["Sessions"] += 1
        counts["bounces"] += session["bounce"]
        counts["purchased"] += session["purchased"]
    got = _rows(results["Daily KPIs"])
    assert [r["Day"] for r in got] == sorted(expected, reverse=True)
    for row in got:
        want = expected[row["Day"]]
        assert {k: row[k] for k in ("Sessions", "Page views", "Registrations", "Purchases")} == {
            k: want[k] for k in ("Sessions", "Page views", "Registrations", "Purchases")
        }
        assert row["Revenue"] == revenue[row["Day"]]
        assert float(row["Bounce rate"]) == pytest.approx(100 * want["bounces"] / want["Sessions"])
        assert float(row["Buyer conversion"]) == pytest.approx(
            100 * want["purchased"] / want["Sessions"]
        )


def test_experiments_panel_shows_the_proven_results(
    filled: Filled, results: dict[str, QueryResult]
) -> None:
    exp = expected_from(filled.lines)
    experiments = {p.id: p.landing_experiment for p in load_projects()}
    assert compare_experiments(filled.url, exp, experiments) == []  # the view is right
    names = _project_names(filled.url)
    with psycopg.connect(filled.url) as conn:
        view = conn.execute(
            "SELECT ico_website_id, experiment_id, variant, visitors, conversions, rate, lift,"
            " p_value, diff_ci_low, sample_ratio_mismatch FROM analytics.experiment_results"
            " ORDER BY ico_website_id, variant"
        ).fetchall()
    got = _rows(results["Landing-page experiments"])
    assert len(got) == len(view) == 40  # two arms of each project's experiment
    for row, (site, experiment, variant, visitors, conversions, rate, lift, p, low, srm) in zip(
        got, view, strict=True
    ):
        assert (row["Project"], row["Experiment"], row["Variant"]) == (
            names[site - 1],
            experiment,
            variant,
        )
        assert (row["Visitors"], row["Sign-ups"]) == (visitors, conversions)
        assert float(row["Rate"]) == pytest.approx(100 * rate)
        assert row["p-value"] == p and row["Sample ratio"] == ("mismatch" if srm else "ok")
        if variant == "B":
            assert float(row["Lift"]) == pytest.approx(100 * lift)
            assert float(row["Difference from"]) == pytest.approx(100 * low)
        else:
            assert row["Lift"] is None and row["Difference from"] is None


def _check_leads_and_conversion(
    url: str,
    lines: list[dict[str, Any]],
    results: dict[str, QueryResult],
    time_from: datetime,
    time_to: datetime,
    projects: set[int],
) -> tuple[dict[tuple[int, str], Counter[str]], dict[tuple[int, date], dict[str, Any]]]:
    """The Leads and Time to convert panels' rows against the recomputation for the UTC days
    touching the range and the ``projects``; returns what was expected, for further checks."""
    names = _project_names(url)
    days = {
        time_from.date() + timedelta(days=n)
        for n in range((time_to.date() - time_from.date()).days + 1)
    }
    with psycopg.connect(url) as conn:
        # The dataflow's source of each stored page event (its rules are tested on their own).
        sources = dict(
            conn.execute("SELECT event_id::text, traffic_source FROM raw_data.clickstream_events")
        )
    leads: dict[tuple[int, str], Counter[str]] = defaultdict(Counter)
    for (site, day, source), counts in expected_lead_summary(expected_from(lines), sources).items():
        if day in days and site in projects and source != "all":
            leads[(site, source)].update(
                {
                    k: counts[k]
                    for k in ("registrations", "kyc_completed", "consenting", *LEAD_TIERS)
                }
            )
    got = _rows(results["Leads"])
    assert [(r["Project"], r["Source"], r["Leads"]) for r in got] == [
        (names[site - 1], source, c["registrations"])
        for (site, source), c in sorted(
            leads.items(), key=lambda i: (i[0][0], -i[1]["registrations"], i[0][1])
        )
    ]
    for row in got:
        want = leads[(names.index(row["Project"]) + 1, row["Source"])]
        for column, key in (
            ("KYC completed", "kyc_completed"),
            ("Consenting", "consenting"),
            ("Basic tier", "basic"),
            ("Advanced tier", "advanced"),
            ("Premium tier", "premium"),
        ):
            assert float(row[column]) == pytest.approx(100 * want[key] / want["registrations"]), (
                row,
                column,
            )

    conversion = {
        key: c
        for key, c in expected_user_conversion(lines, datetime.now(UTC).date()).items()
        if key[1] in days and key[0] in projects
    }
    got = _rows(results["Time to convert"])
    assert [(r["Sign-up day"], r["Project"]) for r in got] == [
        (day, names[site - 1])
        for site, day in sorted(conversion, key=lambda k: (-k[1].toordinal(), k[0]))
    ]
    for row in got:
        want = conversion[(names.index(row["Project"]) + 1, row["Sign-up day"])]
        users = want["signed_up_users"]
        assert row["Signed up"] == users
        assert float(row["Bought within 1 day"]) == pytest.approx(
            100 * want["purchased_within_1d"] / users
        )
        assert float(row["Bought within 7 days"]) == pytest.approx(
            100 * want["purchased_within_7d"] / users
        )
        assert row["Median hours"] == pytest.approx(want["median_hours_to_purchase"])
        assert row["p90 hours"] == pytest.approx(want["p90_hours_to_purchase"])
        assert row["Window"] == ("open" if want["open_window"] else "closed")
    return leads, conversion


def test_lead_and_conversion_panels_match_the_ground_truth(
    filled: Filled, results: dict[str, QueryResult]
) -> None:
    leads, conversion = _check_leads_and_conversion(
        filled.url, filled.lines, results, filled.time_from, filled.time_to, set(range(1, 21))
    )
    assert sum(c["registrations"] for c in leads.values()) == len(
        expected_from(filled.lines).registrations
    )
    assert {source for _, source in leads} <= SOURCES | {"unknown"}
    assert len({source for _, source in leads}) > 2
    # The data is minutes old: every sign-up day's 7 days are still open.
    assert conversion and all(c["open_window"] for c in conversion.values())
    # Users do buy after signing up, so the rates and hours are not vacuous.
    assert sum(c["purchased_within_7d"] for c in conversion.values()) > 10
    assert sum(c["median_hours_to_purchase"] is not None for c in conversion.values()) > 5


@pytest.fixture(scope="module")
def weeks(
    postgres_server: LocalPostgres, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Filled]:
    """30,000 seeded events with faults at one per simulated minute (three weeks) up to a day
    ago: sign-up days whose 7 days are over and others still open, purchases days after."""
    start_ms = (int(time.time()) - 22 * 86_400) * 1000
    truth = tmp_path_factory.mktemp("weeks") / "truth.jsonl"
    with _pipeline_database(
        postgres_server, "dashboards_weeks", WEEKS_EVENTS, start_ms, truth, 1
    ) as url:
        now = datetime.fromtimestamp(int(time.time()), UTC)
        yield Filled(url, read_jsonl(truth), now - timedelta(days=22), now, time.time())


def test_lead_and_conversion_panels_filter_days_and_projects_over_weeks(weeks: Filled) -> None:
    queries = [q for q in queries_in(DASHBOARDS_DIR) if q.title in ("Leads", "Time to convert")]
    # From noon 15 days ago to noon 4 days ago: whole days on either side stay out.
    time_from = (weeks.time_to - timedelta(days=15)).replace(hour=12, minute=0, second=0)
    time_to = time_from + timedelta(days=11)
    projects = {2, 5, 11}
    run = run_queries(
        weeks.url, queries, time_from=time_from, time_to=time_to, projects=sorted(projects)
    )
    leads, conversion = _check_leads_and_conversion(
        weeks.url,
        weeks.lines,
        {r.query.title: r for r in run},
        time_from,
        time_to,
        projects,
    )
    assert {site for site, _ in leads} == projects
    # The filter had something to leave out: sign-up days before and after the range.
    signed_up_days = {day for _, day in expected_user_conversion(weeks.lines, time_to.date())}
    assert min(signed_up_days) < time_from.date() and max(signed_up_days) > time_to.date()
    assert len({day for _, day in conversion}) >= 10
    # Days whose 7 days are over and days still open, each said so.
    assert {c["open_window"] for c in conversion.values()} == {True, False}
    # Some of these users bought days after signing up: the 1-day and 7-day rates differ.
    assert sum(c["purchased_within_7d"] - c["purchased_within_1d"] for c in conversion.values()) > 0


def test_leaderboard_and_audience_match_the_ground_truth(
    filled: Filled, results: dict[str, QueryResult]
) -> None:
    valid, _ = valid_records(filled.lines)
    names = _project_names(filled.url)
    sessions = _sessions_in_range(filled)
    visitors = Counter(s["ico_website_id"] for s in sessions)
    loads: dict[int, list[float]] = defaultdict(list)
    signups: Counter[int] = Counter()
    bought: Counter[int] = Counter()
    revenue: dict[int, Decimal] = defaultdict(Decimal)
    for kind, r in valid:
        site = r["ico_website_id"]
        if kind == "clickstream":
            if r["event_type"] == "page_view":
                loads[site].append(r["page_load_time"])
        elif kind == "registration":
            signups[site] += 1
        elif r["conversion_type"] in PURCHASES:
            bought[site] += 1
            revenue[site] += Decimal(str(r["amount_usd"]))

    with psycopg.connect(filled.url) as conn:
        targets = dict(conn.execute("SELECT id, target_raise_usd FROM processed_data.ico_websites"))
        # The dataflow sets a session's traffic source (from its first event's UTM tags and
        # referrer); the panel must count each stored session once, under that source.
        stored_sources = Counter(
            source
            for (source,) in conn.execute(
                "SELECT coalesce(traffic_source, 'unknown') FROM analytics.sessions"
            )
        )
    board = _rows(results["Project leaderboard"])
    assert [r["Project"] for r in board] == sorted(
        names, key=lambda n: (-revenue[names.index(n) + 1], names.index(n))
    )
    for row in board:
        site = names.index(row["Project"]) + 1
        assert row["Sessions"] == visitors[site]
        assert row["Registrations"] == signups[site]
        assert row["Purchases"] == bought[site]
        assert row["Revenue"] == revenue[site]
        assert math.isclose(row["Avg page load"], statistics.fmean(loads[site]), rel_tol=1e-9)
        assert float(row["Raise progress"]) == pytest.approx(
            float(100 * revenue[site] / targets[site])
        )

    assert {r["Device"]: r["Sessions"] for r in _rows(results["Devices"])} == Counter(
        s["device_type"] or "unknown" for s in sessions
    )
    sources = {r["Source"]: r["Sessions"] for r in _rows(results["Traffic sources"])}
    assert set(sources) <= SOURCES | {"unknown"}
    assert sources == stored_sources and sum(sources.values()) == len(sessions)


def test_page_load_panel_matches_the_windows(
    filled: Filled, results: dict[str, QueryResult]
) -> None:
    exp = expected_from(filled.lines)
    five = timedelta(minutes=5)
    loads: dict[datetime, list[float]] = defaultdict(list)
    valid, _ = valid_records(filled.lines)
    for kind, r in valid:
        if kind == "clickstream" and r["event_type"] == "page_view":
            ts = r["timestamp"] - r["timestamp"] % 300_000
            loads[datetime.fromtimestamp(ts / 1000, UTC)].append(r["page_load_time"])
    rows = _rows(results["Page load time"])
    assert len(rows) == len({start for (_, length, start) in exp.aggregates if length == five})
    for row in rows:
        worst = max(
            a["p95_page_load_time"]
            for (_, length, start), a in exp.aggregates.items()
            if length == five and start == row["time"] and a["p95_page_load_time"] is not None
        )
        assert math.isclose(row["Mean"], statistics.fmean(loads[row["time"]]), rel_tol=1e-9)
        assert math.isclose(row["Worst project p95"], worst, rel_tol=1e-9)


def test_system_and_data_quality_panels_match_the_ground_truth(
    filled: Filled, results: dict[str, QueryResult]
) -> None:
    valid, dead = valid_records(filled.lines)
    kinds = Counter(kind for kind, _ in valid)
    newest = {kind: max(r["timestamp"] for k, r in valid if k == kind) / 1000 for kind in kinds}
    label = {
        "clickstream": "Clickstream",
        "registration": "Registrations",
        "conversion": "Conversions",
    }

    freshness = {r["Kind"]: float(r["Seconds behind"]) for r in _rows(results["Freshness"])}
    assert set(freshness) == set(label.values())
    for kind, name in label.items():
        # Behind by at least what the data was at load time, and not by much more since.
        assert filled.loaded_at - newest[kind] - 5 <= freshness[name]
        assert freshness[name] <= time.time() - newest[kind] + 5

    stored: Counter[str] = Counter()
    for row in _rows(results["Stored events per minute"]):
        stored[row["metric"]] += row["value"]
    assert stored == Counter({label[k]: n for k, n in kinds.items()})

    assert _rows(results["Dead letters"]) == [{"Dead letters": len(dead)}]
    by_topic: Counter[str] = Counter()
    for row in _rows(results["Rejections by source"]):
        by_topic[row["metric"]] += row["value"]
    assert by_topic == _dead_letters_by_topic(filled.lines)
    reasons = _rows(results["Why records were refused"])
    assert 0 < len(reasons) <= 20
    assert all(not any(ch.isdigit() for ch in r["Reason"]) for r in reasons)
    assert [r["Records"] for r in reasons] == sorted((r["Records"] for r in reasons), reverse=True)

    with psycopg.connect(filled.url) as conn:
        lineage = conn.execute("SELECT count(*) FROM analytics.data_lineage").fetchone()
    assert lineage is not None and len(results["Data lineage"].rows) == lineage[0] > 0


def test_alert_queries_evaluate_on_their_own_lookback(filled: Filled) -> None:
    alerts = [q for q in queries_in(DASHBOARDS_DIR) if q.lookback is not None]
    valid, _ = valid_records(filled.lines)
    now = int(time.time())  # evaluated as Grafana would now, over [now - lookback, now]
    at = datetime.fromtimestamp(now, UTC)
    got = {
        r.query.title: _rows(r)[0]
        for r in run_queries(filled.url, alerts, time_from=at, time_to=at)
    }

    newest = max(r["timestamp"] for kind, r in valid if kind == "clickstream") / 1000
    stalled = float(got["alert Events stopped arriving"]["seconds_since_last_event"])
    assert stalled == pytest.approx(time.time() - newest, abs=5)

    # Arrival times are physical, not in the ground truth: read them back.
    with psycopg.connect(filled.url) as conn:
        arrivals = [
            t.timestamp() for (t,) in conn.execute("SELECT received_at FROM raw_data.dead_letters")
        ]
    refused = sum(now - 600 <= t <= now for t in arrivals)
    stored = sum((now - 600) * 1000 <= r["timestamp"] <= now * 1000 for _, r in valid)
    assert refused > 0 and stored > 0  # the data's last 5 minutes and its dead letters
    share = float(got["alert Dead letters above 5%"]["dead_letter_share"])
    assert share == pytest.approx(100 * refused / (refused + stored))

    exp = expected_from(filled.lines)
    worst = max(
        a["p95_page_load_time"] or 0
        for (_, length, start), a in exp.aggregates.items()
        if length == timedelta(minutes=5) and (now - 900) * 1000 <= _ms(start) <= now * 1000
    )
    assert got["alert Page loads slow"]["worst_p95_page_load"] == pytest.approx(worst)


def test_anomaly_panel_and_alert_show_flagged_windows_only(filled: Filled) -> None:
    # Verdicts as the dataflow writes them (the flow's own tests prove the verdicts).
    now = datetime.fromtimestamp(int(time.time()), UTC)
    window = now.replace(second=0) - timedelta(minutes=now.minute % 5 + 10)
    verdicts = [
        (7, "events", window, 510.0, 102.0, True),
        (7, "revenue_usd", window, 0.0, 2300.0, False),  # flagged once, cleared by late events
        (3, "registrations", window - timedelta(minutes=5), 41.0, 9.5, True),
        (3, "events", window - timedelta(hours=2), 0.0, 90.0, True),  # before the lookback
    ]
    with psycopg.connect(filled.url) as conn:
        for site, metric, start, value, mean, flagged in verdicts:
            conn.execute(
                "INSERT INTO analytics.anomalies VALUES (%s, %s, %s, %s, %s, %s, 1, %s, %s, %s)",
                (site, metric, start, start + timedelta(minutes=5), value, mean,
                 value - mean, "spike" if value > mean else "drop", flagged),
            )  # fmt: skip
    try:
        names = _project_names(filled.url)
        queries = [q for q in queries_in(DASHBOARDS_DIR) if "nomal" in q.title]
        results = run_queries(filled.url, queries, time_from=now - timedelta(hours=1), time_to=now)
        by_title = {r.query.title: r for r in results}
        assert [
            (r["Window"], r["Project"], r["Metric"], r["Direction"], r["Value"])
            for r in _rows(by_title["Anomalies"])
        ] == [
            (window, names[6], "events", "spike", 510.0),
            (window - timedelta(minutes=5), names[2], "registrations", "spike", 41.0),
        ]
        only_3 = run_queries(
            filled.url, queries, time_from=now - timedelta(hours=1), time_to=now, projects=[3]
        )
        (panel,) = [r for r in only_3 if r.query.title == "Anomalies"]
        assert [r["Project"] for r in _rows(panel)] == [names[2]]
        # The alert looks back 30 minutes: both flagged windows, not the cleared one.
        assert _rows(by_title["alert Anomaly in a project's traffic or sales"]) == [
            {"anomalies": 2}
        ]
    finally:
        with psycopg.connect(filled.url) as conn:
            conn.execute("DELETE FROM analytics.anomalies")


def test_queries_run_as_the_read_only_grafana_role(filled: Filled) -> None:
    write_attempt = GrafanaQuery("x.json", "sneaky", "DELETE FROM raw_data.dead_letters")
    with pytest.raises(DashboardError, match="read-only transaction"):
        run_queries(filled.url, [write_attempt], time_from=filled.time_from, time_to=filled.time_to)
    with psycopg.connect(filled.url, autocommit=True) as conn:
        conn.execute("CREATE TABLE public.secret (x int)")
    try:
        hidden = GrafanaQuery("x.json", "private", "SELECT * FROM public.secret")
        with pytest.raises(DashboardError, match="permission denied"):
            run_queries(filled.url, [hidden], time_from=filled.time_from, time_to=filled.time_to)
    finally:
        with psycopg.connect(filled.url, autocommit=True) as conn:
            conn.execute("DROP TABLE public.secret")


def test_named_kpis_match_the_ground_truth_and_run_as_the_dashboard_role(filled: Filled) -> None:
    valid, _ = valid_records(filled.lines)
    sessions = expected_from(filled.lines).sessions
    first = min(r["timestamp"] for _, r in valid) // 1000
    whole = (align(filled.time_from), align(filled.time_to))
    mid = align(datetime.fromtimestamp(first + 600, UTC))
    middle = (mid, mid + timedelta(minutes=15))
    for since, until in (whole, middle):
        events: Counter[int] = Counter()
        revenue: dict[int, Decimal] = defaultdict(Decimal)
        for kind, r in valid:
            if _ms(since) <= r["timestamp"] < _ms(until):
                events[r["ico_website_id"]] += 1
                if kind == "conversion" and r["conversion_type"] in PURCHASES:
                    revenue[r["ico_website_id"]] += Decimal(str(r["amount_usd"]))
        started = [(sid, s) for (sid, start), s in sessions.items() if since <= start < until]
        overlapping = [
            (sid, s)
            for (sid, start), s in sessions.items()
            if start < until and s["session_end"] >= since
        ]

        top = run_kpi(filled.url, Kpi.top_projects, since, until, limit=5)
        rows = [dict(zip(top.columns, row, strict=True)) for row in top.rows]
        assert [r["ico_website_id"] for r in rows] == sorted(
            range(1, 21), key=lambda site: (-revenue[site], site)
        )[:5]
        for r in rows:
            site = r["ico_website_id"]
            assert (r["events"], r["revenue_usd"]) == (events[site], revenue[site])
            assert r["sessions"] == sum(s["ico_website_id"] == site for _, s in started)

        active = run_kpi(filled.url, Kpi.active_users, since, until)
        for row in active.rows:
            r = dict(zip(active.columns, row, strict=True))
            mine = [
                (sid, s) for sid, s in overlapping if s["ico_website_id"] == r["ico_website_id"]
            ]
            assert r["active_users"] == len({s["user_id"] for _, s in mine if s["user_id"]})
            assert r["active_visitors"] == len({s["user_id"] or sid for sid, s in mine})
            assert r["sessions"] == len(mine)
        assert sum(row[2] for row in active.rows) > 0

        funnel = run_kpi(filled.url, Kpi.funnel, since, until)
        for row in funnel.rows:
            r = dict(zip(funnel.columns, row, strict=True))
            mine = [s for _, s in started if s["ico_website_id"] == r["ico_website_id"]]
            assert (r["sessions"], r["registered"], r["wallet_connected"], r["purchased"]) == (
                len(mine),
                sum(s["signed_up"] for s in mine),
                sum(s["wallet_connected"] for s in mine),
                sum(s["purchased"] for s in mine),
            )
            assert r["purchasing_users"] == len({s["user_id"] for s in mine if s["purchased"]})

    # The dashboard role may run every named query.
    with psycopg.connect(filled.url) as conn:
        conn.execute("SET ROLE grafana_reader")
        for kpi in Kpi:
            params = {"since": whole[0], "until": whole[1], "limit": 3}
            assert conn.execute(named_query(kpi.query_name), params).fetchall()
    cli = CliRunner().invoke(app, ["kpis", "top-projects", "--database-url", filled.url])
    assert cli.exit_code == 0 and "raise_progress" in cli.output, cli.output
    assert CliRunner().invoke(app, ["kpis", "nope", "--database-url", filled.url]).exit_code == 2


def test_preview_prints_every_query(filled: Filled) -> None:
    result = CliRunner().invoke(
        app, ["dashboards", "preview", "--database-url", filled.url, "--hours", "2", "--rows", "2"]
    )
    assert result.exit_code == 0, result.output
    for query in queries_in(DASHBOARDS_DIR):
        assert f"{query.file}: {query.title} (" in result.output


def _project_names(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        return [
            name
            for (name,) in conn.execute("SELECT name FROM processed_data.ico_websites ORDER BY id")
        ]


def _dead_letters_by_topic(lines: list[dict[str, Any]]) -> Counter[str]:
    """The topic of each record that must become a dead letter (as ``valid_records`` decides)."""
    bad: set[str] = set()
    topics: Counter[str] = Counter()
    for line in lines:
        canonical = json.dumps(line["record"], sort_keys=True)
        if line["fault"] in BAD_FAULTS or canonical in bad:
            bad.add(canonical)
            topics[EventType(line["event_type"]).topic] += 1
    return topics


def test_per_interval_panels_over_a_week_sum_the_minutes_exactly(
    filled: Filled, results: dict[str, QueryResult]
) -> None:
    """Over 7 days the panels grouped by Grafana's interval read 10-minute buckets (the
    5-minute counts, minute counts and raw partial minutes, the range's end being off the
    minute): each bucket holds exactly the ground truth's events, and the rejections exactly
    the 1-minute panel's counts of its minutes."""
    end = filled.time_to
    since = end - timedelta(days=7)
    queries = [q for q in queries_in(DASHBOARDS_DIR) if "$__interval_ms" in q.sql]
    bucket = timedelta(minutes=10)
    assert {q.interval(since, end) for q in queries} == {bucket}
    got = {
        r.query.title: _rows(r)
        for r in run_queries(filled.url, queries, time_from=since, time_to=end)
    }
    origin = datetime(2000, 1, 1, tzinfo=UTC)

    def bucket_of(ms: int) -> datetime:
        at = datetime.fromtimestamp(ms / 1000, UTC)
        return origin + (at - origin) // bucket * bucket

    valid, _ = valid_records(filled.lines)
    label = {
        "clickstream": "Clickstream",
        "registration": "Registrations",
        "conversion": "Conversions",
    }
    counts: Counter[tuple[datetime, str]] = Counter()
    views: dict[datetime, list[float]] = defaultdict(list)
    for kind, r in valid:
        if _in(r, since, end):
            counts[(bucket_of(r["timestamp"]), label[kind])] += 1
            timed = r.get("event_type") == "page_view" and r.get("page_load_time") is not None
            if kind == "clickstream" and timed:
                views[bucket_of(r["timestamp"])].append(r["page_load_time"])
    assert len({at for at, _ in counts}) > 3  # the data's 40 minutes span several buckets
    stored = {(r["time"], r["metric"]): r["value"] for r in got["Stored events per minute"]}
    assert stored == {key: Decimal(n) / 10 for key, n in counts.items()}
    rates = {(r["time"], r["metric"]): r["value"] for r in got["Events per second"]}
    assert rates.keys() == counts.keys()
    for key, n in counts.items():
        assert float(rates[key]) == pytest.approx(n / 600, rel=1e-12)
    slow = {r["time"]: float(r["Slow pages"]) for r in got["Slow pages"]}
    assert slow.keys() == views.keys()
    for at, loads in views.items():
        assert slow[at] == pytest.approx(100 * sum(v > 3 for v in loads) / len(loads), rel=1e-12)

    per_minute: Counter[tuple[datetime, str]] = Counter()
    for row in _rows(results["Rejections by source"]):
        per_minute[(bucket_of(_ms(row["time"])), row["metric"])] += row["value"]
    rejections = {(r["time"], r["metric"]): r["value"] for r in got["Rejections by source"]}
    assert rejections == {key: Decimal(n) / 10 for key, n in per_minute.items()}
    assert sum(per_minute.values()) == sum(_dead_letters_by_topic(filled.lines).values())


def _in(record: dict[str, Any], start: datetime, end: datetime) -> bool:
    """``$__timeFilter``: both ends included."""
    return _ms(start) <= record["timestamp"] <= _ms(end)


def test_realtime_panels_match_the_ground_truth(filled: Filled) -> None:
    valid, _ = valid_records(filled.lines)
    # "Now" is the data's last second, so the last 5 minutes hold traffic.
    end = datetime.fromtimestamp(max(r["timestamp"] for _, r in valid) // 1000 + 1, UTC)
    queries = [q for q in queries_in(DASHBOARDS_DIR) if q.file == "ico-realtime.json"]
    got = {
        r.query.title: _rows(r)
        for r in run_queries(filled.url, queries, time_from=end - timedelta(hours=1), time_to=end)
    }
    clicks = [r for kind, r in valid if kind == "clickstream"]

    def active(minutes: int) -> int:
        since = _ms(end - timedelta(minutes=minutes))
        return len({r["session_id"] for r in clicks if since < r["timestamp"] <= _ms(end)})

    counts = {"Last 5 minutes": active(5), "Last 30 minutes": active(30)}
    assert 0 < counts["Last 5 minutes"] < counts["Last 30 minutes"]
    assert got["Active visitors (5 min)"] == got["Active visitors (30 min)"] == [counts]

    label = {
        "clickstream": "Clickstream",
        "registration": "Registrations",
        "conversion": "Conversions",
    }
    per_minute: Counter[tuple[datetime, str]] = Counter()
    for kind, r in valid:
        if _in(r, end - timedelta(hours=1), end):
            minute = datetime.fromtimestamp(r["timestamp"] // 60_000 * 60, UTC)
            per_minute[(minute, label[kind])] += 1
    rates = {(r["time"], r["metric"]): r["value"] for r in got["Events per second"]}
    assert rates.keys() == per_minute.keys()
    for key, n in per_minute.items():
        assert float(rates[key]) == pytest.approx(n / 60)

    names = _project_names(filled.url)
    purchases = sorted(
        (r for kind, r in valid if kind == "conversion" and r["conversion_type"] in PURCHASES),
        key=lambda r: (-r["timestamp"], r["conversion_id"]),
    )[:20]
    assert [
        (_ms(r["Time"]), r["Project"], r["Type"], r["Amount"], r["Paid with"])
        for r in got["Latest purchases"]
    ] == [
        (
            r["timestamp"],
            names[r["ico_website_id"] - 1],
            r["conversion_type"],
            Decimal(str(r["amount_usd"])),
            r["payment_method"],
        )
        for r in purchases
    ]


def test_geography_panels_match_the_ground_truth_and_the_period_before(filled: Filled) -> None:
    valid, _ = valid_records(filled.lines)
    first = min(r["timestamp"] for _, r in valid) // 1000
    # The second half of the data against the first half.
    t0 = datetime.fromtimestamp(first + 20 * 60, UTC)
    t1 = datetime.fromtimestamp(first + 40 * 60, UTC)
    p0 = t0 - (t1 - t0)
    queries = [q for q in queries_in(DASHBOARDS_DIR) if q.file == "ico-geography.json"]
    got = {
        r.query.title: _rows(r) for r in run_queries(filled.url, queries, time_from=t0, time_to=t1)
    }
    assert got["Sessions by country"] == got["Countries"]

    def now(r: dict[str, Any]) -> bool:
        return r["timestamp"] >= _ms(t0)

    for level, title in (("country", "Countries"), ("region", "Regions")):

        def key(country: str, level: str = level) -> tuple[str, ...]:
            return (country, region_of(country)) if level == "country" else (region_of(country),)

        sessions: Counter[tuple[tuple[str, ...], bool]] = Counter()
        signups: Counter[tuple[tuple[str, ...], bool]] = Counter()
        revenue: dict[tuple[tuple[str, ...], bool], Decimal] = defaultdict(Decimal)
        for kind, r in valid:
            if kind == "registration" and _ms(p0) <= r["timestamp"] <= _ms(t1):
                signups[(key(r["country"]), now(r))] += 1
        # A session counts, with its revenue, where and when it started.
        for (_, start), session in expected_from(filled.lines).sessions.items():
            if session["country"] is not None and p0 <= start <= t1:
                where = (key(session["country"]), start >= t0)
                sessions[where] += 1
                revenue[where] += session["revenue_usd"]

        def shift(current: float, before: float) -> float | None:
            return 100 * (current - before) / before if before else None

        keys = {k for k, _ in [*sessions, *signups, *revenue]}
        expected = []
        for k in keys:
            cur, prev = sessions[(k, True)], sessions[(k, False)]
            expected.append(
                (
                    *k,
                    cur,
                    shift(cur, prev),
                    signups[(k, True)],
                    shift(signups[(k, True)], signups[(k, False)]),
                    revenue[(k, True)],
                    shift(float(revenue[(k, True)]), float(revenue[(k, False)])),
                )
            )
        expected.sort(key=lambda e: (-e[len(k)], *e[: len(k)]))
        rows = [tuple(r.values()) for r in got[title]]
        assert [r[: len(k) + 1] for r in rows] == [e[: len(k) + 1] for e in expected], title
        for row, want in zip(rows, expected, strict=True):
            assert row[len(k) + 2] == want[len(k) + 2] and row[len(k) + 4] == want[len(k) + 4]
            for i in (len(k) + 1, len(k) + 3, len(k) + 5):
                assert (row[i] is None) == (want[i] is None), (title, row, want)
                if want[i] is not None:
                    assert float(row[i]) == pytest.approx(want[i]), (title, row, want)
    assert len(got["Regions"]) > 1 and len(got["Countries"]) > len(got["Regions"])


def _page_views(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The valid page views with a load time."""
    valid, _ = valid_records(lines)
    return [
        r
        for kind, r in valid
        if kind == "clickstream"
        and r["event_type"] == "page_view"
        and r["page_load_time"] is not None
    ]


def _check_page_load_panels(
    results: dict[str, QueryResult], views: list[dict[str, Any]], names: list[str]
) -> None:
    """The page load by project/page type/device panels against ``views``: the same rows, exact
    page views and slow shares, percentiles within the histograms' promise, slowest p95 first."""
    dimensions = {
        "Page load by project": ("Project", lambda r: names[r["ico_website_id"] - 1]),
        "Page load by page type": ("Page type", lambda r: r["page_type"]),
        "Page load by device": ("Device", lambda r: r["device_type"]),
    }
    for title, (column, of) in dimensions.items():
        loads: dict[str, list[float]] = defaultdict(list)
        for r in views:
            loads[of(r)].append(r["page_load_time"])
        rows = _rows(results[title])
        assert {r[column] for r in rows} == set(loads), title
        p95s = [r["p95"] for r in rows]
        assert p95s == sorted(p95s, reverse=True)
        for row in rows:
            values = loads[row[column]]
            for q, col in ((0.5, "p50"), (0.95, "p95"), (0.99, "p99")):
                exact = _percentile_cont(values, q)
                assert abs(row[col] - exact) <= LOAD_TIME_REL_ERROR * exact, (title, row, col)
            assert row["Page views"] == len(values)
            slow = 100 * sum(v > 3 for v in values) / len(values)
            assert float(row["Slow share"]) == pytest.approx(slow)


def test_page_load_panels_over_whole_days_match_the_ground_truth(weeks: Filled) -> None:
    """Over 10 days and a bit, mid-minute at both ends, for some projects: the whole days come
    from the day rows (migration 0026), the rest from hours, minutes and raw page views."""
    queries = [q for q in queries_in(DASHBOARDS_DIR) if q.title.startswith("Page load by")]
    time_from = (weeks.time_to - timedelta(days=15)).replace(hour=12, minute=7, second=31)
    time_to = time_from + timedelta(days=10, hours=7, seconds=49)
    projects = {2, 5, 11}
    run = run_queries(
        weeks.url, queries, time_from=time_from, time_to=time_to, projects=sorted(projects)
    )
    views = [
        r
        for r in _page_views(weeks.lines)
        if r["ico_website_id"] in projects
        and time_from <= datetime.fromtimestamp(r["timestamp"] / 1000, UTC) <= time_to
    ]
    assert len(views) > 500
    _check_page_load_panels({r.query.title: r for r in run}, views, _project_names(weeks.url))


def test_performance_panels_match_the_ground_truth(
    filled: Filled, results: dict[str, QueryResult]
) -> None:
    views = _page_views(filled.lines)
    _check_page_load_panels(results, views, _project_names(filled.url))

    per_minute: dict[datetime, list[float]] = defaultdict(list)
    for r in views:
        per_minute[datetime.fromtimestamp(r["timestamp"] // 60_000 * 60, UTC)].append(
            r["page_load_time"]
        )
    slow_pages = {r["time"]: float(r["Slow pages"]) for r in _rows(results["Slow pages"])}
    assert slow_pages.keys() == per_minute.keys()
    assert any(slow_pages.values())
    for minute, values in per_minute.items():
        assert slow_pages[minute] == pytest.approx(100 * sum(v > 3 for v in values) / len(values))


def test_database_panels_count_connections_and_size(filled: Filled) -> None:
    queries = [q for q in queries_in(DASHBOARDS_DIR) if q.title.startswith(("PostgreSQL", "Data"))]

    def connections() -> dict[str, int]:
        (result,) = [
            r
            for r in run_queries(
                filled.url, queries, time_from=filled.time_from, time_to=filled.time_to
            )
            if r.query.title == "PostgreSQL connections"
        ]
        return {r["User"]: r["Connections"] for r in _rows(result)}

    before = connections()
    extra = [psycopg.connect(filled.url) for _ in range(3)]
    try:
        after = connections()
    finally:
        for conn in extra:
            conn.close()
    assert after["postgres"] == before["postgres"] + 3
    with psycopg.connect(filled.url) as conn:
        row = conn.execute("SELECT pg_database_size(current_database())").fetchone()
    (size,) = [
        r
        for r in run_queries(
            filled.url, queries, time_from=filled.time_from, time_to=filled.time_to
        )
        if r.query.title == "Database size"
    ]
    assert row is not None and _rows(size)[0]["Database size"] == pytest.approx(row[0], rel=0.01)
    assert row[0] > 10_000_000  # the 20,000 events, their indexes and windows


def test_revenue_alert_compares_the_last_day_with_the_week_before(
    migrated_database_url: str,
) -> None:
    """Hourly windows over eight days: the rule's value is the last 24 hours' revenue in
    percent of the mean of the seven days before."""
    (rule,) = [
        q
        for q in queries_in(DASHBOARDS_DIR)
        if q.title == "alert Revenue below 80% of its baseline"
    ]
    assert rule.lookback == timedelta(days=8)
    now = datetime(2026, 3, 9, 12, 0, tzinfo=UTC)
    hourly = [40, 50, 30, 40, 45, 35, 40]  # days 7..1 before; mean 40 an hour, 960 a day
    rows = []
    for day, per_hour in enumerate([*hourly, 28]):
        for hour in range(24):
            start = now - timedelta(days=7 - day, hours=23 - hour)  # the last one starts now
            for site, share in ((1, Decimal("0.25")), (2, Decimal("0.75"))):
                rows.append((site, start, per_hour * share))
    with psycopg.connect(migrated_database_url) as conn:
        for site, start, revenue in rows:
            conn.execute(
                "INSERT INTO analytics.window_aggregates VALUES (%s, interval '1 hour', %s, %s, "
                "1, 0, 1, 0, 0, 1, 0, 1, %s, NULL, NULL)",
                (site, start, start + timedelta(hours=1), revenue),
            )

    def value(at: datetime) -> Any:
        (result,) = run_queries(migrated_database_url, [rule], time_from=at, time_to=at)
        return _rows(result)[0]["revenue_vs_baseline"]

    assert float(value(now)) == pytest.approx(70.0)  # under 80: the rule fires
    # A day later the 700 is part of the baseline and nothing is newer: 0 % of it.
    assert float(value(now + timedelta(days=1))) == pytest.approx(0.0)
    # Before the data there is no baseline: no value, so nothing to judge (no data = OK).
    assert value(now - timedelta(days=10)) is None


def test_render_draws_every_panel_of_every_dashboard(filled: Filled, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        [
            "dashboards",
            "render",
            "--database-url",
            filled.url,
            "--hours",
            "2",
            "--out",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    pictures = sorted(p.name for p in tmp_path.glob("*.png"))
    assert pictures == sorted(f"{uid}.png" for uid in UIDS)
    for name in pictures:
        with Image.open(tmp_path / name) as image:
            assert image.format == "PNG" and image.width == 1280 and image.height > 300
    # Panel by panel: the SQL ones drew what their queries return on the filled database.
    rendered = render_all(
        DASHBOARDS_DIR,
        tmp_path / "again",
        filled.url,
        time_from=filled.time_from,
        time_to=filled.time_to,
    )
    prom = {q.title.removesuffix(" A").removesuffix(" B") for q in promql_in(DASHBOARDS_DIR)}
    for picture in rendered:
        board = json.loads((DASHBOARDS_DIR / f"{picture.path.stem}.json").read_text())
        titles = [p["title"] for p in board["panels"] if p["type"] != "row"]
        assert list(picture.panels) == titles
        for title, rows in picture.panels.items():
            if title in prom:
                assert rows == 0  # no Prometheus given: named, not drawn
            elif title != "Anomalies":  # the pipeline flagged none in these 40 minutes
                assert rows > 0, (picture.path.name, title)
    assert "without data" in result.output


@pytest.mark.parametrize(
    ("value", "unit", "decimals", "shown"),
    [
        (Decimal("1367357.12"), "currencyUSD", None, "$1,367,357"),
        (12.5, "currencyUSD", None, "$12.50"),
        (7.3125, "percent", 2, "7.31%"),
        (1.4567, "s", None, "1.46 s"),
        (25 * 2**20, "bytes", None, "25.0 MiB"),
        (6.25, "reqps", None, "6.2/s"),
        (11541, "short", None, "11,541"),
        (None, "short", None, ""),
        ("mobile", None, None, "mobile"),
    ],
)
def test_render_formats_values_in_their_units(
    value: Any, unit: str | None, decimals: int | None, shown: str
) -> None:
    assert fmt(value, unit, decimals) == shown
