"""The command line as a user types it."""

from __future__ import annotations

import base64
import csv
import io
import json
import re
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from typer.testing import CliRunner

from dataflows.pipeline import dead_letter_row
from dataflows.records import DeadLetter, RawRecord
from dataflows.sinks import PostgresSink
from ico_analytics.cli import app
from ico_analytics.cluster import metric_sum
from ico_analytics.crm import export_leads
from ico_analytics.services.process import free_ports
from ico_core.errors import CodecError
from ico_core.pii import PayloadSealer
from ico_core.settings import get_settings
from tests.embedded import generated, run_into
from tests.groundtruth import read_jsonl, valid_records

runner = CliRunner()


def test_generate_writes_ground_truth(tmp_path: Path) -> None:
    def generate(name: str, *options: str) -> list[dict[str, Any]]:
        out = tmp_path / name
        args = ["generate", "--events", "2000", "--seed", "5", "--rate", "0", "--jsonl", str(out)]
        result = runner.invoke(app, [*args, *options])
        assert result.exit_code == 0, result.output
        return [json.loads(line) for line in out.read_text().splitlines()]

    lines = generate("events.jsonl", "--start-time", "2026-03-01T11:58:00")
    assert len(lines) == 2000
    assert {line["event_type"] for line in lines} == {"clickstream", "registration", "conversion"}
    # A missing_field fault may have taken a record's timestamp away.
    first = min(line["record"]["timestamp"] for line in lines if "timestamp" in line["record"])
    assert first == int(datetime(2026, 3, 1, 11, 58, tzinfo=UTC).timestamp() * 1000)
    # Same seed and start, same events. The start matters: countries follow local business hours.
    assert generate("again.jsonl", "--start-time", "2026-03-01T12:58:00+01:00") == lines
    later = generate("later.jsonl", "--start-time", "2026-03-01T20:00:00")
    assert [e["key"] for e in later] == [e["key"] for e in lines]  # same sessions
    assert [e["record"].get("country") for e in later] != [
        e["record"].get("country") for e in lines
    ]


def test_generate_without_a_destination_fails_cleanly() -> None:
    result = runner.invoke(app, ["generate", "--events", "10"])
    assert result.exit_code != 0
    assert "nowhere to send events" in str(result.exception) + result.output


def test_migrate_twice(database_url: str) -> None:
    first = runner.invoke(app, ["migrate", "--database-url", database_url])
    assert first.exit_code == 0, first.output
    assert "applied" in first.output and "0001" in first.output
    second = runner.invoke(app, ["migrate", "--database-url", database_url])
    assert second.exit_code == 0, second.output
    assert "applied 0 migration(s)" in second.output


def test_demo_runs_and_stores_everything_it_generated(migrated_database_url: str) -> None:
    result = runner.invoke(
        app, ["demo", "--duration", "8", "--rate", "60000", "--database-url", migrated_database_url]
    )
    assert result.exit_code == 0, result.output
    assert "Summary" in result.output
    match = re.search(r"([\d,]+) events generated and ([\d,]+) stored", result.output)
    assert match is not None, result.output
    generated, stored = (int(g.replace(",", "")) for g in match.groups())
    # 8 s at 1,000 events/s; everything generated is stored once the flow drains, except the
    # ~1% exact duplicates that dedupe drops.
    assert 2_000 < generated <= 8_500  # start-up eats into the 8 s on a busy machine
    assert 0.97 * generated < stored < generated
    with psycopg.connect(migrated_database_url) as conn:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM raw_data.clickstream_events) + "
            "(SELECT count(*) FROM raw_data.user_registrations) + "
            "(SELECT count(*) FROM raw_data.conversions) + "
            "(SELECT count(*) FROM raw_data.dead_letters), "
            "(SELECT count(DISTINCT ico_website_id) FROM analytics.window_aggregates)"
        ).fetchone()
        # The demo refreshed the daily KPIs once the flow drained.
        kpis = conn.execute(
            "SELECT (SELECT sum(events) FROM analytics.daily_project_kpis),"
            " (SELECT sum(events) FROM analytics.window_aggregates"
            "  WHERE window_length = interval '1 hour'),"
            " (SELECT sum(sessions) FROM analytics.daily_project_kpis),"
            " (SELECT count(*) FROM analytics.sessions)"
        ).fetchone()
    assert row == (stored, 20)
    assert kpis is not None and kpis[0] == kpis[1] > 0 and kpis[2] == kpis[3] > 0


def test_generate_serves_prometheus_metrics_of_what_it_produced(tmp_path: Path) -> None:
    (port,) = free_ports(1)
    out = tmp_path / "events.jsonl"
    args = ["generate", "--events", "1500", "--seed", "8", "--rate", "0", "--jsonl", str(out)]
    result = runner.invoke(app, [*args, "--metrics-port", str(port)])
    assert result.exit_code == 0, result.output
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    counted = sum(
        float(value)
        for value in re.findall(r"^ico_generator_events_total\{[^}]*\} (\S+)$", text, re.M)
    )
    assert counted == 1500
    faults = set(re.findall(r'^ico_generator_events_total\{[^}]*fault="(\w+)"', text, re.M))
    assert "none" in faults and "duplicate" in faults
    assert "ico_generator_configured_events_per_minute 0.0" in text


def test_dead_letters_export_opens_the_sealed_payloads(
    migrated_database_url: str, tmp_path: Path
) -> None:
    sealer = PayloadSealer(get_settings().pii_key())
    raw = [
        RawRecord("user-registrations", 2, 41, b"s1", b"\x00\x00\x00\x00\x02alice@example.com"),
        RawRecord("conversions", 0, 7, None, None),
    ]
    letters = [
        DeadLetter.of(
            raw[0], "validate", "registration.email=<redacted>: has no '@'", "registration"
        ),
        DeadLetter.of(raw[1], "decode", "empty record", None),
    ]
    sink = PostgresSink(migrated_database_url, sessions_refresh_seconds=None).build("x", 0, 1)
    sink.write_batch([dead_letter_row(d.sealed(sealer)) for d in letters])
    with psycopg.connect(migrated_database_url) as conn:
        stored = conn.execute("SELECT payload FROM raw_data.dead_letters WHERE source_offset = 41")
        assert b"alice" not in stored.fetchone()[0]  # type: ignore[index]

    out = tmp_path / "dead.jsonl"
    result = runner.invoke(
        app, ["dead-letters", "--out", str(out), "--database-url", migrated_database_url]
    )
    assert result.exit_code == 0, result.output
    assert "wrote 2 dead letter(s)" in result.output
    lines = sorted(
        (json.loads(line) for line in out.read_text().splitlines()), key=lambda d: d["offset"]
    )
    assert [(d["topic"], d["offset"], d["reason"]) for d in lines] == [
        ("conversions", 7, "empty record"),
        ("user-registrations", 41, "registration.email=<redacted>: has no '@'"),
    ]
    assert lines[0]["payload_b64"] is None
    assert base64.b64decode(lines[1]["payload_b64"]) == raw[0].value
    assert base64.b64decode(lines[1]["key_b64"]) == b"s1"


def test_crm_leads_exports_a_projects_consenting_emails_to_crm_reader_only(
    migrated_database_url: str, tmp_path: Path
) -> None:
    truth = tmp_path / "truth.jsonl"
    run_into(migrated_database_url, generated(8000, 11, int(time.time() * 1000) - 3_600_000), truth)
    valid, _ = valid_records(read_jsonl(truth))
    consenting: dict[int, dict[str, dict[str, Any]]] = {}
    for kind, r in valid:
        if kind == "registration" and r["consent_marketing"]:
            consenting.setdefault(r["ico_website_id"], {})[r["registration_id"]] = r
    project, leads = max(consenting.items(), key=lambda item: len(item[1]))
    assert len(leads) >= 4
    with psycopg.connect(migrated_database_url, autocommit=True) as conn:
        for login, role in (("crm_cli", "crm_reader"), ("dash_cli", "grafana_reader")):
            conn.execute(f"DROP ROLE IF EXISTS {login}")
            conn.execute(f"CREATE ROLE {login} LOGIN IN ROLE {role}")
        sources = dict(
            conn.execute(
                "SELECT r.registration_id::text, s.traffic_source"
                " FROM raw_data.user_registrations r JOIN analytics.sessions s"
                " ON s.session_id = r.session_id"
                " AND r.timestamp BETWEEN s.session_start AND s.session_end"
            ).fetchall()
        )
    crm_url, dash_url = (
        migrated_database_url.replace("postgresql://postgres@", f"postgresql://{login}@")
        for login in ("crm_cli", "dash_cli")
    )
    leads_of = ["crm", "leads", "--project", str(project)]
    try:
        out = tmp_path / "leads.csv"
        result = runner.invoke(app, [*leads_of, "--database-url", crm_url, "--out", str(out)])
        assert result.exit_code == 0, result.output
        assert result.output == f"wrote {len(leads)} lead(s) of project {project} to {out}\n"
        with out.open(newline="") as f:
            rows = list(csv.DictReader(f))
        assert {row["registration_id"]: row["email"] for row in rows} == {
            rid: r["email"] for rid, r in leads.items()
        }
        for row in rows:
            r = leads[row["registration_id"]]
            assert row["kyc_completed"] == str(r["kyc_completed"])
            assert row["verification_tier"] == r["verification_tier"]
            assert row["traffic_source"] == sources[row["registration_id"]]
        assert [row["registered_at"] for row in rows] == sorted(
            row["registered_at"] for row in rows
        )

        # --since, to standard output: the later half only.
        later = sorted(leads.values(), key=lambda r: r["timestamp"])[len(leads) // 2 :]
        since = datetime.fromtimestamp(later[0]["timestamp"] / 1000, UTC)
        result = runner.invoke(
            app,
            [*leads_of, "--database-url", crm_url, "--since", since.strftime("%Y-%m-%dT%H:%M:%S")],
        )
        assert result.exit_code == 0, result.output
        printed = list(csv.DictReader(io.StringIO(result.output)))
        # Second resolution: a sign-up in the same second before the cut is in too.
        assert {row["email"] for row in printed} >= {r["email"] for r in later}
        assert len(printed) < len(leads)

        # The dashboards' role may not read the sealed emails at all.
        refused = runner.invoke(app, [*leads_of, "--database-url", dash_url])
        assert isinstance(refused.exception, psycopg.errors.InsufficientPrivilege)
    finally:
        with psycopg.connect(migrated_database_url, autocommit=True) as conn:
            for login in ("crm_cli", "dash_cli"):
                conn.execute(f"DROP OWNED BY {login}")
                conn.execute(f"DROP ROLE {login}")

    # Another key than the dataflow's opens nothing.
    with pytest.raises(CodecError, match="another CRM_EMAIL_KEY or tampered"):
        export_leads(migrated_database_url, b"another-key", project, None, io.StringIO())


def test_cluster_status_reads_the_dataflow_metrics_it_shows() -> None:
    text = (
        "# HELP bytewax_kafka_consumer_lag Offset lag\n"
        'bytewax_kafka_consumer_lag{topic="clickstream-events",partition="0"} 5\n'
        'bytewax_kafka_consumer_lag{topic="conversions",partition="2"} 7.5\n'
        'bytewax_item_inp_count_total{step_id="ico_analytics.postgres",worker_index="0"} 10\n'
        'bytewax_item_inp_count_total{step_id="ico_analytics.postgres",worker_index="1"} 4\n'
        'bytewax_item_inp_count_total{step_id="ico_analytics.input",worker_index="0"} 99\n'
        'ico_dataflow_dead_letters_total{stage="decode"} 2.0\n'
        "ico_dataflow_events_decoded_total 1e3\n"
    )
    assert metric_sum(text, "bytewax_kafka_consumer_lag") == 12.5
    assert (
        metric_sum(text, "bytewax_item_inp_count_total", 'step_id="ico_analytics.postgres"') == 14
    )
    assert metric_sum(text, "ico_dataflow_dead_letters_total") == 2
    assert metric_sum(text, "ico_dataflow_events_decoded_total") == 1000
    assert metric_sum(text, "bytewax_kafka_consumer") == 0
