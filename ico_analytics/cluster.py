"""``ico-analytics cluster status|scale``: a Helm release of the chart, through the API server.

``status`` lists the release's pods and, per dataflow process, what its ``/metrics`` says (read
through the API server's pod proxy): Kafka consumer lag, rows handed to the PostgreSQL sink per
second (two scrapes ``sample_seconds`` apart), dead letters, and the age of the newest recovery
snapshot (the newest partition file's modification time on the shared volume).

``scale`` changes the number of dataflow processes the way Bytewax needs it: the processes form
one cluster from a fixed peer list, so they all stop (replicas 0), the peer list
(``<statefulset>-hosts``) and its checksum annotation change, and they all start again, resuming
from the shared recovery volume. It refuses more processes than recovery partitions, since each
process needs a partition of its own to write its snapshots to. The release's values still hold
the old count: set ``dataflow.replicas`` too before the next ``helm upgrade``.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.stream import stream

from ico_core.errors import ClusterError

API_PORT = 3030
RECOVERY_DIR = "/var/lib/bytewax/recovery"
_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)", re.M)
#: Rows handed to the PostgreSQL sink step: what the sink writes.
_SINK_INPUT = ("bytewax_item_inp_count_total", 'step_id="ico_analytics.postgres"')


@dataclass(frozen=True)
class PodStatus:
    name: str
    component: str
    phase: str
    ready: bool
    restarts: int


@dataclass(frozen=True)
class ProcessStatus:
    pod: str
    consumer_lag: float
    rows_per_second: float
    dead_letters: float
    snapshot_age_seconds: float | None  # None before the first snapshot


@dataclass(frozen=True)
class ReleaseStatus:
    pods: list[PodStatus]
    dataflow_replicas: int
    recovery_partitions: int
    processes: list[ProcessStatus]


def metric_sum(text: str, name: str, labels: str = "") -> float:
    """Sum of the samples of ``name`` whose labels contain ``labels`` (Prometheus text format)."""
    return sum(
        float(value)
        for metric, sample_labels, value in _SAMPLE.findall(text)
        if metric == name and labels in (sample_labels or "")
    )


def hostfile(first_peer: str, replicas: int) -> str:
    """The peer list for ``replicas`` processes, from process 0's address
    (``<statefulset>-0.<service>…:<port>``), as the chart renders it."""
    pod, sep, rest = first_peer.partition(".")
    statefulset, dash, ordinal = pod.rpartition("-")
    if not (sep and dash and ordinal == "0"):
        raise ClusterError(f"unexpected first peer {first_peer!r} in the dataflow's hostfile")
    return "\n".join(f"{statefulset}-{i}.{rest}" for i in range(replicas))


class Release:
    """One Helm release of the chart in ``namespace``."""

    def __init__(self, namespace: str, release: str, kubeconfig: str | None = None) -> None:
        try:
            config.load_kube_config(config_file=kubeconfig)
        except config.ConfigException:
            config.load_incluster_config()  # run from a pod with a service account
        self.namespace, self.release = namespace, release
        self.core = client.CoreV1Api()
        self.apps = client.AppsV1Api()

    def _selector(self, component: str | None = None) -> str:
        selector = f"app.kubernetes.io/instance={self.release}"
        return selector + (f",app.kubernetes.io/component={component}" if component else "")

    def _statefulset(self) -> Any:
        found = self.apps.list_namespaced_stateful_set(
            self.namespace, label_selector=self._selector("dataflow")
        ).items
        if len(found) != 1:
            raise ClusterError(
                f"release {self.release!r} in namespace {self.namespace!r} has "
                f"{len(found)} dataflow StatefulSets, expected one"
            )
        return found[0]

    @staticmethod
    def _recovery_partitions(statefulset: Any) -> int:
        containers = [
            *statefulset.spec.template.spec.init_containers,
            *statefulset.spec.template.spec.containers,
        ]
        for container in containers:
            for env in container.env or []:
                if env.name == "RECOVERY_PARTITIONS":
                    return int(env.value)
        raise ClusterError("the dataflow StatefulSet sets no RECOVERY_PARTITIONS")

    def pods(self) -> list[PodStatus]:
        # The client's models type every field optional; a pod the API lists has them all.
        pods: list[Any] = self.core.list_namespaced_pod(
            self.namespace, label_selector=self._selector()
        ).items
        result = []
        for pod in sorted(pods, key=lambda p: p.metadata.name):
            statuses = pod.status.container_statuses or []
            result.append(
                PodStatus(
                    name=pod.metadata.name,
                    component=pod.metadata.labels.get("app.kubernetes.io/component", ""),
                    phase=pod.status.phase,
                    ready=bool(statuses) and all(s.ready for s in statuses),
                    restarts=sum(s.restart_count for s in statuses),
                )
            )
        return result

    def _metrics(self, pod: str) -> str:
        text: str = self.core.connect_get_namespaced_pod_proxy_with_path(
            f"{pod}:{API_PORT}", self.namespace, "metrics"
        )
        return text

    def _snapshot_age(self, pod: str) -> float | None:
        """Seconds since the newest recovery partition file changed, by the pod's clock."""
        command = [
            "sh",
            "-c",
            f"now=$(date +%s); newest=$(ls -t {RECOVERY_DIR}/*.sqlite3 2>/dev/null | head -1); "
            f'[ -n "$newest" ] && echo $((now - $(stat -c %Y "$newest")))',
        ]
        out = stream(
            self.core.connect_get_namespaced_pod_exec,
            pod,
            self.namespace,
            container="dataflow",
            command=command,
            stderr=True,
            stdin=False,
            stdout=True,
            tty=False,
        )
        out = str(out).strip()
        return float(out) if out.isdigit() else None

    def status(self, sample_seconds: float = 2.0) -> ReleaseStatus:
        statefulset = self._statefulset()
        pods = self.pods()
        dataflow = [p.name for p in pods if p.component == "dataflow" and p.ready]
        first = {pod: self._metrics(pod) for pod in dataflow}
        time.sleep(sample_seconds)
        processes = []
        for pod in dataflow:
            text = self._metrics(pod)
            rows = metric_sum(text, *_SINK_INPUT) - metric_sum(first[pod], *_SINK_INPUT)
            processes.append(
                ProcessStatus(
                    pod=pod,
                    consumer_lag=metric_sum(text, "bytewax_kafka_consumer_lag"),
                    rows_per_second=rows / sample_seconds,
                    dead_letters=metric_sum(text, "ico_dataflow_dead_letters_total"),
                    snapshot_age_seconds=self._snapshot_age(pod),
                )
            )
        return ReleaseStatus(
            pods=pods,
            dataflow_replicas=statefulset.spec.replicas,
            recovery_partitions=self._recovery_partitions(statefulset),
            processes=processes,
        )

    def scale(
        self, replicas: int, timeout: float = 300.0, progress: Callable[[str], None] = print
    ) -> None:
        """All dataflow processes stop, the peer list changes, all start; waits until Ready."""
        statefulset = self._statefulset()
        name = statefulset.metadata.name
        partitions = self._recovery_partitions(statefulset)
        if not 1 <= replicas <= partitions:
            raise ClusterError(
                f"cannot run {replicas} dataflow processes: the recovery store has {partitions} "
                "partitions and each process needs one of its own (between 1 and "
                f"{partitions}; more needs a new recovery store, i.e. a fresh start)"
            )
        hosts_map = f"{name}-hosts"
        hosts = self.core.read_namespaced_config_map(hosts_map, self.namespace).data or {}
        if "hostfile.txt" not in hosts:
            raise ClusterError(f"ConfigMap {hosts_map} has no hostfile.txt")
        peers = hostfile(hosts["hostfile.txt"].splitlines()[0].strip(), replicas)

        progress(f"stopping the {statefulset.spec.replicas} dataflow process(es)")
        self.apps.patch_namespaced_stateful_set_scale(
            name, self.namespace, {"spec": {"replicas": 0}}
        )
        self._wait(
            "every dataflow process stopped",
            lambda: (
                not self.core.list_namespaced_pod(
                    self.namespace, label_selector=self._selector("dataflow")
                ).items
            ),
            timeout,
        )
        progress(f"peer list: {replicas} process(es)")
        self.core.patch_namespaced_config_map(
            hosts_map, self.namespace, {"data": {"hostfile.txt": peers + "\n"}}
        )
        # The chart's checksum of the same list, so the next `helm upgrade` with
        # dataflow.replicas set to this count changes nothing.
        checksum = hashlib.sha256(peers.encode()).hexdigest()
        self.apps.patch_namespaced_stateful_set(
            name,
            self.namespace,
            {
                "spec": {
                    "replicas": replicas,
                    "template": {"metadata": {"annotations": {"checksum/hosts": checksum}}},
                }
            },
        )
        progress(f"starting {replicas} dataflow process(es)")

        def ready() -> bool:
            current: Any = self.apps.read_namespaced_stateful_set(name, self.namespace)
            return bool(
                current.status.ready_replicas == replicas
                and current.status.updated_replicas == replicas
                and current.status.current_revision == current.status.update_revision
            )

        self._wait(f"{replicas} dataflow process(es) Ready", ready, timeout)

    @staticmethod
    def _wait(what: str, done: Callable[[], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if done():
                    return
            except ApiException as exc:
                if exc.status not in (404, 409, 500, 503):
                    raise
            if time.monotonic() > deadline:
                raise ClusterError(f"timed out after {timeout:.0f}s waiting until {what}")
            time.sleep(2)
