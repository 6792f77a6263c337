"""The chart on the real cluster: `helm install --wait` (helm 3 and 4), `helm test`, data from the
generator through Kafka and two dataflow pods into PostgreSQL, Grafana through a port-forward,
`helm upgrade` keeping every generated Secret.

Kafka runs as an in-cluster fixture (manifests/kafka.yaml) with kafka.enabled=false: the Strimzi
operator cannot be obtained here. PostgreSQL, the schema registry and Grafana are local stand-in
images (images/*), built by images.sh.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from typer.testing import CliRunner

from dataflows.enrich import CLICKSTREAM_TABLE, CONVERSIONS_TABLE, REGISTRATIONS_TABLE
from ico_analytics.cli import app
from ico_analytics.dashboards.preview import queries_in
from ico_core.errors import ClusterError
from ico_core.events import EventType
from tests.cluster.kube import (
    BIN,
    E2E_DIR,
    KUBECONFIG,
    REPO_ROOT,
    Namespace,
    component_rss_mb,
    get_json,
    kubectl,
    kubectl_json,
    local_port,
    port_forward,
    record,
    run,
    wait_until,
)

CHART = REPO_ROOT / "helm" / "ico-analytics"
RELEASE = "e2e"
FULLNAME = f"{RELEASE}-ico-analytics"


@dataclass
class Release:
    ns: Namespace
    helm: str
    install_s: float

    def helm_cmd(self, *args: str, timeout: float = 600) -> str:
        return run([BIN / self.helm, "-n", self.ns.name, *args], timeout=timeout).stdout

    def sql(self, query: str) -> list[list[str]]:
        """Run a query as the superuser inside the PostgreSQL pod (its Unix socket)."""
        out = self.ns.kubectl(
            "exec",
            f"{FULLNAME}-postgresql-0",
            "--",
            "psql",
            "-h",
            "/var/run/postgresql",
            "-U",
            "postgres",
            "-d",
            "ico_analytics",
            "-AtF",
            "\t",
            "-c",
            query,
        )
        return [line.split("\t") for line in out.splitlines()]


def _install(helm: str, namespace: str) -> None:
    run(
        [
            BIN / helm,
            "install",
            RELEASE,
            CHART,
            "-n",
            namespace,
            "--set",
            "kafka.enabled=false",
            "--set",
            f"kafka.externalBootstrapServers=kafka.{namespace}.svc.cluster.local:9092",
            "--set",
            "dataflow.replicas=2",
            "--set",
            "generator.enabled=true",  # off by default (production); the data tests need it
            "--wait",
            "--wait-for-jobs",
            "--timeout",
            "6m",
        ],
        timeout=420,
    )


@pytest.fixture(scope="module", params=["helm", "helm4"])
def release(request: pytest.FixtureRequest, cluster: None) -> Iterator[Release]:
    helm: str = request.param
    ns = Namespace(f"chart-{helm}")
    kubectl("create", "namespace", ns.name)
    try:
        ns.kubectl("apply", "-f", str(E2E_DIR / "manifests" / "kafka.yaml"))
        ns.kubectl("rollout", "status", "statefulset/kafka", "--timeout=180s", timeout=190)
        start = time.monotonic()
        _install(helm, ns.name)
        install_s = time.monotonic() - start
        record(event="helm-install", helm=helm, seconds=round(install_s, 1))
        record(event="rss-mb-with-release", helm=helm, **component_rss_mb())
        yield Release(ns, helm, install_s)
    finally:
        # Uninstall and wait for the namespace to go: the next release needs the node's CPU.
        run([BIN / helm, "uninstall", RELEASE, "-n", ns.name, "--wait"], timeout=180, check=False)
        run(["kubectl", "delete", "namespace", ns.name, "--timeout=120s"], timeout=130, check=False)


def test_install_waits_until_every_pod_is_ready(release: Release) -> None:
    pods = kubectl_json("-n", release.ns.name, "get", "pods")["items"]
    by_phase: dict[str, list[str]] = {}
    for pod in pods:
        by_phase.setdefault(pod["status"]["phase"], []).append(pod["metadata"]["name"])
        if pod["status"]["phase"] == "Running":
            ready = {c["type"]: c["status"] for c in pod["status"]["conditions"]}["Ready"]
            assert ready == "True", pod["metadata"]["name"]
    assert set(by_phase) <= {"Running", "Succeeded"}, by_phase
    running = sorted(by_phase["Running"])
    for component in ("generator", "grafana", "schema-registry"):
        assert sum(f"{FULLNAME}-{component}-" in name for name in running) == 1, running
    for name in (f"{FULLNAME}-dataflow-0", f"{FULLNAME}-dataflow-1", f"{FULLNAME}-postgresql-0"):
        assert name in running
    job = kubectl_json("-n", release.ns.name, "get", "job", f"{FULLNAME}-migrate-1")
    assert job["status"]["succeeded"] == 1
    # The registry's own database and login, made by the migrations Job (the stand-in registry
    # stores elsewhere, but its init container waited until it could log in to them).
    owner = "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'schema_registry'"
    assert release.sql(owner) == [["schema_registry"]]
    assert release.sql("SELECT rolsuper FROM pg_roles WHERE rolname = 'schema_registry'") == [["f"]]
    assert {c["type"]: c["status"] for c in job["status"]["conditions"]}["Complete"] == "True"
    status = json.loads(release.helm_cmd("status", RELEASE, "-o", "json"))
    assert status["info"]["status"] == "deployed"


def test_helm_test_passes(release: Release) -> None:
    out = release.helm_cmd("test", RELEASE, "--timeout", "3m", timeout=200)
    suites = [line.split()[-1] for line in out.splitlines() if line.startswith("TEST SUITE:")]
    phases = [line.split()[-1] for line in out.splitlines() if line.startswith("Phase:")]
    assert sorted(suites) == sorted(
        f"{FULLNAME}-test-{t}" for t in ("grafana-db-user", "grafana-health", "schema-registry")
    )
    assert phases == ["Succeeded"] * 3


def test_events_flow_from_generator_through_kafka_and_two_dataflow_pods_to_postgres(
    release: Release,
) -> None:
    def counts() -> dict[str, int] | None:
        rows = release.sql(
            "SELECT (SELECT count(*) FROM raw_data.clickstream_events),"
            " (SELECT count(*) FROM analytics.window_aggregates),"
            " (SELECT count(*) FROM raw_data.dead_letters)"
        )
        raw, windows, dead = (int(v) for v in rows[0])
        return {"raw": raw, "windows": windows, "dead": dead} if raw and windows else None

    found = wait_until("raw rows and windows in PostgreSQL", counts, timeout=180, interval=3)
    assert found["raw"] > 0 and found["windows"] > 0
    # Both processes consume: the topics' partitions are spread over the two pods, so each
    # decodes events of its own (the project's counter on Bytewax's /metrics).
    for ordinal in (0, 1):

        def decoded(ordinal: int = ordinal) -> float:
            metrics = release.ns.kubectl(
                "exec",
                f"{FULLNAME}-dataflow-{ordinal}",
                "-c",
                "dataflow",
                "--",
                "python",
                "-c",
                "import urllib.request;print(urllib.request.urlopen('http://127.0.0.1:3030/metrics').read().decode())",
            )
            for line in metrics.splitlines():
                if line.startswith("ico_dataflow_events_decoded_total"):
                    return float(line.split()[-1])
            return 0.0

        assert wait_until(f"dataflow-{ordinal} decodes events", decoded, timeout=60) > 0
    # The liveness probe's command in the real image, the sink committing: healthy.
    probe = ("exec", f"{FULLNAME}-dataflow-0", "-c", "dataflow", "--", "ico-analytics")
    assert release.ns.kubectl(*probe, "sink-health").strip() == "healthy"


def test_grafana_port_forward_reports_every_provisioned_query_ok(release: Release) -> None:
    target = f"svc/{FULLNAME}-grafana"
    with port_forward(release.ns.name, target, 3000, local_port()) as url:
        body = wait_until(
            "Grafana /api/health through the port-forward",
            lambda: get_json(f"{url}/api/health"),
            timeout=60,
        )
    expected = len(queries_in(REPO_ROOT / "grafana-dashboards"))
    assert body["database"] == "ok", body
    assert body["queries"] == expected
    assert body["datasource"] == "ICO analytics"


# Valid, de-duplicated events per project: what the 5-minute windows must add up to once the
# dataflow has caught up (the generator's late events are at most 2 h 55 min late, inside the
# 3 h window lateness, so none is left out).
_AGGREGATES_VS_RAW = """
WITH raw AS (
    SELECT ico_website_id, count(*) AS n FROM (
        SELECT ico_website_id FROM raw_data.clickstream_events
        UNION ALL SELECT ico_website_id FROM raw_data.user_registrations
        UNION ALL SELECT ico_website_id FROM raw_data.conversions) e
    GROUP BY 1),
agg AS (
    SELECT ico_website_id, sum(events) AS n FROM analytics.window_aggregates
    WHERE window_length = interval '5 minutes' GROUP BY 1)
SELECT coalesce(raw.ico_website_id, agg.ico_website_id), coalesce(raw.n, 0), coalesce(agg.n, 0)
FROM raw FULL JOIN agg USING (ico_website_id) ORDER BY 1
"""


def _metric(release: Release, ordinal: int, name: str) -> float:
    """Sum of a metric's samples on one dataflow process's /metrics."""
    text = release.ns.kubectl(
        "exec",
        f"{FULLNAME}-dataflow-{ordinal}",
        "-c",
        "dataflow",
        "--",
        "python",
        "-c",
        "import urllib.request;print(urllib.request.urlopen('http://127.0.0.1:3030/metrics').read().decode())",
    )
    return sum(
        float(line.split()[-1])
        for line in text.splitlines()
        if line.startswith(name + "{") or line.startswith(name + " ")
    )


def test_dataflow_pod_loss_resumes_from_the_shared_recovery_volume_nothing_lost_or_doubled(
    release: Release,
) -> None:
    ns = release.ns
    pod0 = f"{FULLNAME}-dataflow-0"
    raw = "SELECT count(*) FROM raw_data.clickstream_events"
    before = wait_until("raw rows", lambda: int(release.sql(raw)[0][0]), timeout=180)
    old_uid = kubectl_json("-n", ns.name, "get", "pod", pod0)["metadata"]["uid"]
    ns.kubectl("delete", "pod", pod0, "--force", "--grace-period=0")

    def back() -> bool:
        pod = kubectl_json("-n", ns.name, "get", "pod", pod0)
        conditions = {c["type"]: c["status"] for c in pod["status"].get("conditions", [])}
        return pod["metadata"]["uid"] != old_uid and conditions.get("Ready") == "True"

    wait_until("dataflow-0 back and Ready", back, timeout=240, interval=2)
    ns.kubectl(
        "rollout", "status", f"statefulset/{FULLNAME}-dataflow", "--timeout=240s", timeout=250
    )
    wait_until(
        "rows written after the pod came back",
        lambda: int(release.sql(raw)[0][0]) > before,
        timeout=180,
        interval=3,
    )

    rows = _drained_rows(release, (0, 1))
    record(event="pod-loss", helm=release.helm, raw_before_loss=before, per_project=rows)
    _assert_exact(rows)


# Every stored event belongs to exactly one session once the refreshers ran: the sessions'
# events add up to the raw rows.
_SESSIONS_VS_RAW = """
SELECT (SELECT count(*) FROM raw_data.clickstream_events)
     + (SELECT count(*) FROM raw_data.user_registrations)
     + (SELECT count(*) FROM raw_data.conversions),
       (SELECT coalesce(sum(events), 0) FROM analytics.sessions),
       (SELECT count(*) FROM analytics.sessions_touched)
"""


def _drained_rows(release: Release, ordinals: tuple[int, ...]) -> list[list[str]]:
    """With the generator stopped, wait until every process has consumed everything and the
    windows and sessions stopped changing; the per-project raw events and window sums. The
    generator runs again afterwards, whatever happened."""
    ns = release.ns
    ns.kubectl("scale", f"deployment/{FULLNAME}-generator", "--replicas=0")
    try:
        ns.kubectl("wait", "--for=delete", "pod", "-l", "app.kubernetes.io/component=generator",
                   "--timeout=60s", timeout=70)  # fmt: skip
        wait_until(
            f"consumer lag 0 on processes {ordinals}",
            lambda: all(_metric(release, i, "bytewax_kafka_consumer_lag") == 0 for i in ordinals),
            timeout=180,
            interval=3,
        )
        previous: list[list[str]] = []

        def settled() -> list[list[str]] | None:
            nonlocal previous
            rows = release.sql(_AGGREGATES_VS_RAW) + release.sql(_SESSIONS_VS_RAW)
            stable = rows == previous
            previous = rows
            # Stable, and the refreshers (every 30 s) have claimed every touched batch.
            return rows if stable and rows[-1][2] == "0" else None

        rows = wait_until("aggregates and sessions settled", settled, timeout=240, interval=12)
        record(event="topic-records", helm=release.helm, **_assert_every_record_accounted(release))
    finally:
        ns.kubectl("scale", f"deployment/{FULLNAME}-generator", "--replicas=1")
    (raw, in_sessions, _), per_project = rows[-1], rows[:-1]
    # Every stored event is in exactly one session.
    assert int(in_sessions) == int(raw), rows[-1]
    return per_project


#: Each event topic's raw table.
_RAW_TABLES = {
    EventType.CLICKSTREAM: CLICKSTREAM_TABLE,
    EventType.REGISTRATION: REGISTRATIONS_TABLE,
    EventType.CONVERSION: CONVERSIONS_TABLE,
}


def _assert_every_record_accounted(release: Release) -> dict[str, int]:
    """Nothing lost or invented, counted against Kafka itself (the generator stopped, the lag
    0): every record of each event topic is a dead letter at its own topic, partition and
    offset, or its event is a raw row, and every raw row's event is such a record. Duplicates
    fold into one id. The records per topic."""
    script = (E2E_DIR / "pod" / "topic_records.py").read_text()
    out = release.ns.kubectl("exec", "-i", f"{FULLNAME}-dataflow-0", "-c", "dataflow", "--",
                             "python", "-", input=script, timeout=300)  # fmt: skip
    records = [tuple(json.loads(line)) for line in out.splitlines()]
    dead = {
        (topic, int(partition), int(offset))
        for topic, partition, offset in release.sql(
            "SELECT source_topic, source_partition, source_offset FROM raw_data.dead_letters"
        )
        if topic in {t.topic for t in EventType}
    }
    assert dead <= {(t, p, o) for t, p, o, _ in records}, "a dead letter of no record"
    counts: dict[str, int] = {}
    for event_type, table in _RAW_TABLES.items():
        topic = event_type.topic
        mine = [r for r in records if r[0] == topic]
        kept = {ident for t, p, o, ident in mine if (t, p, o) not in dead}
        assert None not in kept, f"{topic}: an undecodable record is no dead letter"
        stored = {row[0] for row in release.sql(f"SELECT {event_type.id_field} FROM {table}")}
        assert kept == stored, (topic, len(kept - stored), len(stored - kept))
        counts[topic] = len(mine)
    assert counts["clickstream-events"] > 0 and counts["conversions"] > 0, counts
    return counts


def _assert_exact(rows: list[list[str]]) -> None:
    mismatches = [r for r in rows if r[1] != r[2]]
    # Projects that got no event yet have no row: at least most of the 20 must be there.
    assert len(rows) >= 15 and sum(int(r[1]) for r in rows) > 0, rows
    assert mismatches == [], f"project, raw events, sum of 5-minute windows: {mismatches}"


def _cli(release: Release, *args: str) -> str:
    result = CliRunner().invoke(
        app,
        [
            *args,
            "--namespace",
            release.ns.name,
            "--release",
            RELEASE,
            "--kubeconfig",
            str(KUBECONFIG),
        ],
    )
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.one_helm
def test_cluster_scale_rescales_2_to_3_and_back_nothing_lost_or_doubled(release: Release) -> None:
    """`ico-analytics cluster scale`: every process stops, the peer list changes, all start and
    resume from the shared recovery volume; windows stay exact and sessions cover every event."""
    ns = release.ns
    statefulset = f"statefulset/{FULLNAME}-dataflow"
    raw = "SELECT count(*) FROM raw_data.clickstream_events"
    refused = CliRunner().invoke(
        app,
        ["cluster", "scale", "--replicas", "7", "--namespace", ns.name, "--release", RELEASE,
         "--kubeconfig", str(KUBECONFIG)],
    )  # fmt: skip
    assert isinstance(refused.exception, ClusterError)
    assert "the recovery store has 6 partitions" in str(refused.exception)
    for replicas, ordinals in ((3, (0, 1, 2)), (2, (0, 1))):
        began = time.monotonic()
        out = _cli(release, "cluster", "scale", "--replicas", str(replicas))
        record(event="cluster-scale", helm=release.helm, replicas=replicas,
               seconds=round(time.monotonic() - began, 1))  # fmt: skip
        assert f"{replicas} dataflow process(es) Ready" in out
        sts = kubectl_json("-n", ns.name, "get", statefulset)
        assert (sts["spec"]["replicas"], sts["status"]["readyReplicas"]) == (replicas, replicas)
        hosts = kubectl_json("-n", ns.name, "get", "configmap", f"{FULLNAME}-dataflow-hosts")
        assert len(hosts["data"]["hostfile.txt"].splitlines()) == replicas
        before = int(release.sql(raw)[0][0])
        wait_until(
            f"rows written by {replicas} processes",
            lambda before=before: int(release.sql(raw)[0][0]) > before,
            timeout=180,
            interval=3,
        )
        status = _cli(release, "cluster", "status")
        assert f"dataflow: {replicas} process(es), 6 recovery partitions" in status
        for i in ordinals:
            assert f"{FULLNAME}-dataflow-{i}" in status
        _assert_exact(_drained_rows(release, ordinals))
    # Back at the release's own count, the chart renders the same peer list and checksum: an
    # upgrade that changes nothing else restarts nothing.
    uid = kubectl_json("-n", ns.name, "get", "pod", f"{FULLNAME}-dataflow-0")["metadata"]["uid"]
    release.helm_cmd("upgrade", RELEASE, str(CHART), "--reuse-values", "--wait", "--timeout", "6m",
                     timeout=420)  # fmt: skip
    assert (
        kubectl_json("-n", ns.name, "get", "pod", f"{FULLNAME}-dataflow-0")["metadata"]["uid"]
        == uid
    )


GENERATED_SECRETS = (
    "postgresql", "pii", "crm", "grafana", "grafana-db", "dataflow-db", "schema-registry-db",
)  # fmt: skip


def test_helm_upgrade_and_rollback(release: Release) -> None:
    """`helm upgrade` to other values and `helm rollback` to the previous revision both
    succeed, keep every generated Secret (`lookup` renders the live value again), and the data
    keeps flowing, windows and sessions exact."""
    ns = release.ns
    raw = "SELECT count(*) FROM raw_data.clickstream_events"

    def secrets() -> dict[str, object]:
        return {
            name: kubectl_json("-n", ns.name, "get", "secret", f"{FULLNAME}-{name}")["data"]
            for name in GENERATED_SECRETS
        }

    kept = secrets()
    revision = json.loads(release.helm_cmd("status", RELEASE, "-o", "json"))["version"]
    began = time.monotonic()
    release.helm_cmd(
        "upgrade", RELEASE, str(CHART), "--reuse-values", "--set", "generator.eventsPerMinute=900",
        "--set", "maintenance.kpisSchedule=*/5 * * * *", "--wait", "--wait-for-jobs",
        "--timeout", "6m", timeout=420,
    )  # fmt: skip
    record(event="helm-upgrade", helm=release.helm, seconds=round(time.monotonic() - began, 1))
    cron = kubectl_json("-n", ns.name, "get", "cronjob", f"{FULLNAME}-refresh-kpis")
    assert cron["spec"]["schedule"] == "*/5 * * * *"
    assert secrets() == kept
    began = time.monotonic()
    release.helm_cmd("rollback", RELEASE, str(revision), "--wait", "--timeout", "6m", timeout=420)
    record(event="helm-rollback", helm=release.helm, seconds=round(time.monotonic() - began, 1))
    status = json.loads(release.helm_cmd("status", RELEASE, "-o", "json"))
    assert status["info"]["status"] == "deployed" and status["version"] == revision + 2
    cron = kubectl_json("-n", ns.name, "get", "cronjob", f"{FULLNAME}-refresh-kpis")
    assert cron["spec"]["schedule"] == "*/15 * * * *"
    assert secrets() == kept
    ns.kubectl("rollout", "status", f"deployment/{FULLNAME}-generator", "--timeout=180s",
               timeout=190)  # fmt: skip
    before = int(release.sql(raw)[0][0])
    wait_until(
        "rows written after the rollback",
        lambda: int(release.sql(raw)[0][0]) > before,
        timeout=180,
        interval=3,
    )
    _assert_exact(_drained_rows(release, (0, 1)))


@pytest.mark.parametrize(
    ("assignment", "message"),
    [
        ("postgresql.persistence.size=16Gi", "volume claim templates are immutable"),
        ("postgresql.persistence.storageClass=fast", "postgresql.persistence cannot change"),
        ("dataflow.recovery.persistence.size=4Gi", "cannot grow to 4Gi: only a claim of a"),
        ("dataflow.recovery.persistence.size=1Gi", "a claim never shrinks. Set it back to 2Gi"),
        ("dataflow.recovery.persistence.storageClass=fast", "a claim's class is immutable"),
        ("backup.persistence.size=20Gi", "PVC e2e-ico-analytics-backup (10Gi) cannot grow"),
    ],
)
def test_storage_changes_the_api_server_refuses_are_refused_when_rendering(
    release: Release, assignment: str, message: str
) -> None:
    """The API server refuses to resize a claim whose class cannot expand (this cluster's
    claims have no class) and any change of a StatefulSet's volume claim templates, but only
    after the upgrade had created its migrations Job. The chart refuses them while rendering,
    saying what to do: no new revision, no Job."""
    ns = release.ns
    revision = json.loads(release.helm_cmd("status", RELEASE, "-o", "json"))["version"]
    refused = run(
        [BIN / release.helm, "-n", ns.name, "upgrade", RELEASE, CHART, "--reuse-values",
         "--set", assignment],
        timeout=120,
        check=False,
    )  # fmt: skip
    assert refused.returncode != 0
    assert message in refused.stderr, refused.stderr
    assert json.loads(release.helm_cmd("status", RELEASE, "-o", "json"))["version"] == revision
    jobs = kubectl_json("-n", ns.name, "get", "jobs")["items"]
    assert f"{FULLNAME}-migrate-{revision + 1}" not in {j["metadata"]["name"] for j in jobs}


def test_helm_upgrade_between_ci_scenarios_and_rollback(release: Release) -> None:
    """A user moves the release to the monitoring scenario, then to notifications (with the
    Secret that scenario names): both upgrades succeed and Alertmanager's configuration gets
    the receivers. Moving on to scaled-dataflow is refused while rendering (its recovery
    partitions differ from the volume's). A rollback returns to the values of the start."""
    ns = release.ns
    start = json.loads(release.helm_cmd("status", RELEASE, "-o", "json"))["version"]

    def alertmanager_config() -> str:
        data = kubectl_json("-n", ns.name, "get", "secret", f"{FULLNAME}-alertmanager")["data"]
        return base64.b64decode(data["alertmanager.yaml"]).decode()

    ns.kubectl("create", "secret", "generic", "ico-notify", "--from-literal=smtp-password=pw",
               "--from-literal=slack-url=https://hooks.slack.com/services/T0/B0/x")  # fmt: skip
    try:
        for scenario in ("monitoring", "notifications"):
            began = time.monotonic()
            release.helm_cmd(
                "upgrade", RELEASE, str(CHART), "--reuse-values",
                "--values", str(CHART / "ci" / f"{scenario}-values.yaml"),
                "--wait", "--timeout", "6m", timeout=420,
            )  # fmt: skip
            record(event=f"helm-upgrade-{scenario}", helm=release.helm,
                   seconds=round(time.monotonic() - began, 1))  # fmt: skip
            status = json.loads(release.helm_cmd("status", RELEASE, "-o", "json"))
            assert status["info"]["status"] == "deployed"
        config = alertmanager_config()
        for receiver in (
            "ops@example.com",
            "#ico-alerts",
            "https://hooks.example.com/ico-analytics",
        ):
            assert receiver in config
        refused = run(
            [BIN / release.helm, "-n", ns.name, "upgrade", RELEASE, CHART, "--reuse-values",
             "--values", CHART / "ci" / "scaled-dataflow-values.yaml"],
            timeout=120,
            check=False,
        )  # fmt: skip
        assert refused.returncode != 0
        assert "dataflow.recovery.partitions cannot change" in refused.stderr, refused.stderr
        release.helm_cmd("rollback", RELEASE, str(start), "--wait", "--timeout", "6m", timeout=420)
        status = json.loads(release.helm_cmd("status", RELEASE, "-o", "json"))
        assert status["info"]["status"] == "deployed" and status["version"] == start + 3
        assert "ops@example.com" not in alertmanager_config()
    finally:
        ns.kubectl("delete", "secret", "ico-notify", "--ignore-not-found")


def test_strimzi_objects_of_the_chart_are_admitted_by_the_api_server(release: Release) -> None:
    """kafka.enabled=true renders Strimzi's Kafka, KafkaNodePool and KafkaTopics: with the CRDs
    installed the real API server validates and stores them (no operator acts on them)."""
    crds = REPO_ROOT / "tests" / "chart" / "crds" / "strimzi-1.2.0"
    kubectl("apply", "--server-side", "-f", str(crds))
    for name in ("kafkas", "kafkanodepools", "kafkatopics"):
        kubectl("wait", "--for=condition=Established", f"crd/{name}.kafka.strimzi.io",
                "--timeout=60s", timeout=70)  # fmt: skip
    rendered = run(
        [BIN / release.helm, "template", "strimzi", CHART, "-n", release.ns.name,
         "--kube-version", "1.34.4"],
        timeout=120,
    ).stdout  # fmt: skip
    docs = [d for d in rendered.split("\n---\n") if "kafka.strimzi.io/" in d]
    assert len(docs) >= 3
    strimzi = "\n---\n".join(docs)
    try:
        out = release.ns.kubectl("apply", "-f", "-", input=strimzi)
        kinds = kubectl_json("-n", release.ns.name, "get", "kafka,kafkanodepool,kafkatopic")
        got = sorted({item["kind"] for item in kinds["items"]})
        assert got == ["Kafka", "KafkaNodePool", "KafkaTopic"], out
        topics = [i for i in kinds["items"] if i["kind"] == "KafkaTopic"]
        assert len(topics) == len([d for d in docs if "kind: KafkaTopic" in d])
    finally:
        release.ns.kubectl("delete", "-f", "-", "--wait=false", input=strimzi)


def test_uninstall_keeps_what_it_documents_and_a_reinstall_resumes_from_it(
    release: Release,
) -> None:
    ns = release.ns
    kept_secrets = [f"{FULLNAME}-postgresql", f"{FULLNAME}-pii", f"{FULLNAME}-crm"]
    kept_claims = [f"{FULLNAME}-dataflow-recovery", f"data-{FULLNAME}-postgresql-0"]

    def state() -> dict[str, object]:
        secrets = {n: kubectl_json("-n", ns.name, "get", "secret", n)["data"] for n in kept_secrets}
        claims = {
            n: kubectl_json("-n", ns.name, "get", "pvc", n)["metadata"]["uid"] for n in kept_claims
        }
        return {"secrets": secrets, "claims": claims}

    raw = "SELECT count(*) FROM raw_data.clickstream_events"
    before_rows = wait_until("raw rows", lambda: int(release.sql(raw)[0][0]), timeout=180)
    before = state()
    release.helm_cmd("uninstall", RELEASE, "--wait", "--timeout", "3m", timeout=200)
    wait_until(
        "the release's pods gone",
        lambda: (
            not ns.kubectl(
                "get", "pods", "-l", "app.kubernetes.io/instance=" + RELEASE, "-o", "name"
            ).strip()
        ),
        timeout=180,
        interval=2,
    )
    assert state() == before  # the Secrets' values and the very same claims outlive the release
    # The kept recovery volume holds 6 partitions: a reinstall with another count is refused
    # while rendering, before anything is created.
    refused = run(
        [BIN / release.helm, "install", RELEASE, CHART, "-n", ns.name, "--set", "kafka.enabled=false",
         "--set", f"kafka.externalBootstrapServers=kafka.{ns.name}.svc.cluster.local:9092",
         "--set", "dataflow.recovery.partitions=8"],
        timeout=120,
        check=False,
    )  # fmt: skip
    assert refused.returncode != 0
    assert "the kept recovery volume" in refused.stderr, refused.stderr
    assert "holds 6 partitions" in refused.stderr, refused.stderr
    _install(release.helm, ns.name)
    assert state() == before
    # The new PostgreSQL pod runs on the kept data with the kept password, and the dataflow
    # continues on the kept recovery volume: the rows are still there and keep growing.
    after_rows = int(release.sql(raw)[0][0])
    assert after_rows >= before_rows
    wait_until(
        "rows written after the reinstall",
        lambda: int(release.sql(raw)[0][0]) > after_rows,
        timeout=180,
        interval=3,
    )
    out = release.helm_cmd("test", RELEASE, "--timeout", "3m", timeout=200)
    assert [line.split()[-1] for line in out.splitlines() if line.startswith("Phase:")] == [
        "Succeeded"
    ] * 3
