"""Expected database contents, recomputed independently from the generator's JSONL ground truth.

Deliberately naive (lists, sets, sorting) so it shares no code with the dataflow it checks.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg

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


@dataclass
class Expected:
    raw_ids: dict[str, set[str]] = field(
        default_factory=lambda: {t: set() for t in RAW_TABLE.values()}
    )
    dead_letters: int = 0
    dead_letter_payload_records: list[str] = field(default_factory=list)
    aggregates: dict[tuple[int, timedelta, datetime], dict[str, Any]] = field(default_factory=dict)


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


def expected_from(lines: Iterable[dict[str, Any]]) -> Expected:
    exp = Expected()
    valid, dead = valid_records(lines)
    exp.dead_letters = len(dead)
    exp.dead_letter_payload_records = dead
    acc: dict[tuple[int, int, int], dict[str, Any]] = {}
    for kind, record in valid:
        exp.raw_ids[RAW_TABLE[kind]].add(record[ID_FIELD[kind]])
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
        }
    return exp


def _close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


def compare_database(url: str, exp: Expected) -> list[str]:
    """Every difference between the database and the expectation, as readable lines."""
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
            "wallet_connects, purchases, revenue_usd, avg_page_load_time, p95_page_load_time"
        )
        got_aggs = {
            (r[0], r[1], r[2]): dict(zip([c.strip() for c in cols.split(",")], r[3:], strict=True))
            for r in conn.execute(
                f"SELECT ico_website_id, window_length, window_start, {cols} FROM analytics.window_aggregates"
            ).fetchall()
        }
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


def snapshot_database(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table the pipeline writes, sorted: equal snapshots mean no change."""
    tables = [*RAW_TABLE.values(), "raw_data.dead_letters", "analytics.window_aggregates"]
    with psycopg.connect(url) as conn:
        return {t: sorted(conn.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in tables}
