"""What the rendered manifests mean: the Kubernetes shape of docs/architecture.md and the app."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from ico_analytics.alertforward import DEFAULT_GROUP_ID
from ico_analytics.cluster import hostfile
from ico_core.errors import ClusterError
from ico_core.topics import COMPONENT_ACCESS
from tests.chart.chartlib import (
    CHART,
    MONITORING_API,
    NAMESPACE,
    REPO_ROOT,
    Helm,
    Manifest,
    by_kind,
    env_of,
    load_yaml,
    one,
)

WORKLOAD_KINDS = ("Deployment", "StatefulSet", "Job", "CronJob")
STANDARD_LABELS = (
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/version",
    "app.kubernetes.io/component",
    "app.kubernetes.io/part-of",
    "app.kubernetes.io/managed-by",
)
TOPICS = ("clickstream-events", "user-registrations", "conversions", "dead-letter", "alerts")


def ci(name: str) -> Path:
    return CHART / "ci" / f"{name}-values.yaml"


def pod_template(workload: Manifest) -> Manifest:
    spec = (
        workload["spec"]["jobTemplate"]["spec"]
        if workload["kind"] == "CronJob"
        else workload["spec"]
    )
    template: Manifest = spec["template"]
    return template


def pod_spec(workload: Manifest) -> Manifest:
    spec: Manifest = pod_template(workload)["spec"]
    return spec


def container(workload: Manifest, name: str) -> Manifest:
    spec = pod_spec(workload)
    matches: list[Manifest] = [
        c for c in spec["containers"] + spec.get("initContainers", []) if c["name"] == name
    ]
    assert len(matches) == 1, name
    return matches[0]


@pytest.mark.parametrize(("scenario", "replicas"), [("defaults", 1), ("scaled-dataflow", 3)])
def test_dataflow_hostfile_lists_every_process(
    rendered: dict[str, list[Manifest]], scenario: str, replicas: int
) -> None:
    docs = rendered[scenario]
    sts = one(docs, "StatefulSet", "ico-analytics-dataflow")
    hosts = one(docs, "ConfigMap", "ico-analytics-dataflow-hosts")["data"]["hostfile.txt"]
    assert sts["spec"]["replicas"] == replicas
    assert hosts.splitlines() == [
        f"ico-analytics-dataflow-{i}.ico-analytics-dataflow-headless.{NAMESPACE}"
        f".svc.cluster.local:2101"
        for i in range(replicas)
    ]
    assert sts["spec"]["serviceName"] == "ico-analytics-dataflow-headless"
    assert sts["spec"]["podManagementPolicy"] == "Parallel"
    headless = one(docs, "Service", "ico-analytics-dataflow-headless")
    assert headless["spec"]["clusterIP"] == "None"
    assert headless["spec"]["publishNotReadyAddresses"] is True
    env = env_of(container(sts, "dataflow"))
    # Bytewax derives the process id from the pod name minus "<statefulset>-".
    assert env["BYTEWAX_POD_NAME"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert env["BYTEWAX_STATEFULSET_NAME"] == sts["metadata"]["name"]
    assert env["BYTEWAX_HOSTFILE_PATH"] == "/etc/ico-analytics/hostfile.txt"
    assert env["BYTEWAX_DATAFLOW_API_ENABLED"] == "true"
    assert env["BYTEWAX_WORKERS_PER_PROCESS"] == ("2" if replicas == 3 else "1")
    mounts = {m["name"]: m["mountPath"] for m in container(sts, "dataflow")["volumeMounts"]}
    assert mounts["config"] == "/etc/ico-analytics"


def test_cluster_scale_writes_the_peer_list_and_checksum_helm_would_render(
    rendered: dict[str, list[Manifest]],
) -> None:
    """`ico-analytics cluster scale` rewrites the hostfile and its checksum annotation; a later
    `helm upgrade` with that replica count must find them unchanged (no second restart)."""
    one_process = rendered["defaults"]
    first = one(one_process, "ConfigMap", "ico-analytics-dataflow-hosts")["data"]["hostfile.txt"]
    three = rendered["scaled-dataflow"]
    hosts = one(three, "ConfigMap", "ico-analytics-dataflow-hosts")["data"]["hostfile.txt"]
    sts = one(three, "StatefulSet", "ico-analytics-dataflow")
    peers = hostfile(first.splitlines()[0], 3)
    assert peers + "\n" == hosts
    checksum = sts["spec"]["template"]["metadata"]["annotations"]["checksum/hosts"]
    assert hashlib.sha256(peers.encode()).hexdigest() == checksum
    with pytest.raises(ClusterError, match="unexpected first peer"):
        hostfile(hosts.splitlines()[1], 2)


@pytest.mark.parametrize(
    ("scenario", "partitions", "storage_class"),
    [("defaults", 6, None), ("scaled-dataflow", 12, "nfs-client")],
)
def test_recovery_volume_is_shared_read_write_many(
    rendered: dict[str, list[Manifest]], scenario: str, partitions: int, storage_class: str | None
) -> None:
    docs = rendered[scenario]
    sts = one(docs, "StatefulSet", "ico-analytics-dataflow")
    pvc = one(docs, "PersistentVolumeClaim", "ico-analytics-dataflow-recovery")
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"]
    assert pvc["spec"].get("storageClassName") == storage_class
    # One claim for all pods, not a per-pod volumeClaimTemplate.
    assert "volumeClaimTemplates" not in sts["spec"]
    volumes = {v["name"]: v for v in pod_spec(sts)["volumes"]}
    assert volumes["recovery"]["persistentVolumeClaim"]["claimName"] == pvc["metadata"]["name"]
    for name in ("dataflow", "init-recovery"):
        mounts = {m["name"]: m["mountPath"] for m in container(sts, name)["volumeMounts"]}
        assert mounts["recovery"] == "/var/lib/bytewax"
    env = env_of(container(sts, "dataflow"))
    assert env["BYTEWAX_RECOVERY_DIRECTORY"] == "/var/lib/bytewax/recovery"
    assert env["BYTEWAX_SNAPSHOT_INTERVAL"] == "10"
    assert env["BYTEWAX_RECOVERY_BACKUP_INTERVAL"] == ("3600" if partitions == 12 else "0")
    assert env_of(container(sts, "init-recovery"))["RECOVERY_PARTITIONS"] == str(partitions)
    script = one(docs, "ConfigMap", "ico-analytics-dataflow-hosts")["data"]["init-recovery.sh"]
    assert 'python -m bytewax.recovery "$root/staging" "$RECOVERY_PARTITIONS"' in script
    assert container(sts, "init-recovery")["command"] == [
        "sh",
        "/etc/ico-analytics/init-recovery.sh",
    ]


def test_dataflow_liveness_probe_checks_the_sink(helm: Helm) -> None:
    from typer.testing import CliRunner

    from ico_analytics.cli import app

    docs = helm.render(set_values=["dataflow.liveness.sinkStallSeconds=120"])
    dataflow = container(one(docs, "StatefulSet", "ico-analytics-dataflow"), "dataflow")
    command = dataflow["livenessProbe"]["exec"]["command"]
    assert command == [
        "ico-analytics",
        "sink-health",
        "--max-stall-seconds=120",
        "--metrics-url=http://127.0.0.1:3030/metrics",
    ]
    # The image's entry point takes exactly these options (tests/sinks/test_sink_liveness.py
    # shows what the command decides).
    assert CliRunner().invoke(app, [*command[1:], "--help"]).exit_code == 0
    assert dataflow["readinessProbe"]["httpGet"] == {"path": "/metrics", "port": "api"}


def test_dataflow_grace_period_is_short_and_settable(helm: Helm) -> None:
    """The dataflow ignores SIGTERM (PID 1) and resumes exactly after a kill: a long grace
    would only hold every restart, scale and rollout (60 s each, measured in make e2e)."""
    for values, seconds in (([], 5), (["dataflow.terminationGracePeriodSeconds=30"], 30)):
        statefulset = one(helm.render(set_values=values), "StatefulSet", "ico-analytics-dataflow")
        assert pod_spec(statefulset)["terminationGracePeriodSeconds"] == seconds


@pytest.mark.parametrize(
    ("scenario", "clickstream", "others", "replicas"),
    [("defaults", 6, 3, 1), ("scaled-dataflow", 12, 6, 3)],
)
def test_strimzi_resources(
    rendered: dict[str, list[Manifest]], scenario: str, clickstream: int, others: int, replicas: int
) -> None:
    docs = rendered[scenario]
    strimzi = [d for d in docs if d["apiVersion"].startswith("kafka.strimzi.io/")]
    assert {d["apiVersion"] for d in strimzi} == {"kafka.strimzi.io/v1"}
    kafka = one(docs, "Kafka", "ico-analytics-kafka")
    assert kafka["spec"]["kafka"]["version"] == "4.3.1"
    assert "zookeeper" not in kafka["spec"]
    pool = one(docs, "KafkaNodePool", "ico-analytics-dual-role")
    assert pool["metadata"]["labels"]["strimzi.io/cluster"] == "ico-analytics-kafka"
    assert pool["spec"]["replicas"] == replicas
    assert sorted(pool["spec"]["roles"]) == ["broker", "controller"]
    topics = {t["spec"]["topicName"]: t for t in by_kind(docs, "KafkaTopic")}
    assert sorted(topics) == sorted(TOPICS)
    for name, topic in topics.items():
        assert topic["metadata"]["labels"]["strimzi.io/cluster"] == "ico-analytics-kafka"
        assert topic["spec"]["partitions"] == (clickstream if name == TOPICS[0] else others)
        assert topic["spec"]["replicas"] == replicas


def test_apps_reach_kafka_and_the_registry(rendered: dict[str, list[Manifest]]) -> None:
    docs = rendered["demo"]
    registry = one(docs, "Service", "ico-analytics-schema-registry")
    port = registry["spec"]["ports"][0]["port"]
    for workload, name in (
        (one(docs, "Deployment", "ico-analytics-generator"), "generator"),
        (one(docs, "StatefulSet", "ico-analytics-dataflow"), "dataflow"),
    ):
        env = env_of(container(workload, name))
        assert env["KAFKA_BOOTSTRAP_SERVERS"] == "ico-analytics-kafka-kafka-bootstrap:9093"
        # RegistrySchemas passes the URL to the Confluent client as is: the ccompat base.
        assert env["SCHEMA_REGISTRY_URL"] == (
            f"http://ico-analytics-schema-registry:{port}/apis/ccompat/v7"
        )
    generator = env_of(container(one(docs, "Deployment", "ico-analytics-generator"), "generator"))
    assert generator["EVENTS_PER_MINUTE"] == "500"
    assert generator["ICO_WEBSITES_COUNT"] == "20"
    assert generator["DATA_QUALITY_ISSUES"] == "true"
    assert generator["GENERATOR_METRICS_PORT"] == "9100"
    assert generator["METRICS_BIND_ADDRESS"] == "0.0.0.0"
    external = rendered["external-kafka"]
    assert by_kind(external, "Kafka") == [] and by_kind(external, "KafkaTopic") == []
    dataflow = env_of(container(one(external, "StatefulSet", "ico-analytics-dataflow"), "dataflow"))
    assert dataflow["KAFKA_BOOTSTRAP_SERVERS"] == (
        "broker-0.kafka.example.internal:9093,broker-1.kafka.example.internal:9093"
    )


def test_each_app_logs_in_to_kafka_with_only_its_acls(rendered: dict[str, list[Manifest]]) -> None:
    """The KafkaUsers grant exactly ico_core.topics.COMPONENT_ACCESS, the contract the local
    broker's ACL tests prove; each app logs in over TLS as its own user."""
    docs = rendered["defaults"]
    kafka = one(docs, "Kafka", "ico-analytics-kafka")["spec"]["kafka"]
    assert kafka["listeners"] == [
        {
            "name": "tls",
            "port": 9093,
            "type": "internal",
            "tls": True,
            "authentication": {"type": "scram-sha-512"},
        }
    ]
    assert kafka["authorization"] == {"type": "simple"}
    assert "userOperator" in one(docs, "Kafka", "ico-analytics-kafka")["spec"]["entityOperator"]
    # The generator is off by default; its user waits for it.
    assert {u["metadata"]["name"] for u in by_kind(docs, "KafkaUser")} == {
        "ico-analytics-generator",
        "ico-analytics-dataflow",
    }
    docs = rendered["demo"]
    for component, workload in (
        ("generator", one(docs, "Deployment", "ico-analytics-generator")),
        ("dataflow", one(docs, "StatefulSet", "ico-analytics-dataflow")),
    ):
        user = one(docs, "KafkaUser", f"ico-analytics-{component}")
        assert user["metadata"]["labels"]["strimzi.io/cluster"] == "ico-analytics-kafka"
        assert user["spec"]["authentication"] == {"type": "scram-sha-512"}
        granted = {
            (acl["resource"]["name"], tuple(acl["operations"]))
            for acl in user["spec"]["authorization"]["acls"]
            if acl["resource"] == {**acl["resource"], "type": "topic", "patternType": "literal"}
        }
        assert granted == {(a.topic, a.operations) for a in COMPONENT_ACCESS[component]}
        env = env_of(container(workload, component))
        assert env["KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
        assert env["KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512"
        assert env["KAFKA_SASL_USERNAME"] == f"ico-analytics-{component}"
        # Strimzi's User Operator writes the password to a Secret named after the user.
        assert env["KAFKA_SASL_PASSWORD"] == {
            "secretKeyRef": {"name": f"ico-analytics-{component}", "key": "password"}
        }
        assert env["KAFKA_SSL_CA_LOCATION"] == "/etc/kafka-ca/ca.crt"
        volumes = {v["name"]: v for v in pod_spec(workload)["volumes"]}
        assert volumes["kafka-ca"]["secret"]["secretName"] == "ico-analytics-kafka-cluster-ca-cert"
        mounts = {m["name"]: m["mountPath"] for m in container(workload, component)["volumeMounts"]}
        assert mounts["kafka-ca"] == "/etc/kafka-ca"
    # A development cluster without logins keeps the plain listener and no users.
    minimal = rendered["minimal"]
    assert by_kind(minimal, "KafkaUser") == []
    listeners = one(minimal, "Kafka", "ico-analytics-kafka")["spec"]["kafka"]["listeners"]
    assert [(listener["name"], listener["port"]) for listener in listeners] == [("plain", 9092)]
    dataflow = env_of(container(one(minimal, "StatefulSet", "ico-analytics-dataflow"), "dataflow"))
    assert "KAFKA_SECURITY_PROTOCOL" not in dataflow
    assert dataflow["KAFKA_BOOTSTRAP_SERVERS"] == "ico-analytics-kafka-kafka-bootstrap:9092"


def test_schema_registry_persists_in_its_own_database(rendered: dict[str, list[Manifest]]) -> None:
    docs = rendered["defaults"]
    registry = one(docs, "Deployment", "ico-analytics-schema-registry")
    main = container(registry, "schema-registry")
    assert main["image"].startswith("quay.io/apicurio/apicurio-registry:3.")
    env = env_of(main)
    assert env["APICURIO_STORAGE_KIND"] == "sql"
    assert env["APICURIO_STORAGE_SQL_KIND"] == "postgresql"
    # Its own database and login: not the superuser, not the analytics database.
    assert env["APICURIO_DATASOURCE_URL"] == (
        "jdbc:postgresql://ico-analytics-postgresql:5432/schema_registry?sslmode=disable"
    )
    assert env["APICURIO_DATASOURCE_USERNAME"] == "schema_registry"
    password = {"secretKeyRef": {"name": "ico-analytics-schema-registry-db", "key": "password"}}
    assert env["APICURIO_DATASOURCE_PASSWORD"] == password
    # It starts once the migrations Job created them: its init container logs in as it.
    wait = env_of(container(registry, "wait-for-database"))
    assert (wait["PGDATABASE"], wait["PGUSER"], wait["PGPASSWORD"]) == (
        "schema_registry",
        "schema_registry",
        password,
    )
    job = one(docs, "Job", "ico-analytics-migrate-1")
    create = env_of(container(job, "registry-database"))
    assert create["PGUSER"] == "postgres"
    assert (create["REGISTRY_DATABASE"], create["REGISTRY_USER"]) == (
        "schema_registry",
        "schema_registry",
    )
    assert create["REGISTRY_PASSWORD"] == password


def test_every_database_client_gets_the_sslmode(
    rendered: dict[str, list[Manifest]], helm: Helm
) -> None:
    # The chart's PostgreSQL serves no TLS; an external one gets externalDatabase.sslmode.
    for scenario, mode in (("defaults", "disable"), ("external-database", "require")):
        docs = rendered[scenario]
        clients = 0
        for workload in (d for d in docs if d["kind"] in (*WORKLOAD_KINDS, "Pod")):
            spec = workload["spec"] if workload["kind"] == "Pod" else pod_spec(workload)
            for c in spec["containers"] + spec.get("initContainers", []):
                env = env_of(c)
                where = (scenario, workload["metadata"]["name"], c["name"])
                if "PGHOST" in env:
                    assert env["PGSSLMODE"] == mode, where
                    clients += 1
                if "POSTGRES_HOST" in env:
                    assert env["POSTGRES_SSLMODE"] == mode, where
                    clients += 1
                if "APICURIO_DATASOURCE_URL" in env:
                    assert env["APICURIO_DATASOURCE_URL"].endswith(f"?sslmode={mode}"), where
                    clients += 1
        assert clients >= 8, scenario
        grafana = one(docs, "ConfigMap", "ico-analytics-grafana-provisioning")
        source = yaml.safe_load(grafana["data"]["datasources.yaml"])["datasources"][0]
        assert source["jsonData"]["sslmode"] == mode
    disabled = helm.render(
        values=[ci("external-database")], set_values=["externalDatabase.sslmode=disable"]
    )
    registry = one(disabled, "Deployment", "ico-analytics-schema-registry")
    url = env_of(container(registry, "schema-registry"))["APICURIO_DATASOURCE_URL"]
    assert url.endswith("?sslmode=disable")


def test_external_database(rendered: dict[str, list[Manifest]]) -> None:
    docs = rendered["external-database"]
    values = load_yaml(ci("external-database"))["externalDatabase"]
    assert [s["metadata"]["name"] for s in by_kind(docs, "StatefulSet")] == [
        "ico-analytics-dataflow"
    ]
    assert not [d for d in docs if d["metadata"]["name"] == "ico-analytics-postgresql"]
    password = {"secretKeyRef": {"name": values["existingSecret"], "key": "app-password"}}
    job = by_kind(docs, "Job")[0]
    for workload, name in (
        (one(docs, "StatefulSet", "ico-analytics-dataflow"), "dataflow"),
        (job, "migrate"),
    ):
        env = env_of(container(workload, name))
        # Settings builds DATABASE_URL from these parts (percent-encoding the password).
        assert env["POSTGRES_HOST"] == values["host"]
        assert env["POSTGRES_PORT"] == "6432"
        assert env["POSTGRES_DB"] == values["database"]
        assert env["POSTGRES_USER"] == values["username"]
        assert env["POSTGRES_PASSWORD"] == password
        assert "DATABASE_URL" not in env
    registry = env_of(
        container(one(docs, "Deployment", "ico-analytics-schema-registry"), "schema-registry")
    )
    assert registry["APICURIO_DATASOURCE_URL"] == (
        f"jdbc:postgresql://{values['host']}:6432/schema_registry?sslmode=require"
    )
    grafana = one(docs, "ConfigMap", "ico-analytics-grafana-provisioning")
    assert f"url: {values['host']}:6432" in grafana["data"]["datasources.yaml"]


def test_migrations_job_and_login_users(rendered: dict[str, list[Manifest]]) -> None:
    docs = rendered["defaults"]
    job = one(docs, "Job", "ico-analytics-migrate-1")
    spec = pod_spec(job)
    assert [c["name"] for c in spec["initContainers"]] == ["wait-for-postgresql", "migrate"]
    assert container(job, "migrate")["args"] == ["migrate"]
    assert container(job, "migrate")["image"] == "ico-analytics:0.1.0"
    # Grafana logs in as a member of grafana_reader, the dataflow of ico_writer.
    for name, user, secret, role in (
        ("grafana-user", "grafana", "ico-analytics-grafana-db", "grafana_reader"),
        ("dataflow-user", "ico_dataflow", "ico-analytics-dataflow-db", "ico_writer"),
    ):
        env = env_of(container(job, name))
        assert env["LOGIN_USER"] == user
        assert env["LOGIN_PASSWORD"] == {"secretKeyRef": {"name": secret, "key": "password"}}
        assert env["LOGIN_ROLE"] == role
    script = one(docs, "ConfigMap", "ico-analytics-migrate")["data"]["login-user.sql"]
    assert "WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'login_user')" in script
    dataflow = one(docs, "StatefulSet", "ico-analytics-dataflow")
    env = env_of(container(dataflow, "dataflow"))
    assert env["POSTGRES_USER"] == "ico_dataflow"
    assert env["POSTGRES_PASSWORD"] == {
        "secretKeyRef": {"name": "ico-analytics-dataflow-db", "key": "password"}
    }
    # The dataflow starts only once the migrations ran and its own login may write.
    wait = one(docs, "ConfigMap", "ico-analytics-dataflow-hosts")["data"]["wait-for-schema.sh"]
    assert "has_table_privilege('analytics.anomalies', 'INSERT')" in wait
    assert env_of(container(dataflow, "wait-for-schema"))["PGUSER"] == "ico_dataflow"


def test_maintenance_cronjob(rendered: dict[str, list[Manifest]], helm: Helm) -> None:
    cron = one(rendered["defaults"], "CronJob", "ico-analytics-maintain")
    assert cron["spec"]["schedule"] == "17 3 * * *"
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    maintain = container(cron, "maintain")
    assert maintain["args"] == ["maintain", "--retention-days=90"]
    assert env_of(maintain)["POSTGRES_PASSWORD"] == {
        "secretKeyRef": {"name": "ico-analytics-postgresql", "key": "password"}
    }
    kept = helm.render(set_values=["maintenance.retentionDays=0"])
    assert container(one(kept, "CronJob", "ico-analytics-maintain"), "maintain")["args"] == [
        "maintain"
    ]
    # The daily KPIs are refreshed often, as the table's owner like the housekeeping.
    refresh = one(rendered["defaults"], "CronJob", "ico-analytics-refresh-kpis")
    assert refresh["spec"]["schedule"] == "*/15 * * * *"
    assert refresh["spec"]["concurrencyPolicy"] == "Forbid"
    assert container(refresh, "refresh-kpis")["args"] == ["maintain", "--kpis-only"]
    assert env_of(container(refresh, "refresh-kpis")) == env_of(maintain)
    off = helm.render(set_values=["maintenance.enabled=false"])
    assert [c["metadata"]["name"] for c in by_kind(off, "CronJob")] == ["ico-analytics-backup"]


def test_backup_cronjob(rendered: dict[str, list[Manifest]], helm: Helm) -> None:
    docs = rendered["defaults"]
    cron = one(docs, "CronJob", "ico-analytics-backup")
    assert cron["spec"]["schedule"] == "43 2 * * *"
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    backup = container(cron, "backup")
    assert backup["image"] == "postgres:18.6"  # pg_dump of the server's major version
    assert backup["command"] == ["sh", "/scripts/backup.sh"]
    env = env_of(backup)
    # As the owner of the analytics database, which may also read the registry's.
    assert (env["PGUSER"], env["PGPASSWORD"]) == (
        "postgres",
        {"secretKeyRef": {"name": "ico-analytics-postgresql", "key": "password"}},
    )
    assert (env["BACKUP_DATABASES"], env["BACKUP_KEEP"]) == ("ico_analytics schema_registry", "7")
    assert pod_spec(cron)["securityContext"]["fsGroup"] == 999
    volumes = {v["name"]: v for v in pod_spec(cron)["volumes"]}
    assert volumes["backup"]["persistentVolumeClaim"]["claimName"] == "ico-analytics-backup"
    assert {m["name"]: m["mountPath"] for m in backup["volumeMounts"]}["backup"] == "/backup"
    claim = one(docs, "PersistentVolumeClaim", "ico-analytics-backup")
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert claim["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    script = one(docs, "ConfigMap", "ico-analytics-backup")["data"]["backup.sh"]
    assert 'pg_dump --format=custom --dbname="$db"' in script
    # Set apart in values: a schedule, a retention, an existing claim; or off (managed backups).
    custom = helm.render(
        set_values=[
            "backup.schedule=0 1 * * 0",
            "backup.keep=4",
            "backup.persistence.existingClaim=dumps",
        ]
    )
    cron = one(custom, "CronJob", "ico-analytics-backup")
    assert cron["spec"]["schedule"] == "0 1 * * 0"
    assert env_of(container(cron, "backup"))["BACKUP_KEEP"] == "4"
    volumes = {v["name"]: v for v in pod_spec(cron)["volumes"]}
    assert volumes["backup"]["persistentVolumeClaim"]["claimName"] == "dumps"
    assert [c["metadata"]["name"] for c in by_kind(custom, "PersistentVolumeClaim")] == [
        "ico-analytics-dataflow-recovery"
    ]
    managed = rendered["external-database"]
    assert not [d for d in managed if d["metadata"]["name"] == "ico-analytics-backup"]


def test_workloads_are_labelled_bounded_and_unprivileged(
    rendered: dict[str, list[Manifest]],
) -> None:
    for scenario, docs in rendered.items():
        workloads = [d for d in docs if d["kind"] in WORKLOAD_KINDS]
        assert len(workloads) >= 4, scenario
        for workload in workloads:
            where = f"{scenario}: {workload['kind']}/{workload['metadata']['name']}"
            for labels in (
                workload["metadata"]["labels"],
                pod_template(workload)["metadata"]["labels"],
            ):
                assert all(labels.get(key) for key in STANDARD_LABELS), where
                assert labels["app.kubernetes.io/part-of"] == "ico-analytics"
                assert labels["app.kubernetes.io/managed-by"] == "Helm"
            spec = pod_spec(workload)
            assert spec["securityContext"]["runAsNonRoot"] is True, where
            assert spec["securityContext"]["runAsUser"] > 0, where
            assert spec["automountServiceAccountToken"] is False, where
            for c in spec["containers"] + spec.get("initContainers", []):
                for kind in ("requests", "limits"):
                    assert set(c["resources"][kind]) == {"cpu", "memory"}, (where, c["name"])
                security = c["securityContext"]
                assert security["allowPrivilegeEscalation"] is False, (where, c["name"])
                assert security["readOnlyRootFilesystem"] is True, (where, c["name"])
                assert security["capabilities"]["drop"] == ["ALL"], (where, c["name"])
            if workload["kind"] not in ("Job", "CronJob"):
                for c in spec["containers"]:
                    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                        assert probe in c, (where, c["name"], probe)


def _secret_values(docs: list[Manifest]) -> set[str]:
    values = set()
    for secret in by_kind(docs, "Secret"):
        values |= {base64.b64decode(v).decode() for v in secret.get("data", {}).values()}
        values |= set(secret.get("stringData", {}).values())
    return values


def test_no_secret_in_configmaps_or_plain_env(rendered: dict[str, list[Manifest]]) -> None:
    for scenario, docs in rendered.items():
        secrets = _secret_values(docs)
        assert len(secrets) >= 3, scenario  # the generated passwords and the HMAC key
        for config in by_kind(docs, "ConfigMap"):
            text = json.dumps(config["data"])
            assert not [s for s in secrets if len(s) >= 8 and s in text], config["metadata"]
        for workload in (d for d in docs if d["kind"] in WORKLOAD_KINDS):
            spec = pod_spec(workload)
            for c in spec["containers"] + spec.get("initContainers", []):
                for var in c.get("env", []):
                    if any(word in var["name"] for word in ("PASSWORD", "KEY", "SECRET")):
                        assert "secretKeyRef" in var.get("valueFrom", {}), var


def test_secrets_are_generated_and_kept(rendered: dict[str, list[Manifest]]) -> None:
    docs = rendered["defaults"]
    names = {s["metadata"]["name"]: s for s in by_kind(docs, "Secret")}
    assert set(names) == {
        "ico-analytics-postgresql",
        "ico-analytics-pii",
        "ico-analytics-crm",
        "ico-analytics-grafana",
        "ico-analytics-grafana-db",
        "ico-analytics-dataflow-db",
        "ico-analytics-schema-registry-db",
        "ico-analytics-alertmanager",  # its configuration, with the receivers' addresses
    }
    assert len(base64.b64decode(names["ico-analytics-pii"]["data"]["hmac-key"])) == 48
    assert len(base64.b64decode(names["ico-analytics-crm"]["data"]["email-key"])) == 48
    for keep in ("ico-analytics-postgresql", "ico-analytics-pii", "ico-analytics-crm"):
        assert names[keep]["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    dataflow = env_of(container(one(docs, "StatefulSet", "ico-analytics-dataflow"), "dataflow"))
    assert dataflow["PII_HMAC_KEY"] == {
        "secretKeyRef": {"name": "ico-analytics-pii", "key": "hmac-key"}
    }
    assert dataflow["CRM_EMAIL_KEY"] == {
        "secretKeyRef": {"name": "ico-analytics-crm", "key": "email-key"}
    }


def test_the_crm_email_key_may_come_from_an_existing_secret(helm: Helm) -> None:
    docs = helm.render(set_values=["crm.existingSecret=crm-from-vault"])
    assert "ico-analytics-crm" not in {s["metadata"]["name"] for s in by_kind(docs, "Secret")}
    dataflow = env_of(container(one(docs, "StatefulSet", "ico-analytics-dataflow"), "dataflow"))
    assert dataflow["CRM_EMAIL_KEY"] == {
        "secretKeyRef": {"name": "crm-from-vault", "key": "email-key"}
    }


def _secret_references(docs: list[Manifest]) -> set[str]:
    """Names of the Secrets the workloads and test pods read (env and volumes)."""
    names: set[str] = set()
    for workload in (d for d in docs if d["kind"] in (*WORKLOAD_KINDS, "Pod")):
        spec = workload["spec"] if workload["kind"] == "Pod" else pod_spec(workload)
        for c in spec["containers"] + spec.get("initContainers", []):
            for var in c.get("env", []):
                if ref := var.get("valueFrom", {}).get("secretKeyRef"):
                    names.add(ref["name"])
        names |= {v["secret"]["secretName"] for v in spec.get("volumes", []) if "secret" in v}
    return names


#: What Strimzi's operators write: the cluster CA and each KafkaUser's password.
STRIMZI_SECRETS = {
    "ico-analytics-kafka-cluster-ca-cert",
    "ico-analytics-generator",
    "ico-analytics-dataflow",
}


def test_every_database_client_verifies_the_server_against_its_ca(
    rendered: dict[str, list[Manifest]],
) -> None:
    docs = rendered["external-database-tls"]
    ca = "/etc/postgresql-ca/ca.crt"
    clients = 0
    for workload in (d for d in docs if d["kind"] in (*WORKLOAD_KINDS, "Pod")):
        spec = workload["spec"] if workload["kind"] == "Pod" else pod_spec(workload)
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        for c in spec["containers"] + spec.get("initContainers", []):
            env = env_of(c)
            if not {"PGHOST", "POSTGRES_HOST", "APICURIO_DATASOURCE_URL"} & set(env):
                continue
            where = (workload["metadata"]["name"], c["name"])
            clients += 1
            mounts = {m["name"]: m["mountPath"] for m in c.get("volumeMounts", [])}
            assert mounts.get("postgresql-ca") == "/etc/postgresql-ca", where
            assert volumes["postgresql-ca"]["secret"] == {
                "secretName": "analytics-db-ca",
                "items": [{"key": "ca.crt", "path": "ca.crt"}],
            }, where
            if "APICURIO_DATASOURCE_URL" in env:
                assert env["APICURIO_DATASOURCE_URL"].endswith(
                    f"?sslmode=verify-full&sslrootcert={ca}"
                )
            else:  # libpq: psql and the apps' psycopg
                assert env["PGSSLROOTCERT"] == ca, where
                assert env.get("PGSSLMODE", env.get("POSTGRES_SSLMODE")) == "verify-full", where
    assert clients >= 10
    grafana = one(docs, "Deployment", "ico-analytics-grafana")
    mounts = {m["name"]: m["mountPath"] for m in container(grafana, "grafana")["volumeMounts"]}
    assert mounts["postgresql-ca"] == "/etc/postgresql-ca"
    provisioning = one(docs, "ConfigMap", "ico-analytics-grafana-provisioning")
    source = yaml.safe_load(provisioning["data"]["datasources.yaml"])["datasources"][0]
    assert source["jsonData"] == {
        "database": "ico_analytics",
        "sslmode": "verify-full",
        "tlsConfigurationMethod": "file-path",
        "sslRootCertFile": ca,
        "postgresVersion": 1800,
    }
    # Without a CA nothing is mounted.
    plain = rendered["external-database"]
    assert not [
        v
        for d in plain
        if d["kind"] in WORKLOAD_KINDS
        for v in pod_spec(d).get("volumes", [])
        if v["name"] == "postgresql-ca"
    ]


def test_every_generated_secret_is_read_and_every_read_one_exists(
    rendered: dict[str, list[Manifest]],
) -> None:
    docs = rendered["defaults"]
    generated = {s["metadata"]["name"] for s in by_kind(docs, "Secret")}
    assert _secret_references(docs) <= generated | STRIMZI_SECRETS
    assert generated - _secret_references(docs) == {"ico-analytics-alertmanager"}


EXISTING_SECRETS = {
    "postgresql.auth.existingSecret": "my-postgres",
    "pii.existingSecret": "my-pii",
    "crm.existingSecret": "my-crm",
    "grafana.admin.existingSecret": "my-grafana-admin",
    "grafana.datasource.existingSecret": "my-grafana-db",
    "dataflow.database.existingSecret": "my-dataflow-db",
    "schemaRegistry.database.existingSecret": "my-registry-db",
}


def test_existing_secrets_replace_every_generated_one(helm: Helm) -> None:
    # GitOps and `helm template` renders cannot look up the live Secrets, so they name their own.
    docs = helm.render(set_values=[f"{key}={name}" for key, name in EXISTING_SECRETS.items()])
    assert {s["metadata"]["name"] for s in by_kind(docs, "Secret")} == {
        "ico-analytics-alertmanager"  # configuration, nothing generated
    }
    assert _secret_references(docs) - STRIMZI_SECRETS == set(EXISTING_SECRETS.values())
    grafana = container(one(docs, "Deployment", "ico-analytics-grafana"), "grafana")
    env = env_of(grafana)
    assert env["GF_SECURITY_ADMIN_PASSWORD"]["secretKeyRef"]["name"] == "my-grafana-admin"
    assert env["GRAFANA_DB_PASSWORD"]["secretKeyRef"]["name"] == "my-grafana-db"


def test_generated_secrets_reuse_the_live_value() -> None:
    # `lookup` is empty without a cluster, so what is checked here is that every generated
    # password and key goes through the one helper that asks for the live Secret first.
    text = (CHART / "templates" / "secrets.yaml").read_text()
    assert "randAlphaNum" not in text
    assert text.count("generatedSecretValue") == text.count("kind: Secret") == 7
    helper = (CHART / "templates" / "_helpers.tpl").read_text()
    assert 'lookup "v1" "Secret" .ctx.Release.Namespace .name' in helper


def _dashboard_files(docs: list[Manifest]) -> dict[str, str]:
    files: dict[str, str] = {}
    for name in ("ico-analytics-grafana-dashboards", "ico-analytics-grafana-alerting"):
        files |= one(docs, "ConfigMap", name).get("data") or {}
    return files


def test_every_repository_dashboard_is_provisioned(rendered: dict[str, list[Manifest]]) -> None:
    on_disk = {p.name: p.read_text() for p in (REPO_ROOT / "grafana-dashboards").glob("*.json")}
    assert _dashboard_files(rendered["defaults"]) == on_disk
    alerting = one(rendered["defaults"], "ConfigMap", "ico-analytics-grafana-alerting")
    assert set(alerting.get("data") or {}) == {"alert-rules.json"}  # no receiver configured
    assert (CHART / "dashboards").resolve() == (REPO_ROOT / "grafana-dashboards").resolve()


def test_dashboards_and_alert_rules_go_to_their_provisioning(helm: Helm, tmp_path: Path) -> None:
    # Independent of what grafana-dashboards/ holds today: a chart copy with known files.
    chart = tmp_path / "ico-analytics"
    shutil.copytree(CHART, chart, ignore=shutil.ignore_patterns("dashboards"))
    (chart / "dashboards").mkdir()
    sample = json.dumps({"uid": "sample", "title": "Sample", "panels": []}, indent=2) + "\n"
    rules = json.dumps({"apiVersion": 1, "groups": []}) + "\n"
    (chart / "dashboards" / "sample.json").write_text(sample)
    (chart / "dashboards" / "alert-rules.json").write_text(rules)
    (chart / "dashboards" / "notes.md").write_text("not a dashboard\n")
    docs = helm.render(chart=chart)
    assert one(docs, "ConfigMap", "ico-analytics-grafana-dashboards")["data"] == {
        "sample.json": sample
    }
    assert one(docs, "ConfigMap", "ico-analytics-grafana-alerting")["data"] == {
        "alert-rules.json": rules
    }
    grafana = one(docs, "Deployment", "ico-analytics-grafana")
    mounts = {m["name"]: m["mountPath"] for m in container(grafana, "grafana")["volumeMounts"]}
    assert mounts["dashboards"] == "/var/lib/grafana-dashboards"
    assert mounts["alerting"] == "/etc/grafana/provisioning/alerting"
    provisioning = one(docs, "ConfigMap", "ico-analytics-grafana-provisioning")["data"]
    assert "path: /var/lib/grafana-dashboards" in provisioning["dashboards.yaml"]
    # The dashboards and alert rules refer to this datasource uid (ico_analytics/dashboards).
    assert "uid: ico-postgres" in provisioning["datasources.yaml"]
    assert "password: ${GRAFANA_DB_PASSWORD}" in provisioning["datasources.yaml"]
    assert "user: grafana\n" in provisioning["datasources.yaml"]
    datasources = yaml.safe_load(provisioning["datasources.yaml"])["datasources"]
    assert {d["uid"]: d["type"] for d in datasources} == {
        "ico-postgres": "grafana-postgresql-datasource",
        "ico-prometheus": "prometheus",
    }


def test_grafana_restarts_when_its_provisioning_changes(helm: Helm) -> None:
    """Grafana reads provisioning only at start-up: its pod annotation hashes every file it
    provisions, the alerting ones (rules as the chart filters them, contact points) included."""

    def checksum(*set_values: str) -> str:
        grafana = one(helm.render(set_values=set_values), "Deployment", "ico-analytics-grafana")
        annotations = pod_template(grafana)["metadata"]["annotations"]
        return str(annotations["checksum/provisioning"])

    base = checksum()
    assert checksum("generator.eventsPerMinute=999") == base  # not Grafana's
    changed = {
        "alert rules left to Alertmanager": checksum("notifications.via=alertmanager"),
        "a contact point": checksum("notifications.webhook.url=https://hooks.example.com/ico"),
        "the datasource": checksum("monitoring.prometheus.url=http://prometheus.monitoring:9090"),
    }
    assert len({base, *changed.values()}) == 1 + len(changed), changed


def test_prometheus_datasource_url_is_configurable(helm: Helm) -> None:
    url = "http://kube-prometheus-stack-prometheus.monitoring:9090"
    docs = helm.render(set_values=[f"monitoring.prometheus.url={url}"])
    provisioning = one(docs, "ConfigMap", "ico-analytics-grafana-provisioning")["data"]
    (prometheus,) = [
        d
        for d in yaml.safe_load(provisioning["datasources.yaml"])["datasources"]
        if d["uid"] == "ico-prometheus"
    ]
    assert prometheus["url"] == url


def test_notifications_reach_grafana_contact_points(rendered: dict[str, list[Manifest]]) -> None:
    docs = rendered["notifications"]
    alerting = one(docs, "ConfigMap", "ico-analytics-grafana-alerting")["data"]
    provisioning = yaml.safe_load(alerting["notifications.yaml"])
    (point,) = provisioning["contactPoints"]
    assert {r["uid"]: r["type"] for r in point["receivers"]} == {
        "ico-email": "email",
        "ico-webhook": "webhook",
        "ico-slack": "slack",
    }
    receivers = {r["uid"]: r["settings"] for r in point["receivers"]}
    assert receivers["ico-email"]["addresses"] == "ops@example.com;sales@example.com"
    assert receivers["ico-slack"] == {"url": "${GRAFANA_SLACK_URL}", "recipient": "#ico-alerts"}
    (policy,) = provisioning["policies"]
    assert policy["receiver"] == point["name"] == "ico-analytics"
    env = env_of(container(one(docs, "Deployment", "ico-analytics-grafana"), "grafana"))
    assert env["GF_SMTP_ENABLED"] == "true"
    assert env["GF_SMTP_HOST"] == "smtp.example.com:587"
    for var, key in (("GF_SMTP_PASSWORD", "smtp-password"), ("GRAFANA_SLACK_URL", "slack-url")):
        assert env[var] == {"secretKeyRef": {"name": "ico-notify", "key": key}}
    # Grafana may now reach Prometheus and the notification targets.
    (policy_spec,) = [
        p["spec"]
        for p in by_kind(docs, "NetworkPolicy")
        if p["metadata"]["name"] == "ico-analytics-grafana"
    ]
    ports = {p["port"] for rule in policy_spec["egress"] for p in rule.get("ports", [])}
    assert {9090, 443, 587} <= ports


def test_the_alert_forwarder_runs_only_with_an_alertmanager_url(
    rendered: dict[str, list[Manifest]],
) -> None:
    name = "ico-analytics-alert-forwarder"
    assert not [d for d in rendered["defaults"] if d["metadata"]["name"] == name]
    docs = rendered["alert-forwarder"]
    forwarder = container(one(docs, "Deployment", name), "alert-forwarder")
    assert forwarder["args"] == [
        "alerts",
        "forward",
        "--resolve-after=7200",
        "--heartbeat=/tmp/alert-forwarder.alive",
    ]
    env = env_of(forwarder)
    assert env["ALERTMANAGER_URL"] == "http://alertmanager-operated.monitoring:9093"
    # Its metrics on the pod address, for Prometheus.
    assert env["ALERT_FORWARDER_METRICS_PORT"] == "9101"
    assert env["METRICS_BIND_ADDRESS"] == "0.0.0.0"
    assert forwarder["ports"] == [{"name": "metrics", "containerPort": 9101}]
    # Its own Kafka login: the alerts topic to read, and its consumer group to commit in.
    assert env["KAFKA_SASL_USERNAME"] == name
    assert env["KAFKA_SASL_PASSWORD"] == {"secretKeyRef": {"name": name, "key": "password"}}
    acls = one(docs, "KafkaUser", name)["spec"]["authorization"]["acls"]
    assert {
        (acl["resource"]["type"], acl["resource"]["name"], tuple(acl["operations"])) for acl in acls
    } == {
        *(("topic", a.topic, a.operations) for a in COMPONENT_ACCESS["alert-forwarder"]),
        ("group", DEFAULT_GROUP_ID, ("Read",)),
    }
    policy = one(docs, "NetworkPolicy", name)["spec"]
    assert policy["policyTypes"] == ["Ingress", "Egress"]
    # Only Prometheus comes in, on the metrics port (the defaults' selectors).
    assert policy["ingress"] == [
        {
            "from": [
                {
                    "namespaceSelector": {},
                    "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}},
                }
            ],
            "ports": [{"protocol": "TCP", "port": 9101}],
        }
    ]
    # DNS, the Strimzi cluster's TLS listener, and Alertmanager's API anywhere.
    dns, kafka, alertmanager = policy["egress"]
    assert {p["port"] for p in dns["ports"]} == {53}
    assert kafka == {
        "to": [
            {
                "podSelector": {
                    "matchLabels": {
                        "strimzi.io/cluster": "ico-analytics-kafka",
                        "strimzi.io/kind": "Kafka",
                    }
                }
            }
        ],
        "ports": [{"protocol": "TCP", "port": 9093}],
    }
    assert alertmanager == {"ports": [{"protocol": "TCP", "port": 9093}]}
    # Alertmanager notifies the anomalies now: Grafana's anomaly rule is left out.
    alerting = one(docs, "ConfigMap", "ico-analytics-grafana-alerting")["data"]
    (group,) = json.loads(alerting["alert-rules.json"])["groups"]
    assert "ico-anomaly" not in {r["uid"] for r in group["rules"]}
    alerting = one(rendered["defaults"], "ConfigMap", "ico-analytics-grafana-alerting")["data"]
    (group,) = json.loads(alerting["alert-rules.json"])["groups"]
    assert "ico-anomaly" in {r["uid"] for r in group["rules"]}


def test_the_alert_forwarder_probes_read_the_heartbeat_of_its_loop(
    rendered: dict[str, list[Manifest]], tmp_path: Path
) -> None:
    """Startup, readiness and liveness all run the same check: the heartbeat file that the
    forward loop touches every few seconds (waiting on Kafka or on an Alertmanager that is
    down alike; tests/alerting shows it does) is at most 60 s old. A process that hangs,
    rather than one that only still listens, is restarted."""
    deployment = one(rendered["alert-forwarder"], "Deployment", "ico-analytics-alert-forwarder")
    forwarder = container(deployment, "alert-forwarder")
    heartbeat = "/tmp/alert-forwarder.alive"
    assert f"--heartbeat={heartbeat}" in forwarder["args"]
    # On the pod's own writable /tmp (the root file system is read-only).
    assert {"name": "tmp", "mountPath": "/tmp"} in forwarder["volumeMounts"]
    assert {"name": "tmp", "emptyDir": {}} in pod_spec(deployment)["volumes"]
    probes = {k: forwarder[k] for k in ("startupProbe", "readinessProbe", "livenessProbe")}
    commands = {k: p["exec"]["command"] for k, p in probes.items()}
    (command,) = {tuple(c) for c in commands.values()}
    assert command[:2] == ("python", "-c") and heartbeat in command[2]
    # Restarted once the heartbeat has been stale for the probe's failures in a row: 2 minutes
    # (plus the 60 s it tolerates), long after any wait of the loop on Kafka or a retry.
    liveness = probes["livenessProbe"]
    assert (liveness["periodSeconds"], liveness["failureThreshold"]) == (30, 4)
    assert (
        probes["startupProbe"]["periodSeconds"] * probes["startupProbe"]["failureThreshold"] == 120
    )

    # The probe's own code on a heartbeat file here: fresh passes; stale or missing fails.
    alive = tmp_path / "alive"
    check = [sys.executable, "-c", command[2].replace(heartbeat, str(alive))]

    def probe() -> int:
        return subprocess.run(check, capture_output=True, check=False, timeout=30).returncode

    assert probe() != 0  # no heartbeat yet: the loop has not turned
    alive.touch()
    assert probe() == 0
    stale = time.time() - 61
    os.utime(alive, (stale, stale))
    assert probe() == 1
    stale = time.time() - 50
    os.utime(alive, (stale, stale))
    assert probe() == 0


def test_the_alert_forwarder_is_scraped_as_the_dataflow_is(
    rendered: dict[str, list[Manifest]], helm: Helm
) -> None:
    name = "ico-analytics-alert-forwarder"
    selector = {
        "app.kubernetes.io/name": "ico-analytics",
        "app.kubernetes.io/instance": "ico-analytics",
        "app.kubernetes.io/component": "alert-forwarder",
    }
    # With the Operator: a PodMonitor of the container's `metrics` port, job="alert-forwarder".
    operator = rendered["monitoring+api"]
    monitor = one(operator, "PodMonitor", name)
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert monitor["spec"] == {
        "jobLabel": "app.kubernetes.io/component",
        "selector": {"matchLabels": selector},
        "podMetricsEndpoints": [{"port": "metrics", "path": "/metrics", "interval": "15s"}],
    }
    deployment = one(operator, "Deployment", name)
    assert pod_template(deployment)["metadata"]["labels"]["app.kubernetes.io/component"] == (
        "alert-forwarder"
    )
    assert container(deployment, "alert-forwarder")["ports"][0]["name"] == "metrics"
    # Prometheus's namespace (ci/monitoring-values.yaml) may reach that port, as the dataflow's.
    policies = {p["metadata"]["name"]: p["spec"] for p in by_kind(operator, "NetworkPolicy")}
    (dataflow_metrics,) = [
        rule
        for rule in policies["ico-analytics-dataflow"]["ingress"]
        if "namespaceSelector" in rule["from"][0]
    ]
    (forwarder_metrics,) = policies[name]["ingress"]
    assert forwarder_metrics["from"] == dataflow_metrics["from"]
    assert forwarder_metrics["from"][0]["namespaceSelector"] == {
        "matchLabels": {"kubernetes.io/metadata.name": "monitoring"}
    }
    assert forwarder_metrics["ports"] == [{"protocol": "TCP", "port": 9101}]
    # Without it: a job of the scrape ConfigMap keeps the forwarder pods' `metrics` port.
    plain = one(rendered["monitoring"], "ConfigMap", "ico-analytics-prometheus")
    jobs = yaml.safe_load(plain["data"]["scrape-configs.yaml"])["scrape_configs"]
    assert [j["job_name"] for j in jobs] == ["dataflow", "alert-forwarder"]
    assert jobs[1]["scrape_interval"] == "15s"
    assert jobs[1]["relabel_configs"][0]["regex"] == "ico-analytics;alert-forwarder;metrics"
    assert jobs[1]["kubernetes_sd_configs"] == [
        {"role": "pod", "namespaces": {"names": [NAMESPACE]}}
    ]
    # No forwarder, nothing to scrape.
    defaults = rendered["defaults"]
    assert not [d for d in defaults if d["metadata"]["name"] == name]
    plain = one(defaults, "ConfigMap", "ico-analytics-prometheus")
    jobs = yaml.safe_load(plain["data"]["scrape-configs.yaml"])["scrape_configs"]
    assert [j["job_name"] for j in jobs] == ["dataflow"]
    operator = helm.render(api_versions=[MONITORING_API])
    assert [d["metadata"]["name"] for d in by_kind(operator, "PodMonitor")] == [
        "ico-analytics-dataflow"
    ]


def test_notifications_without_their_secret_are_refused(helm: Helm) -> None:
    result = helm.template(set_values=["notifications.slack.channel=#ico"])
    assert result.returncode != 0 and "existingSecret" in result.stderr
    result = helm.template(set_values=["notifications.email.to={ops@example.com}"])
    assert result.returncode != 0 and "host" in result.stderr


def test_network_policies(rendered: dict[str, list[Manifest]]) -> None:
    docs = rendered["demo"]
    policies = {p["metadata"]["name"]: p["spec"] for p in by_kind(docs, "NetworkPolicy")}
    assert set(policies) == {
        "ico-analytics-dataflow",
        "ico-analytics-generator",
        "ico-analytics-schema-registry",
        "ico-analytics-postgresql",
        "ico-analytics-grafana",
        "ico-analytics-migrations",
        "ico-analytics-maintenance",
        "ico-analytics-backup",
        "ico-analytics-test",
    }
    for spec in policies.values():
        assert spec["policyTypes"] == ["Ingress", "Egress"]
    dataflow = policies["ico-analytics-dataflow"]
    peer = {
        "app.kubernetes.io/instance": "ico-analytics",
        "app.kubernetes.io/component": "dataflow",
    }
    assert dataflow["ingress"][0] == {
        "from": [{"podSelector": {"matchLabels": peer}}],
        "ports": [{"protocol": "TCP", "port": 2101}],
    }
    egress_ports = {p["port"] for rule in dataflow["egress"] for p in rule["ports"]}
    assert egress_ports == {53, 2101, 9093, 8080, 5432}
    postgres = policies["ico-analytics-postgresql"]
    sources = {
        f["podSelector"]["matchLabels"]["app.kubernetes.io/component"]
        for f in postgres["ingress"][0]["from"]
    }
    assert sources == {
        "dataflow",
        "schema-registry",
        "migrations",
        "maintenance",
        "backup",
        "grafana",
        "test",
    }
    assert postgres["egress"] == []
    assert by_kind(rendered["minimal"], "NetworkPolicy") == []


def test_helm_test_pods(rendered: dict[str, list[Manifest]]) -> None:
    pods = {p["metadata"]["name"]: p for p in by_kind(rendered["defaults"], "Pod")}
    assert set(pods) == {
        "ico-analytics-test-grafana-health",
        "ico-analytics-test-schema-registry",
        "ico-analytics-test-grafana-db-user",
    }
    for pod in pods.values():
        assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    health = pods["ico-analytics-test-grafana-health"]["spec"]["containers"][0]["command"]
    assert "http://ico-analytics-grafana:3000/api/health" in health[-1]
    registry = pods["ico-analytics-test-schema-registry"]["spec"]["containers"][0]["command"]
    assert "http://ico-analytics-schema-registry:8080/apis/ccompat/v7/subjects" in registry[-1]
    db_user = pods["ico-analytics-test-grafana-db-user"]["spec"]["containers"][0]
    assert env_of(db_user)["PGUSER"] == "grafana"
    assert "--command=SELECT count(*) FROM analytics.window_aggregates" in db_user["command"]


def test_production_defaults(rendered: dict[str, list[Manifest]]) -> None:
    # No generator unless asked for.
    assert {d["metadata"]["name"] for d in by_kind(rendered["defaults"], "Deployment")} == {
        "ico-analytics-schema-registry",
        "ico-analytics-grafana",
    }
    docs = rendered["production"]
    kafka = one(docs, "Kafka", "ico-analytics-kafka")["spec"]["kafka"]["config"]
    assert (kafka["default.replication.factor"], kafka["min.insync.replicas"]) == (3, 2)
    assert kafka["offsets.topic.replication.factor"] == 3
    assert one(docs, "KafkaNodePool", "ico-analytics-dual-role")["spec"]["replicas"] == 3
    for topic in by_kind(docs, "KafkaTopic"):
        assert topic["spec"]["replicas"] == 3
        assert topic["spec"]["config"]["min.insync.replicas"] == 2
    # Every image pinned by digest.
    images = {
        c["image"]
        for workload in docs
        if workload["kind"] in WORKLOAD_KINDS
        for c in pod_spec(workload)["containers"] + pod_spec(workload).get("initContainers", [])
    }
    assert images and all("@sha256:" in image for image in images), images
    # A drain takes the dataflow's processes and the registry's replicas one at a time.
    budgets = {p["metadata"]["name"]: p["spec"] for p in by_kind(docs, "PodDisruptionBudget")}
    assert set(budgets) == {"ico-analytics-dataflow", "ico-analytics-schema-registry"}
    for name, kind in (
        ("ico-analytics-dataflow", "StatefulSet"),
        ("ico-analytics-schema-registry", "Deployment"),
    ):
        assert budgets[name]["maxUnavailable"] == 1
        labels = pod_template(one(docs, kind, name))["metadata"]["labels"]
        assert budgets[name]["selector"]["matchLabels"].items() <= labels.items()
