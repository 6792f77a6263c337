"""The chart lints, renders valid manifests in every scenario, and refuses bad values."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from tests.chart.chartlib import (
    CHART,
    CI_VALUES,
    KUBE_VERSION,
    MONITORING_API,
    NAMESPACE,
    Helm,
    Manifest,
    scenarios,
)
from tests.chart.schemas import validation_errors

SCENARIOS = [s.name for s in scenarios()]


@pytest.mark.parametrize("values", [None, *CI_VALUES], ids=lambda v: v.name if v else "defaults")
def test_lint_strict(helm: Helm, values: Path | None) -> None:
    args = ["lint", "--strict", str(CHART)]
    if values is not None:
        args += ["--values", str(values)]
    result = helm.run(*args)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 chart(s) linted, 0 chart(s) failed" in result.stdout


def test_every_ci_scenario_is_rendered() -> None:
    names = {path.name for path in CI_VALUES}
    assert {
        "default-values.yaml",
        "external-database-values.yaml",
        "monitoring-values.yaml",
        "scaled-dataflow-values.yaml",
        "minimal-values.yaml",
        "notifications-values.yaml",
    } <= names
    assert "monitoring+api" in SCENARIOS


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_manifests_validate_against_schemas(
    rendered: dict[str, list[Manifest]], scenario: str
) -> None:
    docs = rendered[scenario]
    assert validation_errors(docs, KUBE_VERSION) == []
    # The chart's core set is present in every scenario.
    kinds = {d["kind"] for d in docs}
    assert {"StatefulSet", "Deployment", "Job", "Service", "ConfigMap", "Secret"} <= kinds


@pytest.mark.parametrize(
    ("assignment", "message"),
    [
        ("dataflow.replicas=0", "at '/dataflow/replicas': minimum: got 0, want 1"),
        ("dataflow.replicas=three", "at '/dataflow/replicas': got string, want integer"),
        ("kafka.topics.partitions=0", "at '/kafka/topics/partitions': minimum: got 0, want 1"),
        ("grafana.image.tag=11.6.0", "at '/grafana/image/tag'"),
        ("postgresql.enabled=false", "externalDatabase"),
        ("kafka.enabled=false", "externalBootstrapServers"),
        ("dataflow.unknownKey=1", "additional properties 'unknownKey' not allowed"),
        ("externalDatabase.sslmode=on", "at '/externalDatabase/sslmode'"),
    ],
)
def test_values_schema_rejects_bad_values(helm: Helm, assignment: str, message: str) -> None:
    result = helm.template(set_values=[assignment])
    assert result.returncode != 0
    assert "values don't meet the specifications of the schema" in result.stderr
    assert message in result.stderr


@pytest.mark.parametrize(
    ("assignments", "message"),
    [
        (
            ["dataflow.replicas=7", "dataflow.recovery.partitions=6"],
            "dataflow.replicas (7) exceeds dataflow.recovery.partitions (6)",
        ),
        (["kafka.topics.replicas=3"], "kafka.topics.replicas (3) exceeds kafka.nodePool.replicas"),
        (
            [
                "postgresql.enabled=false",
                "externalDatabase.host=db",
                "externalDatabase.username=u",
                "externalDatabase.existingSecret=s",
                "externalDatabase.sslmode=verify-full",
            ],
            "set externalDatabase.sslRootCert.existingSecret to the Secret of its CA",
        ),
    ],
)
def test_cross_value_checks_fail_rendering(
    helm: Helm, assignments: list[str], message: str
) -> None:
    result = helm.template(set_values=assignments)
    assert result.returncode != 0
    assert message in result.stderr


def _notes(helm: Helm, tmp_path: Path, *set_values: str) -> str:
    # `helm template` never renders NOTES.txt: a copy of the chart renders it with `tpl` into a
    # ConfigMap (.Files cannot read templates/, so the copy sits at the chart root).
    chart = tmp_path / "ico-analytics"
    shutil.copytree(CHART, chart)
    shutil.copy(chart / "templates" / "NOTES.txt", chart / "notes.txt")
    (chart / "templates" / "notes-render.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes\n"
        'data:\n  notes: {{ tpl (.Files.Get "notes.txt") . | quote }}\n'
    )
    result = helm.run(
        "template",
        "ico-analytics",
        str(chart),
        "--namespace",
        NAMESPACE,
        "--kube-version",
        KUBE_VERSION,
        "--show-only",
        "templates/notes-render.yaml",
        *(arg for value in set_values for arg in ("--set", value)),
    )
    assert result.returncode == 0, result.stderr
    notes: str = yaml.safe_load(result.stdout)["data"]["notes"]
    return notes


def test_notes_explain_port_forward_and_admin_password(helm: Helm, tmp_path: Path) -> None:
    notes = _notes(helm, tmp_path)
    assert f"kubectl -n {NAMESPACE} port-forward svc/ico-analytics-grafana 3000:3000" in notes
    assert (
        f"kubectl -n {NAMESPACE} get secret ico-analytics-grafana "
        "-o jsonpath='{.data.admin-password}' | base64 -d" in notes
    )
    assert "kubectl -n analytics wait kafka/ico-analytics-kafka --for=condition=Ready" in notes
    assert 'scrape jobs and rules of ConfigMap "ico-analytics-prometheus"' in notes
    assert 'Secret "ico-analytics-alertmanager", key alertmanager.yaml' in notes
    assert "dead letters are notified by Grafana (notifications.via=grafana)" in notes
    assert "Alerts reach nobody yet" in notes
    assert (
        'Backups: CronJob "ico-analytics-backup" dumps the databases (43 2 * * * UTC) to PVC '
        '"ico-analytics-backup", keeping 7 per database' in notes
    )
    assert "alert-forwarder" not in notes


def test_notes_name_the_alert_forwarder_and_its_alert(helm: Helm, tmp_path: Path) -> None:
    notes = _notes(
        helm,
        tmp_path,
        "monitoring.alertmanager.url=http://alertmanager-operated.monitoring:9093",
        "monitoring.rules.alertForwarderFailingFor=10m",
    )
    assert (
        'Anomalies: Deployment "ico-analytics-alert-forwarder" forwards them to '
        "http://alertmanager-operated.monitoring:9093; its metrics (port 9101, job "
        "alert-forwarder) are scraped, and IcoAlertForwarderFailing fires when it holds alerts "
        "for more than 60 s or is down, for 10m."
    ) in notes


def test_monitoring_objects_only_with_the_api(rendered: dict[str, list[Manifest]]) -> None:
    monitoring_kinds = {"PodMonitor", "ServiceMonitor", "PrometheusRule"}
    for name, docs in rendered.items():
        found = {d["kind"] for d in docs} & monitoring_kinds
        if name == "monitoring+api":
            assert found == {"PodMonitor", "PrometheusRule"}
            assert all(d["apiVersion"] == MONITORING_API for d in docs if d["kind"] in found)
        else:
            assert found == set(), name
