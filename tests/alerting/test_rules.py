"""The chart's Prometheus side checked by the real tools: ``promtool test rules`` for every
PromQL rule as the chart renders it, ``promtool check config`` of its scrape jobs and
``amtool check-config`` of its Alertmanager configuration."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.alerting.promlib import (
    chart_monitoring,
)
from tests.chart.chartlib import MONITORING_API, REPO_ROOT, Helm, Manifest
from tests.tools import alertmanager_binaries, prometheus_binaries

DATAFLOW = 'job="dataflow", namespace="analytics"'
POD0 = f'{DATAFLOW}, pod="ico-analytics-dataflow-0"'
POD1 = f'{DATAFLOW}, pod="ico-analytics-dataflow-1"'
TEAM = {"team": "ico-analytics"}
#: The Prometheus rules of the runbook signals Grafana evaluates too are rendered only then.
VIA_ALERTMANAGER = "notifications.via=alertmanager"
#: The alert forwarder runs, and its rule is rendered, when it has an Alertmanager.
FORWARDER_URL = "monitoring.alertmanager.url=http://alertmanager-operated.monitoring:9093"
FORWARDER = (
    'job="alert-forwarder", namespace="analytics", '
    'pod="ico-analytics-alert-forwarder-5d8f7c9b4-x2k9p"'
)


def _lag_alert(topic: str, partition: int, threshold: int, for_: str) -> dict[str, Any]:
    return {
        "exp_labels": {"severity": "warning", **TEAM, "topic": topic, "partition": str(partition)},
        "exp_annotations": {
            "summary": f"The dataflow falls behind on {topic} partition {partition}.",
            "description": f"Consumer lag has stayed above {threshold} records for {for_}; add "
            "processes (dataflow.replicas) or find what slows the sink.",
        },
    }


def _down_alert(replicas: int) -> dict[str, Any]:
    return {
        "exp_labels": {"severity": "critical", **TEAM},
        "exp_annotations": {
            "summary": f"Fewer than {replicas} dataflow processes are up.",
            "description": "The Bytewax cluster needs every process; with one down, nothing is "
            "processed.",
        },
    }


SINK_STALLED_ALERT = {
    "exp_labels": {
        "severity": "critical",
        **TEAM,
        "pod": "ico-analytics-dataflow-0",
        "step": "ico_analytics.postgres",
    },
    "exp_annotations": {
        # 6 m - 120 s.
        "summary": "The PostgreSQL sink ico_analytics.postgres of ico-analytics-dataflow-0 has "
        "committed nothing for 4m 0s.",
        "description": "It holds rows it cannot write; nothing new is stored. The liveness "
        "probe restarts the process at 300 s; see its log and the database.",
    },
}

DEAD_LETTERS_ALERT = {
    "exp_labels": {"severity": "warning", **TEAM},
    "exp_annotations": {
        "summary": "Records are being dead-lettered at more than 1/s.",
        "description": "See raw_data.dead_letters (reason, stage, Kafka coordinates) for what "
        "fails to decode or validate.",
    },
}


def _promtool(binary: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(binary), *args], cwd=cwd, capture_output=True, text=True, check=False, timeout=120
    )


def _rule_tests(rules: dict[str, Any], tests: list[dict[str, Any]], tmp_path: Path) -> str:
    """Run ``promtool test rules``; return its output (asserting success)."""
    (tmp_path / "rules.yml").write_text(yaml.safe_dump(rules))
    (tmp_path / "tests.yml").write_text(
        yaml.safe_dump({"rule_files": ["rules.yml"], "evaluation_interval": "1m", "tests": tests})
    )
    result = _promtool(
        prometheus_binaries()["promtool"], "test", "rules", "tests.yml", cwd=tmp_path
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_the_runbook_rules_fire_as_written(helm: Helm, tmp_path: Path) -> None:
    """Defaults: lag > 10,000 for 5 m, fewer processes than replicas for 1 m, dead letters."""
    rules, _ = chart_monitoring(helm, "dataflow.replicas=2", VIA_ALERTMANAGER)
    assert [r["alert"] for r in rules["groups"][0]["rules"]] == [
        "IcoDataflowConsumerLagHigh",
        "IcoDataflowDown",
        "IcoDataflowSinkStalled",
        "IcoDeadLettersRising",
        "IcoDuplicateLookupFailing",
        "IcoLateDuplicatesHigh",
    ]
    lag = 'bytewax_kafka_consumer_lag{%s, step_id="ico_analytics.input", topic="clickstream-events", partition="%d"}'
    pending = 'ico_dataflow_sink_pending_since_seconds{%s, step="ico_analytics.%s"}'
    tests = [
        {
            "interval": "1m",
            "input_series": [
                # Partition 0 grows by 1,000 a minute: above 10,000 from minute 11.
                {"series": lag % (POD0, 0), "values": "0+1000x30"},
                # Partition 1 stays just under; partition 2 spikes for 3 minutes only.
                {"series": lag % (POD0, 1), "values": "9999x30"},
                {"series": lag % (POD1, 2), "values": "0 0 50000 50000 50000 0x25"},
                # Another release's dataflow is not ours.
                {
                    "series": lag % (POD0.replace('"analytics"', '"elsewhere"'), 3),
                    "values": "99999x30",
                },
            ],
            "alert_rule_test": [
                {"eval_time": "10m", "alertname": "IcoDataflowConsumerLagHigh", "exp_alerts": []},
                # Pending for 11..15 m: not yet.
                {"eval_time": "15m", "alertname": "IcoDataflowConsumerLagHigh", "exp_alerts": []},
                {
                    "eval_time": "16m",
                    "alertname": "IcoDataflowConsumerLagHigh",
                    "exp_alerts": [_lag_alert("clickstream-events", 0, 10000, "5m")],
                },
            ],
        },
        {
            "interval": "1m",
            "input_series": [
                {"series": f"up{{{POD0}}}", "values": "1x10"},
                # Process 1 stops answering at minute 3.
                {"series": f"up{{{POD1}}}", "values": "1 1 1 0x8"},
            ],
            "alert_rule_test": [
                {"eval_time": "3m", "alertname": "IcoDataflowDown", "exp_alerts": []},
                {
                    "eval_time": "4m",
                    "alertname": "IcoDataflowDown",
                    "exp_alerts": [_down_alert(2)],
                },
            ],
        },
        {
            "interval": "1m",
            # No dataflow target at all (never scraped): "or vector(0)" makes it count as 0.
            "input_series": [{"series": 'up{job="generator"}', "values": "1x5"}],
            "alert_rule_test": [
                {"eval_time": "0m", "alertname": "IcoDataflowDown", "exp_alerts": []},
                {
                    "eval_time": "1m",
                    "alertname": "IcoDataflowDown",
                    "exp_alerts": [_down_alert(2)],
                },
            ],
        },
        {
            "interval": "1m",
            # The gauge is the Unix time since which a sink worker holds uncommitted rows.
            "input_series": [
                # Holds rows since minute 2 (t = 120 s) and never commits again.
                {"series": pending % (POD0, "postgres"), "values": "0 0 120x10"},
                # Commits every minute: pending since the last commit, never stalled.
                {"series": pending % (POD1, "postgres"), "values": "0+60x10"},
                # Holds nothing (0): idle is not stalled, however long ago 0 is.
                {"series": pending % (POD1, "alerts"), "values": "0x10"},
            ],
            "alert_rule_test": [
                # Stalled 120 s at 4 m (not above 120), 180 s at 5 m: pending for the 1 m.
                {"eval_time": "5m", "alertname": "IcoDataflowSinkStalled", "exp_alerts": []},
                {
                    "eval_time": "6m",
                    "alertname": "IcoDataflowSinkStalled",
                    "exp_alerts": [SINK_STALLED_ALERT],
                },
            ],
        },
        {
            "interval": "1m",
            "input_series": [
                # 2 per second against the default 1/s, for more than the rule's 10 minutes.
                {
                    "series": f'ico_dataflow_dead_letters_total{{{POD0}, stage="decode"}}',
                    "values": "0+120x30",
                },
                # 0.5 per second never fires.
                {
                    "series": f'ico_dataflow_dead_letters_total{{{POD1}, stage="validate"}}',
                    "values": "0+30x30",
                },
            ],
            "alert_rule_test": [
                # rate() needs a few minutes of samples, then the rule's 10 minutes.
                {"eval_time": "10m", "alertname": "IcoDeadLettersRising", "exp_alerts": []},
                {
                    "eval_time": "16m",
                    "alertname": "IcoDeadLettersRising",
                    "exp_alerts": [DEAD_LETTERS_ALERT],
                },
            ],
        },
    ]
    out = _rule_tests(rules, tests, tmp_path)
    assert "SUCCESS" in out


def _lookup_alert(pod: str, for_: str) -> dict[str, Any]:
    return {
        "exp_labels": {"severity": "critical", **TEAM, "pod": pod},
        "exp_annotations": {
            "summary": f"The look-up of stored copies of {pod} in PostgreSQL has kept failing "
            f"for {for_}.",
            "description": "The drop_stored_copies step has retried its query on the raw "
            f"tables in every 2 minutes for {for_}; its batches wait (nothing passes "
            "unchecked), and after about 2 minutes of failures the process stops and restarts "
            f"into the same failure. 1. The log of {pod} names the error, in lines 'Looking "
            "up stored copies failed (attempt N), retrying'. 2. Check PostgreSQL; is it up, "
            "has the ico_writer role connections left, does a lock (DDL, VACUUM FULL) hold a "
            "raw table? 3. Once the database answers, the retries stop and the dataflow "
            "catches up by itself (panel 'Duplicate look-up retries per second' of the system "
            "health dashboard).",
        },
    }


def _late_duplicates_alert(percent: str, threshold: int, for_: str) -> dict[str, Any]:
    return {
        "exp_labels": {"severity": "warning", **TEAM},
        "exp_annotations": {
            "summary": f"Late duplicates are {percent}% of the records the dataflow reads.",
            "description": f"For {for_} more than {threshold}% of the records read (over 5 "
            "minutes) were copies of events already stored. The dataflow drops them and the "
            "stored data stays exact, so this only warns; a producer is retrying or re-sending "
            "a lot (slow broker acks, a client without enable.idempotence, a batch posted "
            "again), which costs throughput and often comes before records lost at the "
            "producer, where no one here sees them. Check the producers' delivery errors and "
            "retries and the brokers' health; panel 'Duplicates dropped per second' shows "
            "whether copies also arrive in flight.",
        },
    }


def _counter(*runs: tuple[int, int]) -> str:
    """promtool values of a counter from 0 rising by ``step`` at each of ``samples`` samples,
    run after run."""
    values, total = [0], 0
    for step, samples in runs:
        for _ in range(samples):
            total += step
            values.append(total)
    return " ".join(map(str, values))


#: Look-up retries of a process whose database stays unreachable, scraped every 30 s from
#: 2 m: each run retries (2 per scrape) until the step raises after about 2 minutes, the
#: container restarts for a minute (no samples) and the next run's counter starts from 0;
#: the fifth run finds the database back and stops retrying after its sample at 15:30.
CRASH_LOOP = "0x3 2+2x3 " + "_x2 1+2x3 " * 4 + "7x20"


def test_the_duplicate_rules_fire_on_failing_lookups_and_resending_producers(
    helm: Helm, tmp_path: Path
) -> None:
    """Defaults: look-up retries in every 2 minutes for 5 m (through the restarts of a crash
    loop, not for a database restart or failover); late duplicates above 5% of the records
    read for 15 m (not for the generator's share, a 5-minute burst or no traffic at all)."""
    rules, _ = chart_monitoring(helm, VIA_ALERTMANAGER)
    retries = "ico_dataflow_duplicate_lookup_retries_total{%s}"
    pod2 = POD1.replace("dataflow-1", "dataflow-2")
    late = "ico_dataflow_late_duplicates_dropped_total{%s}"
    decoded = "ico_dataflow_events_decoded_total{%s}"
    elsewhere = POD0.replace('"analytics"', '"elsewhere"')
    tests = [
        {
            "interval": "30s",
            "input_series": [
                {"series": retries % POD0, "values": CRASH_LOOP},
                # A PostgreSQL restart: three retries within one scrape, at 5 m.
                {"series": retries % POD1, "values": "0x9 3x40"},
                # A failover: retries for 3 minutes (2 m to 5 m), then none.
                {"series": retries % pod2, "values": "0x3 1+1x6 7x40"},
                # Another release's dataflow is not ours.
                {"series": retries % elsewhere, "values": "0+5x50"},
            ],
            "alert_rule_test": [
                # Retried in every 2 minutes from 2 m (across the restarts): pending for 5 m.
                {"eval_time": "6m", "alertname": "IcoDuplicateLookupFailing", "exp_alerts": []},
                {
                    "eval_time": "7m",
                    "alertname": "IcoDuplicateLookupFailing",
                    "exp_alerts": [_lookup_alert("ico-analytics-dataflow-0", "5m")],
                },
                {
                    "eval_time": "16m",
                    "alertname": "IcoDuplicateLookupFailing",
                    "exp_alerts": [_lookup_alert("ico-analytics-dataflow-0", "5m")],
                },
                # The last retry came between 15:00 and 15:30: from 17 m the 2 minutes (from
                # 15:00 exclusive) hold none and the alert resolves.
                {"eval_time": "17m", "alertname": "IcoDuplicateLookupFailing", "exp_alerts": []},
            ],
        },
        {
            "interval": "30s",
            # Two processes each decode 100 records/s; one drops 16/s as late duplicates: 8%.
            "input_series": [
                {"series": decoded % POD0, "values": "0+3000x60"},
                {"series": decoded % POD1, "values": "0+3000x60"},
                {"series": late % POD0, "values": "0+480x60"},
                {"series": late % POD1, "values": "0x60"},
            ],
            "alert_rule_test": [
                # Above 5% from the first rate at 1 m: pending for 15 m.
                {"eval_time": "15m", "alertname": "IcoLateDuplicatesHigh", "exp_alerts": []},
                {
                    "eval_time": "16m",
                    "alertname": "IcoLateDuplicatesHigh",
                    "exp_alerts": [_late_duplicates_alert("8", 5, "15m")],
                },
            ],
        },
        {
            "interval": "30s",
            "input_series": [
                # 2% all along (the generator injects about 1%), and 50% for 5 minutes (10 m
                # to 15 m, a batch posted again): above 5% over 5 minutes from 11 m to 19 m only.
                {"series": decoded % POD0, "values": "0+3000x80"},
                {"series": late % POD0, "values": _counter((60, 20), (1500, 10), (60, 50))},
                # Another release's, at 50% all along, is not ours.
                {"series": decoded % elsewhere, "values": "0+3000x80"},
                {"series": late % elsewhere, "values": "0+1500x80"},
            ],
            "alert_rule_test": [
                {"eval_time": t, "alertname": "IcoLateDuplicatesHigh", "exp_alerts": []}
                for t in ("15m", "19m", "25m", "40m")
            ],
        },
        {
            "interval": "30s",
            # Nothing read at all: no share to judge (not a division by zero that fires).
            "input_series": [
                {"series": decoded % POD0, "values": "0x80"},
                {"series": late % POD0, "values": "0x80"},
            ],
            "alert_rule_test": [
                {"eval_time": "30m", "alertname": "IcoLateDuplicatesHigh", "exp_alerts": []}
            ],
        },
    ]
    assert "SUCCESS" in _rule_tests(rules, tests, tmp_path)


def test_the_duplicate_rules_take_their_values(helm: Helm, tmp_path: Path) -> None:
    rules, _ = chart_monitoring(
        helm,
        VIA_ALERTMANAGER,
        "monitoring.rules.duplicateLookupFailingFor=2m",
        "monitoring.rules.lateDuplicatesPercent=1",
        "monitoring.rules.lateDuplicatesFor=5m",
    )
    tests = [
        {
            "interval": "30s",
            "input_series": [
                # The failover's 3 minutes of retries (2 m to 5 m) now last long enough.
                {
                    "series": f"ico_dataflow_duplicate_lookup_retries_total{{{POD0}}}",
                    "values": "0x3 1+1x6 7x40",
                },
                # 2% of the records read, above 1%.
                {"series": f"ico_dataflow_events_decoded_total{{{POD0}}}", "values": "0+3000x40"},
                {
                    "series": f"ico_dataflow_late_duplicates_dropped_total{{{POD0}}}",
                    "values": "0+60x40",
                },
            ],
            "alert_rule_test": [
                {"eval_time": "3m", "alertname": "IcoDuplicateLookupFailing", "exp_alerts": []},
                {
                    "eval_time": "4m",
                    "alertname": "IcoDuplicateLookupFailing",
                    "exp_alerts": [_lookup_alert("ico-analytics-dataflow-0", "2m")],
                },
                {"eval_time": "5m", "alertname": "IcoLateDuplicatesHigh", "exp_alerts": []},
                {
                    "eval_time": "6m",
                    "alertname": "IcoLateDuplicatesHigh",
                    "exp_alerts": [_late_duplicates_alert("2", 1, "5m")],
                },
            ],
        }
    ]
    _rule_tests(rules, tests, tmp_path)


def test_thresholds_and_durations_come_from_values(helm: Helm, tmp_path: Path) -> None:
    rules, _ = chart_monitoring(
        helm,
        VIA_ALERTMANAGER,
        "monitoring.rules.consumerLagThreshold=500",
        "monitoring.rules.consumerLagFor=2m",
        "monitoring.rules.dataflowDownFor=3m",
    )
    series = f'bytewax_kafka_consumer_lag{{{POD0}, topic="conversions", partition="1"}}'
    tests = [
        {
            "interval": "1m",
            "input_series": [
                {"series": series, "values": "501x10"},
                {"series": f"up{{{POD0}}}", "values": "0x10"},
            ],
            "alert_rule_test": [
                {"eval_time": "1m", "alertname": "IcoDataflowConsumerLagHigh", "exp_alerts": []},
                {
                    "eval_time": "2m",
                    "alertname": "IcoDataflowConsumerLagHigh",
                    "exp_alerts": [_lag_alert("conversions", 1, 500, "2m")],
                },
                {"eval_time": "2m", "alertname": "IcoDataflowDown", "exp_alerts": []},
                {
                    "eval_time": "3m",
                    "alertname": "IcoDataflowDown",
                    "exp_alerts": [_down_alert(1)],
                },
            ],
        }
    ]
    _rule_tests(rules, tests, tmp_path)


def test_operator_objects_carry_the_same_rules_and_the_job_names(helm: Helm) -> None:
    # The generator is off by default; its job is scraped when it runs.
    generator = ["generator.enabled=true", VIA_ALERTMANAGER]
    plain = helm.render(set_values=generator)
    operator = helm.render(set_values=generator, api_versions=[MONITORING_API])
    (configmap,) = [d for d in plain if d["metadata"]["name"] == "ico-analytics-prometheus"]
    (rule,) = [d for d in operator if d["kind"] == "PrometheusRule"]
    assert rule["spec"] == yaml.safe_load(configmap["data"]["rules.yaml"])
    assert not [d for d in operator if d["metadata"]["name"] == "ico-analytics-prometheus"]
    # job="dataflow" / "generator" either way: the panels and rules select on it.
    monitors = {d["metadata"]["name"]: d["spec"] for d in operator if d["kind"] == "PodMonitor"}
    assert {m["jobLabel"] for m in monitors.values()} == {"app.kubernetes.io/component"}
    jobs = yaml.safe_load(configmap["data"]["scrape-configs.yaml"])["scrape_configs"]
    assert [j["job_name"] for j in jobs] == ["dataflow", "generator"]


def test_scrape_configuration_loads_in_prometheus(helm: Helm, tmp_path: Path) -> None:
    docs = helm.render(
        set_values=[
            "monitoring.postgresExporterTarget=pg-exporter:9187",
            VIA_ALERTMANAGER,
            FORWARDER_URL,
        ]
    )
    (configmap,) = [d for d in docs if d["metadata"]["name"] == "ico-analytics-prometheus"]
    scrape = yaml.safe_load(configmap["data"]["scrape-configs.yaml"])
    assert [j["job_name"] for j in scrape["scrape_configs"]] == [
        "dataflow",
        "alert-forwarder",
        "postgres",
    ]
    assert scrape["scrape_configs"][-1]["static_configs"] == [{"targets": ["pg-exporter:9187"]}]
    (tmp_path / "rules.yaml").write_text(configmap["data"]["rules.yaml"])
    (tmp_path / "prometheus.yml").write_text(
        yaml.safe_dump({"rule_files": ["rules.yaml"], **scrape})
    )
    result = _promtool(
        prometheus_binaries()["promtool"], "check", "config", "prometheus.yml", cwd=tmp_path
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # The six runbook signals and IcoAlertForwarderFailing.
    assert "SUCCESS: 7 rules found" in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("settings", "receivers"),
    [
        ((), {"name": "ico-analytics"}),
        (
            (
                "notifications.email.to={ops@example.com,sales@example.com}",
                "notifications.smtp.host=smtp.example.com:587",
                "notifications.smtp.user=alerts",
                "notifications.webhook.url=https://hooks.example.com/ico",
                "notifications.slack.channel=#ico-alerts",
                "notifications.existingSecret=ico-notify",
            ),
            {
                "name": "ico-analytics",
                "email_configs": [
                    {
                        "to": to,
                        "from": "alerts@ico-analytics.local",
                        "smarthost": "smtp.example.com:587",
                        "send_resolved": True,
                        "require_tls": True,
                        "auth_username": "alerts",
                        "auth_password_file": "/etc/alertmanager/secrets/ico-notify/smtp-password",
                    }
                    for to in ("ops@example.com", "sales@example.com")
                ],
                "webhook_configs": [
                    {"url": "https://hooks.example.com/ico", "send_resolved": True}
                ],
                "slack_configs": [
                    {
                        "api_url_file": "/etc/alertmanager/secrets/ico-notify/slack-url",
                        "channel": "#ico-alerts",
                        "send_resolved": True,
                        "text": "{{ range .Alerts }}{{ .Labels.severity }}: "
                        '{{ .Annotations.summary }}{{ "\\n" }}{{ end }}',
                    }
                ],
            },
        ),
    ],
)
def test_alertmanager_configuration_is_valid(
    helm: Helm, tmp_path: Path, settings: tuple[str, ...], receivers: dict[str, Any]
) -> None:
    _, config = chart_monitoring(helm, *settings)
    assert config["receivers"] == [receivers]
    (tmp_path / "alertmanager.yml").write_text(yaml.safe_dump(config))
    result = _promtool(
        alertmanager_binaries()["amtool"], "check-config", "alertmanager.yml", cwd=tmp_path
    )
    assert result.returncode == 0, result.stdout + result.stderr


#: The runbook signals both Grafana (rule uid) and Prometheus (alert name) can evaluate.
SHARED_SIGNALS = {
    "ico-consumer-lag": "IcoDataflowConsumerLagHigh",
    "ico-dataflow-down": "IcoDataflowDown",
    "ico-sink-stalled": "IcoDataflowSinkStalled",
    "ico-duplicate-lookup-failing": "IcoDuplicateLookupFailing",
    "ico-late-duplicates-high": "IcoLateDuplicatesHigh",
    "ico-dead-letters-high": "IcoDeadLettersRising",
}


def _grafana_rules(docs: list[Manifest]) -> dict[str, dict[str, Any]]:
    (alerting,) = [d for d in docs if d["metadata"]["name"] == "ico-analytics-grafana-alerting"]
    (group,) = json.loads(alerting["data"]["alert-rules.json"])["groups"]
    return {rule["uid"]: rule for rule in group["rules"]}


def _prometheus_alerts(docs: list[Manifest]) -> list[str]:
    (rule,) = [d for d in docs if d["kind"] == "PrometheusRule"]
    return [r["alert"] for g in rule["spec"]["groups"] for r in g["rules"]]


@pytest.mark.parametrize("via", ["grafana", "alertmanager"])
def test_each_shared_signal_is_notified_by_one_path(helm: Helm, via: str) -> None:
    """Grafana's lag, dataflow-down and dead-letter rules and the Prometheus ones would both
    reach the same people: ``notifications.via`` keeps one of each."""
    built = json.loads((REPO_ROOT / "grafana-dashboards" / "alert-rules.json").read_text())
    (built_group,) = built["groups"]
    built_rules = {rule["uid"]: rule for rule in built_group["rules"]}
    assert set(SHARED_SIGNALS) <= set(built_rules)
    operator = helm.render(set_values=[f"notifications.via={via}"], api_versions=[MONITORING_API])
    grafana = _grafana_rules(operator)
    prometheus = _prometheus_alerts(operator)
    if via == "grafana":
        assert grafana == built_rules
        assert not set(prometheus) & set(SHARED_SIGNALS.values())
    else:
        assert grafana == {u: r for u, r in built_rules.items() if u not in SHARED_SIGNALS}
        assert set(SHARED_SIGNALS.values()) <= set(prometheus)
        # What Grafana still evaluates reads PostgreSQL: no PromQL rule is left twice.
        assert {q["datasourceUid"] for r in grafana.values() for q in r["data"]} == {
            "ico-postgres",
            "__expr__",
        }
    # The same without the Operator, in the scrape ConfigMap's rules.yaml.
    rules, _ = chart_monitoring(helm, f"notifications.via={via}")
    assert [r["alert"] for g in rules["groups"] for r in g["rules"]] == [
        a for a in prometheus if via == "alertmanager" or a not in SHARED_SIGNALS.values()
    ]


def test_an_unknown_notifier_is_refused(helm: Helm) -> None:
    result = helm.template(set_values=["notifications.via=both"])
    assert result.returncode != 0 and "via" in result.stderr


def _forwarder_alert(stalled_seconds: int, for_: str) -> dict[str, Any]:
    return {
        "exp_labels": {"severity": "critical", **TEAM},
        "exp_annotations": {
            "summary": "The alert forwarder is stuck or down; anomalies reach no one.",
            "description": f"For {for_} it has held alerts that no Alertmanager accepted for "
            f"more than {stalled_seconds} s, or it has not been up. "
            "ico_alert_forwarder_post_failures_total names the Alertmanager that refuses; see "
            "the log of Deployment ico-analytics-alert-forwarder.",
        },
    }


def test_the_alert_forwarder_rule_fires_when_it_stalls_or_is_down(
    helm: Helm, tmp_path: Path
) -> None:
    """Defaults: held uncommitted for more than 60 s, or not up, for 5 m. Rendered whenever the
    forwarder runs, also when Grafana notifies the shared signals."""
    rules, _ = chart_monitoring(helm, FORWARDER_URL)
    assert [r["alert"] for g in rules["groups"] for r in g["rules"]] == ["IcoAlertForwarderFailing"]
    pending = f"ico_alert_forwarder_pending_since_seconds{{{FORWARDER}}}"
    up = f"up{{{FORWARDER}}}"
    tests = [
        {
            "interval": "1m",
            # The gauge is the Unix time since which the oldest uncommitted message is held.
            "input_series": [
                # Holds a batch since minute 2 (t = 120 s) that no Alertmanager takes.
                {"series": pending, "values": "0 0 120x20"},
                {"series": up, "values": "1x20"},
            ],
            "alert_rule_test": [
                # 60 s held at 3 m (not above 60), 120 s at 4 m: pending from 4 m for 5 m.
                {"eval_time": "8m", "alertname": "IcoAlertForwarderFailing", "exp_alerts": []},
                {
                    "eval_time": "9m",
                    "alertname": "IcoAlertForwarderFailing",
                    "exp_alerts": [_forwarder_alert(60, "5m")],
                },
            ],
        },
        {
            "interval": "1m",
            "input_series": [
                # Commits every batch: what it holds is never older than 30 s.
                {"series": pending, "values": "0 30+60x20"},
                {"series": up, "values": "1x20"},
            ],
            "alert_rule_test": [
                {"eval_time": "10m", "alertname": "IcoAlertForwarderFailing", "exp_alerts": []},
                {"eval_time": "20m", "alertname": "IcoAlertForwarderFailing", "exp_alerts": []},
            ],
        },
        {
            "interval": "1m",
            # Holds nothing (0) all along: idle is not stalled, however long ago 0 is.
            "input_series": [
                {"series": pending, "values": "0x20"},
                {"series": up, "values": "1x20"},
            ],
            "alert_rule_test": [
                {"eval_time": "20m", "alertname": "IcoAlertForwarderFailing", "exp_alerts": []},
            ],
        },
        {
            "interval": "1m",
            "input_series": [
                # Its target goes down at minute 2 (no more samples of its gauges); another
                # release's forwarder is not ours.
                {"series": pending, "values": "0 0"},
                {"series": up, "values": "1 1 0x20"},
                {"series": up.replace('"analytics"', '"elsewhere"'), "values": "1x20"},
            ],
            "alert_rule_test": [
                {"eval_time": "6m", "alertname": "IcoAlertForwarderFailing", "exp_alerts": []},
                {
                    "eval_time": "7m",
                    "alertname": "IcoAlertForwarderFailing",
                    "exp_alerts": [_forwarder_alert(60, "5m")],
                },
            ],
        },
    ]
    assert "SUCCESS" in _rule_tests(rules, tests, tmp_path)


def test_the_alert_forwarder_rule_takes_its_values(helm: Helm, tmp_path: Path) -> None:
    rules, _ = chart_monitoring(
        helm,
        FORWARDER_URL,
        VIA_ALERTMANAGER,
        "monitoring.rules.alertForwarderStalledSeconds=300",
        "monitoring.rules.alertForwarderFailingFor=2m",
    )
    # In the chart's one group, after the runbook signals.
    assert [r["alert"] for g in rules["groups"] for r in g["rules"]] == [
        "IcoDataflowConsumerLagHigh",
        "IcoDataflowDown",
        "IcoDataflowSinkStalled",
        "IcoDeadLettersRising",
        "IcoDuplicateLookupFailing",
        "IcoLateDuplicatesHigh",
        "IcoAlertForwarderFailing",
    ]
    tests = [
        {
            "interval": "1m",
            "input_series": [
                # Held since minute 1: 240 s at 5 m is within 300 s; 360 s at 7 m is over.
                {
                    "series": f"ico_alert_forwarder_pending_since_seconds{{{FORWARDER}}}",
                    "values": "0 60x20",
                },
                {"series": f"up{{{FORWARDER}}}", "values": "1x20"},
                {"series": f"up{{{POD0}}}", "values": "1x20"},
            ],
            "alert_rule_test": [
                # Above 300 s from 7 m (360 s; 300 s at 6 m is not above), pending for 2 m.
                {"eval_time": "8m", "alertname": "IcoAlertForwarderFailing", "exp_alerts": []},
                {
                    "eval_time": "9m",
                    "alertname": "IcoAlertForwarderFailing",
                    "exp_alerts": [_forwarder_alert(300, "2m")],
                },
            ],
        }
    ]
    _rule_tests(rules, tests, tmp_path)
