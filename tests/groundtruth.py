"""Expected database contents, recomputed independently from the generator's JSONL ground truth.

Deliberately naive (lists, sets, sorting) so it shares no code with the dataflow it checks.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg

from dataflows.enrich import region_of
from ico_core.pii import EmailSealer

BAD_FAULTS = {"missing_field", "malformed"}
ID_FIELD = {
    "clickstream": "event_id",
    "registration": "registration_id",
    "conversion": "conversion_id",
}
RAW_TABLE = {
    "clickstream": "raw_data.clickstream_events",
    "registration": "raw_data.user_registrations",
    "conversion": "raw_data.conversions",
}
WINDOWS = (300, 900, 3600)
PURCHASES = {"presale_participate", "token_purchase"}
SESSION_GAP_MS = 30 * 60 * 1000
SESSION_CAP_MS = 24 * 3600 * 1000
SESSION_COLUMNS = (
    "session_end, ico_website_id, user_id, duration_seconds, events, page_views, bounce, "
    "entry_page, exit_page, traffic_source, utm_source, utm_medium, utm_campaign, device_type, "
    "country, region, signed_up, wallet_connected, purchased, purchases, revenue_usd, seconds_to_wallet, "
    "seconds_to_purchase"
)


@dataclass
class Expected:
    raw_ids: dict[str, set[str]] = field(
        default_factory=lambda: {t: set() for t in RAW_TABLE.values()}
    )
    dead_letters: int = 0
    dead_letter_payload_records: list[str] = field(default_factory=list)
    aggregates: dict[tuple[int, timedelta, datetime], dict[str, Any]] = field(default_factory=dict)
    #: (session_id, session_start) -> columns; ``traffic_source`` holds the entry event's id,
    #: whose stored row gives the source (its rules are the enrichment's, tested on their own).
    sessions: dict[tuple[str, datetime], dict[str, Any]] = field(default_factory=dict)
    #: registration_id -> the registration's record, as generated.
    registrations: dict[str, dict[str, Any]] = field(default_factory=dict)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open() as f:
        return [json.loads(line) for line in f]


def _percentile_cont(values: list[float], q: float) -> float:
    ordered = sorted(values)
    pos = q * (len(ordered) - 1)
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def valid_records(lines: Iterable[dict[str, Any]]) -> tuple[list[tuple[str, Any]], list[str]]:
    """The (kind, record) of every event that must be stored, first copies only, and the
    canonical JSON of every record that must become a dead letter."""
    bad_records: set[str] = set()
    dead: list[str] = []
    seen: set[str] = set()
    valid: list[tuple[str, Any]] = []
    for line in lines:
        record = line["record"]
        canonical = json.dumps(record, sort_keys=True)
        # A duplicate of a faulty record is as faulty as the original.
        if line["fault"] in BAD_FAULTS or canonical in bad_records:
            bad_records.add(canonical)
            dead.append(canonical)
            continue
        kind = line["event_type"]
        event_id = record[ID_FIELD[kind]]
        if event_id not in seen:
            seen.add(event_id)
            valid.append((kind, record))
    return valid, dead


def _ms(ts: int) -> datetime:
    return datetime.fromtimestamp(ts / 1000, UTC)


def expected_sessions(valid: list[tuple[str, Any]]) -> dict[tuple[str, datetime], dict[str, Any]]:
    """Each session id's events in (time, id) order, split at gaps over 30 minutes and cut
    every 24 hours from a run's first event."""
    by_id: dict[str, list[tuple[int, str, str, Any]]] = {}
    for kind, record in valid:
        by_id.setdefault(record["session_id"], []).append(
            (record["timestamp"], record[ID_FIELD[kind]], kind, record)
        )
    sessions: dict[tuple[str, datetime], dict[str, Any]] = {}
    for session_id, events in by_id.items():
        events.sort(key=lambda e: (e[0], e[1]))
        groups: list[list[tuple[int, str, str, Any]]] = []
        run_start = prev = None
        for event in events:
            ts = event[0]
            if prev is None or ts - prev > SESSION_GAP_MS:
                run_start = ts
                groups.append([])
            elif (
                run_start is not None
                and (ts - run_start) // SESSION_CAP_MS
                != (groups[-1][-1][0] - run_start) // SESSION_CAP_MS
            ):
                groups.append([])
            groups[-1].append(event)
            prev = ts
        for group in groups:
            clicks = [r for _, _, kind, r in group if kind == "clickstream"]
            views = [r for r in clicks if r["event_type"] == "page_view"]
            entry = clicks[0] if clicks else None
            users = [r["user_id"] for _, _, _, r in group if r.get("user_id") is not None]
            conversions = [r for _, _, kind, r in group if kind == "conversion"]
            purchases = [r for r in conversions if r["conversion_type"] in PURCHASES]
            wallets = [r for r in conversions if r["conversion_type"] == "wallet_connect"]
            start, end = group[0][0], group[-1][0]
            sessions[(session_id, _ms(start))] = {
                "session_end": _ms(end),
                "ico_website_id": group[0][3]["ico_website_id"],
                "user_id": users[-1] if users else None,
                "duration_seconds": (end - start) / 1000,
                "events": len(group),
                "page_views": len(views),
                "bounce": len(views) == 1,
                "entry_page": views[0]["page_url"] if views else None,
                "exit_page": views[-1]["page_url"] if views else None,
                "traffic_source": entry and entry["event_id"],
                "utm_source": entry and entry["utm_source"],
                "utm_medium": entry and entry["utm_medium"],
                "utm_campaign": entry and entry["utm_campaign"],
                "device_type": entry and entry["device_type"],
                "country": entry and entry["country"],
                "region": entry and region_of(entry["country"]),
                "signed_up": any(kind == "registration" for _, _, kind, _ in group),
                "wallet_connected": bool(wallets),
                "purchased": bool(purchases),
                "purchases": len(purchases),
                "revenue_usd": Decimal(sum(round(r["amount_usd"] * 100) for r in purchases)) / 100,
                "seconds_to_wallet": wallets[0]["time_to_convert"] if wallets else None,
                "seconds_to_purchase": purchases[0]["time_to_convert"] if purchases else None,
            }
    return sessions


def expected_from(lines: Iterable[dict[str, Any]]) -> Expected:
    exp = Expected()
    valid, dead = valid_records(lines)
    exp.sessions = expected_sessions(valid)
    exp.dead_letters = len(dead)
    exp.dead_letter_payload_records = dead
    acc: dict[tuple[int, int, int], dict[str, Any]] = {}
    for kind, record in valid:
        exp.raw_ids[RAW_TABLE[kind]].add(record[ID_FIELD[kind]])
        if kind == "registration":
            exp.registrations[record["registration_id"]] = record
        ts = record["timestamp"]
        for length in WINDOWS:
            start = ts - ts % (length * 1000)
            a = acc.setdefault(
                (record["ico_website_id"], length, start),
                {
                    "events": 0,
                    "page_views": 0,
                    "sessions": set(),
                    "users": set(),
                    "registrations": 0,
                    "conversions": 0,
                    "wallet_connects": 0,
                    "purchases": 0,
                    "revenue_cents": 0,
                    "loads": [],
                    "countries": {},
                },
            )
            a["events"] += 1
            a["sessions"].add(record["session_id"])
            if record.get("user_id") is not None:
                a["users"].add(record["user_id"])
            if kind == "clickstream" and record["event_type"] == "page_view":
                a["page_views"] += 1
                if record["page_load_time"] is not None:
                    a["loads"].append(record["page_load_time"])
                countries = a["countries"]
                countries[record["country"]] = countries.get(record["country"], 0) + 1
            elif kind == "registration":
                a["registrations"] += 1
            elif kind == "conversion":
                a["conversions"] += 1
                if record["conversion_type"] == "wallet_connect":
                    a["wallet_connects"] += 1
                elif record["conversion_type"] in PURCHASES:
                    a["purchases"] += 1
                    a["revenue_cents"] += round(record["amount_usd"] * 100)
    for (site, length, start), a in acc.items():
        start_dt = datetime.fromtimestamp(start / 1000, UTC)
        loads = a["loads"]
        exp.aggregates[(site, timedelta(seconds=length), start_dt)] = {
            "window_end": start_dt + timedelta(seconds=length),
            "events": a["events"],
            "page_views": a["page_views"],
            "unique_sessions": len(a["sessions"]),
            "unique_users": len(a["users"]),
            "registrations": a["registrations"],
            "conversions": a["conversions"],
            "wallet_connects": a["wallet_connects"],
            "purchases": a["purchases"],
            "revenue_usd": Decimal(a["revenue_cents"]) / 100,
            "avg_page_load_time": sum(loads) / len(loads) if loads else None,
            "p95_page_load_time": _percentile_cont(loads, 0.95) if loads else None,
            "page_views_by_country": a["countries"],
        }
    return exp


def _close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


#: (minute, project, kind counts, timed and slow page views) of the raw tables, which the checks
#: above compare with the ground truth, against the minute counts and the page load histograms'
#: minute rows per project (dataflows/rollups.py): the rows that differ.
_MINUTE_ROLLUPS_VS_RAW = """
WITH raw AS (
    SELECT date_bin('1 minute', "timestamp", '2000-01-01') AS minute, ico_website_id,
           count(*) AS clickstream, 0 AS registrations, 0 AS conversions,
           count(*) FILTER (WHERE event_type = 'page_view' AND page_load_time IS NOT NULL)
               AS timed,
           count(*) FILTER (WHERE event_type = 'page_view' AND page_load_time > 3) AS slow
    FROM raw_data.clickstream_events GROUP BY 1, 2
    UNION ALL
    SELECT date_bin('1 minute', "timestamp", '2000-01-01'), ico_website_id, 0, count(*), 0, 0, 0
    FROM raw_data.user_registrations GROUP BY 1, 2
    UNION ALL
    SELECT date_bin('1 minute', "timestamp", '2000-01-01'), ico_website_id, 0, 0, count(*), 0, 0
    FROM raw_data.conversions GROUP BY 1, 2
), want AS (
    SELECT minute, ico_website_id, sum(clickstream) AS c, sum(registrations) AS r,
           sum(conversions) AS v, sum(timed) AS timed, sum(slow) AS slow
    FROM raw GROUP BY 1, 2
), got AS (
    SELECT m.minute, m.ico_website_id, m.clickstream AS c, m.registrations AS r,
           m.conversions AS v, coalesce(h.views, 0) AS timed, coalesce(h.slow_views, 0) AS slow,
           m.timed_views, m.slow_views
    FROM analytics.minute_counts m
    LEFT JOIN analytics.page_load_histograms h
      ON h.period = '1 minute' AND h.dimension = 'project' AND h.period_start = m.minute
     AND h.ico_website_id = m.ico_website_id
)
SELECT coalesce(w.minute, g.minute), coalesce(w.ico_website_id, g.ico_website_id)
FROM want w FULL JOIN got g ON g.minute = w.minute AND g.ico_website_id = w.ico_website_id
WHERE (w.c, w.r, w.v, w.timed, w.slow, w.timed, w.slow)
      IS DISTINCT FROM (g.c, g.r, g.v, g.timed, g.slow, g.timed_views, g.slow_views)
ORDER BY 1, 2
"""


#: The 5-minute counts against their minute counts, summed: the rows that differ.
_FIVE_MINUTES_VS_MINUTES = """
WITH want AS (
    SELECT date_bin('5 minutes', minute, '2000-01-01') AS period_start, ico_website_id,
           sum(clickstream) AS c, sum(registrations) AS r, sum(conversions) AS v,
           sum(timed_views) AS timed, sum(slow_views) AS slow
    FROM analytics.minute_counts GROUP BY 1, 2
)
SELECT coalesce(w.period_start, f.period_start), coalesce(w.ico_website_id, f.ico_website_id)
FROM want w
FULL JOIN analytics.five_minute_counts f
  ON f.period_start = w.period_start AND f.ico_website_id = w.ico_website_id
WHERE (w.c, w.r, w.v, w.timed, w.slow) IS DISTINCT FROM
      (f.clickstream, f.registrations, f.conversions, f.timed_views, f.slow_views)
ORDER BY 1, 2
"""


def minute_rollup_differences(conn: psycopg.Connection[Any]) -> list[str]:
    problems = []
    wrong = conn.execute(_MINUTE_ROLLUPS_VS_RAW).fetchall()
    if wrong:
        problems.append(
            f"rollups: {len(wrong)} (minute, project) rows differ from raw, first {wrong[0]}"
        )
    wrong = conn.execute(_FIVE_MINUTES_VS_MINUTES).fetchall()
    if wrong:
        problems.append(
            f"rollups: {len(wrong)} (5 minutes, project) rows differ from the minutes,"
            f" first {wrong[0]}"
        )
    return problems


def compare_database(url: str, exp: Expected, crm_key: bytes | None = None) -> list[str]:
    """Every difference between the database and the expectation, as readable lines; with
    ``crm_key`` (CRM_EMAIL_KEY) the leads' emails are opened and compared too."""
    problems: list[str] = []
    with psycopg.connect(url) as conn:
        for table, ids in exp.raw_ids.items():
            id_col = (
                "event_id"
                if "clickstream" in table
                else ("registration_id" if "registr" in table else "conversion_id")
            )
            rows = conn.execute(f"SELECT {id_col}::text FROM {table}").fetchall()
            got = [r[0] for r in rows]
            if len(got) != len(set(got)):
                problems.append(f"{table}: {len(got) - len(set(got))} duplicated rows")
            if set(got) != ids:
                problems.append(
                    f"{table}: {len(set(got) - ids)} unexpected, {len(ids - set(got))} missing of {len(ids)}"
                )
        dead = conn.execute("SELECT count(*) FROM raw_data.dead_letters").fetchone()
        if dead is None or dead[0] != exp.dead_letters:
            problems.append(f"dead_letters: {dead and dead[0]} rows, expected {exp.dead_letters}")
        cols = (
            "window_end, events, page_views, unique_sessions, unique_users, registrations, conversions, "
            "wallet_connects, purchases, revenue_usd, avg_page_load_time, p95_page_load_time, "
            "page_views_by_country"
        )
        got_aggs = {
            (r[0], r[1], r[2]): dict(zip([c.strip() for c in cols.split(",")], r[3:], strict=True))
            for r in conn.execute(
                f"SELECT ico_website_id, window_length, window_start, {cols} FROM analytics.window_aggregates"
            ).fetchall()
        }
        sources = dict(
            conn.execute(
                "SELECT event_id::text, traffic_source FROM raw_data.clickstream_events"
            ).fetchall()
        )
        got_sessions = {
            (r[0], r[1]): dict(
                zip([c.strip() for c in SESSION_COLUMNS.split(",")], r[2:], strict=True)
            )
            for r in conn.execute(
                f"SELECT session_id::text, session_start, {SESSION_COLUMNS} FROM analytics.sessions"
            ).fetchall()
        }
        problems += minute_rollup_differences(conn)
        problems += session_rollup_differences(conn)
    problems += _compare_sessions(got_sessions, exp.sessions, sources)
    problems += compare_leads(url, exp, sources, crm_key)
    if set(got_aggs) != set(exp.aggregates):
        problems.append(
            f"window_aggregates: {len(set(got_aggs) - set(exp.aggregates))} unexpected windows, "
            f"{len(set(exp.aggregates) - set(got_aggs))} missing of {len(exp.aggregates)}"
        )
    for key in sorted(set(got_aggs) & set(exp.aggregates)):
        got, want = got_aggs[key], exp.aggregates[key]
        for col, value in want.items():
            ok = _close(got[col], value) if col.endswith("load_time") else got[col] == value
            if not ok:
                problems.append(f"window {key} {col}: got {got[col]!r}, expected {value!r}")
    return problems[:50]


def _compare_sessions(
    got: dict[tuple[str, datetime], dict[str, Any]],
    want: dict[tuple[str, datetime], dict[str, Any]],
    sources: dict[str, str],
) -> list[str]:
    problems = []
    if set(got) != set(want):
        problems.append(
            f"sessions: {len(set(got) - set(want))} unexpected, "
            f"{len(set(want) - set(got))} missing of {len(want)}"
        )
    for key in sorted(set(got) & set(want)):
        expected = dict(want[key])
        entry = expected["traffic_source"]
        expected["traffic_source"] = entry and sources.get(entry)
        row = dict(got[key])
        row["user_id"] = row["user_id"] and str(row["user_id"])
        for col, value in expected.items():
            ok = _close(row[col], value) if "seconds" in col else row[col] == value
            if not ok:
                problems.append(f"session {key} {col}: got {row[col]!r}, expected {value!r}")
    return problems


LEAD_TIERS = ("basic", "advanced", "premium")


def _sign_up_sources(exp: Expected, sources: dict[str, str]) -> dict[str, str]:
    """registration_id -> the traffic source of the expected session that holds the sign-up."""
    by_id: dict[str, list[tuple[datetime, dict[str, Any]]]] = {}
    for (session_id, start), s in exp.sessions.items():
        by_id.setdefault(session_id, []).append((start, s))
    found = {}
    for registration_id, r in exp.registrations.items():
        at = _ms(r["timestamp"])
        [entry] = [
            s["traffic_source"]
            for start, s in by_id[r["session_id"]]
            if start <= at <= s["session_end"]
        ]
        found[registration_id] = sources.get(entry, "unknown") if entry else "unknown"
    return found


def expected_lead_summary(
    exp: Expected, sources: dict[str, str]
) -> dict[tuple[int, Any, str], dict[str, Any]]:
    """``analytics.lead_summary`` counted by hand: per (project, UTC day, traffic source of the
    sign-up session, or 'all'), the registrations, KYC completed, consenting, each tier, and
    their shares. ``sources``: clickstream event id -> its stored traffic source."""
    groups: dict[tuple[int, Any, str], list[dict[str, Any]]] = {}
    sign_up_sources = _sign_up_sources(exp, sources)
    for registration_id, r in exp.registrations.items():
        day = _ms(r["timestamp"]).date()
        for source in ("all", sign_up_sources[registration_id]):
            groups.setdefault((r["ico_website_id"], day, source), []).append(r)
    summary = {}
    for key, rows in groups.items():
        n = len(rows)
        tiers = {t: sum(r["verification_tier"] == t for r in rows) for t in LEAD_TIERS}
        kyc = sum(r["kyc_completed"] for r in rows)
        consenting = sum(r["consent_marketing"] for r in rows)
        summary[key] = {
            "registrations": n,
            "kyc_completed": kyc,
            "consenting": consenting,
            **tiers,
            "kyc_rate": kyc / n,
            "consent_rate": consenting / n,
            **{f"{t}_share": tiers[t] / n for t in LEAD_TIERS},
        }
    return summary


def first_sign_ups(valid: Iterable[tuple[str, Any]]) -> dict[tuple[int, str], int]:
    """(project, user id) -> the epoch milliseconds of the user's first registration there."""
    signed_up: dict[tuple[int, str], int] = {}
    for kind, r in valid:
        if kind == "registration":
            key = (r["ico_website_id"], r["user_id"])
            signed_up[key] = min(signed_up.get(key, r["timestamp"]), r["timestamp"])
    return signed_up


def expected_user_conversion(
    lines: Iterable[dict[str, Any]], today: date
) -> dict[tuple[int, date], dict[str, Any]]:
    """``analytics.user_conversion`` counted by hand: per (project, UTC day of the first
    sign-up), the users, those whose first wallet connection and first purchase at or after
    signing up came within 1 and 7 days, the 7-day purchase rate, the median and p90 hours to
    that purchase (of those within 7 days, None if none), and whether on ``today`` the day's 7
    days are still open (``open_window``)."""
    valid, _ = valid_records(lines)
    signed_up = first_sign_ups(valid)
    firsts: dict[tuple[int, str], dict[str, int]] = {}
    for kind, r in valid:
        if kind != "conversion":
            continue
        key = (r["ico_website_id"], r["user_id"])
        if key not in signed_up or r["timestamp"] < signed_up[key]:
            continue
        if r["conversion_type"] == "wallet_connect":
            step = "wallet"
        elif r["conversion_type"] in PURCHASES:
            step = "purchase"
        else:
            continue
        at = firsts.setdefault(key, {})
        at[step] = min(at.get(step, r["timestamp"]), r["timestamp"])
    day_ms = 86_400_000
    cells: dict[tuple[int, date], list[Any]] = {}
    for key, ts in signed_up.items():
        cell = cells.setdefault((key[0], _ms(ts).date()), [0, 0, 0, 0, 0, []])
        got_at = firsts.get(key, {})
        cell[0] += 1
        for i, (step, window) in enumerate(
            (
                ("wallet", day_ms),
                ("wallet", 7 * day_ms),
                ("purchase", day_ms),
                ("purchase", 7 * day_ms),
            ),
            start=1,
        ):
            cell[i] += step in got_at and got_at[step] - ts < window
        if "purchase" in got_at and got_at["purchase"] - ts < 7 * day_ms:
            cell[5].append((got_at["purchase"] - ts) / 3_600_000)
    return {
        (site, day): {
            "signed_up_users": users,
            "wallet_within_1d": w1,
            "wallet_within_7d": w7,
            "purchased_within_1d": p1,
            "purchased_within_7d": p7,
            "purchase_rate_7d": p7 / users,
            "median_hours_to_purchase": _percentile_cont(hours, 0.5) if hours else None,
            "p90_hours_to_purchase": _percentile_cont(hours, 0.9) if hours else None,
            "open_window": day > today - timedelta(days=7),
        }
        for (site, day), (users, w1, w7, p1, p7, hours) in cells.items()
    }


def compare_leads(
    url: str, exp: Expected, sources: dict[str, str], crm_key: bytes | None
) -> list[str]:
    """``analytics.leads`` (a row per registration, an email only with consent) and
    ``analytics.lead_summary`` against the registrations, counted by hand."""
    with psycopg.connect(url) as conn:
        cur = conn.cursor(row_factory=psycopg.rows.dict_row)
        leads = {
            r.pop("registration_id"): r
            for r in cur.execute(
                "SELECT registration_id::text, ico_website_id, registered_at, kyc_completed,"
                " verification_tier, consent_marketing, email_sealed FROM analytics.leads"
            ).fetchall()
        }
        summary = {
            (r.pop("ico_website_id"), r.pop("day"), r.pop("traffic_source")): r
            for r in cur.execute("SELECT * FROM analytics.lead_summary").fetchall()
        }
    problems = []
    if set(leads) != set(exp.registrations):
        problems.append(
            f"leads: {len(set(leads) - set(exp.registrations))} unexpected, "
            f"{len(set(exp.registrations) - set(leads))} missing of {len(exp.registrations)}"
        )
    # The pipeline's opener checks what the pipeline sealed; the expectation is the generator's.
    sealer = None if crm_key is None else EmailSealer(crm_key)
    for registration_id, r in exp.registrations.items():
        at = _ms(r["timestamp"])
        got = leads.get(registration_id)
        if got is None:
            continue
        sealed = got.pop("email_sealed")
        want = {
            "ico_website_id": r["ico_website_id"],
            "registered_at": at,
            "kyc_completed": r["kyc_completed"],
            "verification_tier": r["verification_tier"],
            "consent_marketing": r["consent_marketing"],
        }
        if got != want:
            problems.append(f"lead {registration_id}: got {got!r}, expected {want!r}")
        if (sealed is not None) != r["consent_marketing"]:
            problems.append(
                f"lead {registration_id}: email kept {sealed is not None}, consent {r['consent_marketing']}"
            )
        elif sealer is not None and sealed is not None:
            email = sealer.open(registration_id, bytes(sealed)).decode()
            if email != r["email"]:
                problems.append(f"lead {registration_id}: email {email!r}, expected {r['email']!r}")
    want_summary = expected_lead_summary(exp, sources)
    if set(summary) != set(want_summary):
        problems.append(
            f"lead_summary: groups {sorted(set(summary) ^ set(want_summary), key=repr)[:5]} differ"
        )
    for key in sorted(set(summary) & set(want_summary), key=repr):
        for col, value in want_summary[key].items():
            g = summary[key][col]
            ok = _close(g, value) if isinstance(value, float) else g == value
            if not ok:
                problems.append(f"lead_summary {key} {col}: got {g!r}, expected {value!r}")
    return problems


def _by_hour_and_day(columns: str, source: str, at: str, dimensions: int = 2) -> str:
    """``columns`` of ``source`` per project, hour of ``at`` and dimensions (the first
    ``dimensions`` of ``columns``), then per project, UTC day and dimensions: the rows of a
    rollup."""
    group_by = ", ".join(str(n) for n in (1, *range(3, 4 + dimensions)))
    return " UNION ALL ".join(
        f"SELECT ico_website_id, interval '1 {span}',"
        f" date_bin('1 {span}', {at}, timestamptz '2000-01-01 00:00+00'), {columns}"
        f" FROM {source} GROUP BY {group_by}"
        for span in ("hour", "day")
    )


#: Each rollup of the sessions (migrations 0019, 0023), and its rows regrouped from scratch: the
#: sessions (proven against the ground truth by ``compare_database``), the raw registrations or
#: the leads with their sessions.
SESSION_ROLLUPS = {
    "analytics.sessions_rollup": _by_hour_and_day(
        "device_type, traffic_source, count(*), count(*) FILTER (WHERE bounce), sum(page_views),"
        " count(*) FILTER (WHERE signed_up), count(*) FILTER (WHERE wallet_connected),"
        " count(*) FILTER (WHERE purchased), sum(purchases), sum(revenue_usd)",
        "analytics.sessions",
        "session_start",
    ),
    "analytics.sessions_geo_rollup": _by_hour_and_day(
        "country, region, count(*), sum(revenue_usd)", "analytics.sessions", "session_start"
    ),
    "analytics.registrations_geo_rollup": _by_hour_and_day(
        "country, region, count(*)", "raw_data.user_registrations", '"timestamp"'
    ),
    # The leads by the source of the session holding the sign-up (migration 0023).
    "analytics.leads_rollup": _by_hour_and_day(
        "traffic_source, count(*), count(*) FILTER (WHERE kyc_completed),"
        " count(*) FILTER (WHERE consent_marketing),"
        " count(*) FILTER (WHERE verification_tier = 'basic'),"
        " count(*) FILTER (WHERE verification_tier = 'advanced'),"
        " count(*) FILTER (WHERE verification_tier = 'premium')",
        "(SELECT l.*, coalesce(s.traffic_source, 'unknown') AS traffic_source"
        " FROM analytics.leads l LEFT JOIN analytics.sessions s ON s.session_id = l.session_id"
        " AND l.registered_at BETWEEN s.session_start AND s.session_end) leads",
        "registered_at",
        dimensions=1,
    ),
}


def session_rollup_differences(conn: psycopg.Connection[Any]) -> list[str]:
    """Every rollup whose rows differ from its rows regrouped from scratch, as readable lines."""
    problems = []
    for table, regrouped in SESSION_ROLLUPS.items():
        row = conn.execute(
            f"SELECT (SELECT count(*) FROM (TABLE {table} EXCEPT ALL ({regrouped})) extra),"
            f" (SELECT count(*) FROM (({regrouped}) EXCEPT ALL TABLE {table}) missing)"
        ).fetchone()
        if row != (0, 0):
            problems.append(f"{table}: {row} rows (extra, missing) against the regrouped rows")
    return problems


def snapshot_database(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table the pipeline writes, sorted: equal snapshots mean no change."""
    tables = [
        *RAW_TABLE.values(),
        "raw_data.dead_letters",
        "analytics.window_aggregates",
        "analytics.sessions",
        *SESSION_ROLLUPS,
        "analytics.leads",
    ]
    with psycopg.connect(url) as conn:
        return {t: sorted(conn.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in tables}


FUNNEL_COUNTS = (
    "sessions",
    "registered_sessions",
    "wallet_sessions",
    "purchased_sessions",
    "visitors",
    "registered_users",
    "wallet_users",
    "purchasing_users",
)


def _funnel_row(sessions: list[dict[str, Any]]) -> dict[str, Any]:
    def share(part: int, whole: int) -> float | None:
        return part / whole if whole else None

    def pct(values: list[float], q: float) -> float | None:
        return _percentile_cont(values, q) if values else None

    signed = [s for s in sessions if s["signed_up"]]
    wallet = [s for s in sessions if s["wallet_connected"]]
    bought = [s for s in sessions if s["purchased"]]
    to_wallet = [s["seconds_to_wallet"] for s in wallet]
    to_purchase = [s["seconds_to_purchase"] for s in bought]
    return {
        "sessions": len(sessions),
        "registered_sessions": len(signed),
        "wallet_sessions": len(wallet),
        "purchased_sessions": len(bought),
        "visitors": len({s["user_id"] or s["session_id"] for s in sessions}),
        "registered_users": len({s["user_id"] for s in signed}),
        "wallet_users": len({s["user_id"] for s in wallet}),
        "purchasing_users": len({s["user_id"] for s in bought}),
        "registration_rate": share(len(signed), len(sessions)),
        "wallet_rate": share(len(wallet), len(signed)),
        "purchase_rate": share(len(bought), len(wallet)),
        "conversion_rate": share(len(bought), len(sessions)),
        "median_seconds_to_wallet": pct(to_wallet, 0.5),
        "p90_seconds_to_wallet": pct(to_wallet, 0.9),
        "median_seconds_to_purchase": pct(to_purchase, 0.5),
        "p90_seconds_to_purchase": pct(to_purchase, 0.9),
    }


def compare_funnel(url: str, exp: Expected) -> list[str]:
    """``analytics.funnel`` against the expected sessions, grouped by hand."""
    with psycopg.connect(url) as conn:
        sources = dict(
            conn.execute(
                "SELECT event_id::text, traffic_source FROM raw_data.clickstream_events"
            ).fetchall()
        )
        cur = conn.cursor(row_factory=psycopg.rows.dict_row)
        got = {
            (
                r.pop("ico_website_id"),
                r.pop("day"),
                r.pop("traffic_source"),
                r.pop("device_type"),
            ): r
            for r in cur.execute("SELECT * FROM analytics.funnel").fetchall()
        }
    groups: dict[tuple[int, Any, str, str], list[dict[str, Any]]] = {}
    for (session_id, start), s in exp.sessions.items():
        source = sources[s["traffic_source"]] if s["traffic_source"] else "unknown"
        device = s["device_type"] or "unknown"
        row = s | {"session_id": session_id}
        day = start.date()
        for key in (
            (s["ico_website_id"], day, "all", "all"),
            (s["ico_website_id"], day, source, "all"),
            (s["ico_website_id"], day, "all", device),
        ):
            groups.setdefault(key, []).append(row)
    want = {key: _funnel_row(rows) for key, rows in groups.items()}
    problems = []
    if set(got) != set(want):
        problems.append(f"funnel: groups {sorted(set(got) ^ set(want), key=repr)[:5]} differ")
    for key in sorted(set(got) & set(want), key=repr):
        for col, value in want[key].items():
            ok = got[key][col] == value if col in FUNNEL_COUNTS else _close(got[key][col], value)
            if not ok:
                problems.append(f"funnel {key} {col}: got {got[key][col]!r}, expected {value!r}")
    return problems[:50]


def seed_rule_variant(unit: str, experiment: str) -> str:
    """The seed's A/B rule, written out here on its own: md5, first 8 hex digits, even -> A."""
    digest = hashlib.md5(f"{unit}:{experiment}".encode(), usedforsecurity=False).hexdigest()
    return "A" if int(digest[:8], 16) % 2 == 0 else "B"


def compare_experiments(url: str, exp: Expected, experiments: dict[int, str]) -> list[str]:
    """``analytics.experiment_results`` against the expected sessions and textbook formulas:
    visitors are site session ids, a conversion is a sign-up in any of their sessions."""
    units: dict[str, tuple[int, bool]] = {}
    for (session_id, _), s in exp.sessions.items():
        was = units.get(session_id, (0, False))[1]
        units[session_id] = (s["ico_website_id"], was or s["signed_up"])
    arms: dict[tuple[int, str], list[bool]] = {}
    for unit, (project, converted) in units.items():
        arms.setdefault((project, seed_rule_variant(unit, experiments[project])), []).append(
            converted
        )
    want: dict[tuple[str, str], dict[str, Any]] = {}
    for (project, variant), arm in arms.items():
        a, b = arms.get((project, "A"), []), arms.get((project, "B"), [])
        na, nb, ca, cb = len(a), len(b), sum(a), sum(b)
        row: dict[str, Any] = {
            "ico_website_id": project,
            "visitors": len(arm),
            "conversions": sum(arm),
            "rate": sum(arm) / len(arm),
            "lift": None,
            "z_score": None,
            "p_value": None,
            "diff_ci_low": None,
            "diff_ci_high": None,
        }
        chi2 = (na - nb) ** 2 / (na + nb)
        row["srm_p_value"] = math.erfc(math.sqrt(chi2 / 2))
        row["sample_ratio_mismatch"] = row["srm_p_value"] < 0.001
        if variant == "B" and na and nb:
            pa, pb, pooled = ca / na, cb / nb, (ca + cb) / (na + nb)
            z = (pb - pa) / math.sqrt(pooled * (1 - pooled) * (1 / na + 1 / nb))
            margin = 1.959963984540054 * math.sqrt(pa * (1 - pa) / na + pb * (1 - pb) / nb)
            row |= {
                "lift": pb / pa - 1,
                "z_score": z,
                "p_value": math.erfc(abs(z) / math.sqrt(2)),
                "diff_ci_low": pb - pa - margin,
                "diff_ci_high": pb - pa + margin,
            }
        want[(experiments[project], variant)] = row
    with psycopg.connect(url) as conn:
        cur = conn.cursor(row_factory=psycopg.rows.dict_row)
        got = {
            (r.pop("experiment_id"), r.pop("variant")): r
            for r in cur.execute("SELECT * FROM analytics.experiment_results").fetchall()
        }
    problems = []
    if set(got) != set(want):
        problems.append(f"experiments: {sorted(set(got) ^ set(want))[:5]} differ")
    for key in sorted(set(got) & set(want)):
        for col, value in want[key].items():
            g = got[key][col]
            ok = _close(g, value) if isinstance(value, float) else g == value
            if not ok:
                problems.append(f"experiment {key} {col}: got {g!r}, expected {value!r}")
    return problems[:50]
