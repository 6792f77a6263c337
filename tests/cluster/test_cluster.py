"""The cluster itself: a real node on containerd, the project image, Service DNS, volumes."""

from __future__ import annotations

import json
import re

from tests.cluster.kube import HOME, Namespace, kubectl, kubectl_json, wait_until
from tests.cluster.kube import REPO_ROOT as REPO

APP_TAG = re.search(
    r'^appVersion: "(.+)"', (REPO / "helm/ico-analytics/Chart.yaml").read_text(), re.M
)
APP_IMAGE = f"ico-analytics:{APP_TAG.group(1) if APP_TAG else 'missing'}"

# The chart's security settings for its own pods, so the image is proven under them.
RESTRICTED = {
    "runAsNonRoot": True,
    "runAsUser": 10001,
    "runAsGroup": 10001,
    "seccompProfile": {"type": "RuntimeDefault"},
}
CONTAINER_RESTRICTED = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]},
}


def pod(name: str, command: list[str], **spec: object) -> str:
    """A one-shot pod of the project image (never pulled: containerd holds it)."""
    container: dict[str, object] = {
        "name": "main",
        "image": APP_IMAGE,
        "imagePullPolicy": "Never",
        "command": command,
        "securityContext": CONTAINER_RESTRICTED,
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    container.update(spec.pop("container", {}))  # type: ignore[call-overload]
    body = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "restartPolicy": "Never",
            "securityContext": RESTRICTED,
            "containers": [container],
            "volumes": [{"name": "tmp", "emptyDir": {}}],
            **spec,
        },
    }
    return json.dumps(body)


def test_node_is_a_real_kubelet_on_containerd(cluster: None) -> None:
    node = kubectl_json("get", "node", "ico-e2e")
    ready = {c["type"]: c["status"] for c in node["status"]["conditions"]}["Ready"]
    info = node["status"]["nodeInfo"]
    assert ready == "True"
    assert info["kubeletVersion"] == "v1.34.4"
    assert info["containerRuntimeVersion"].startswith("containerd://1.6.")
    assert json.loads(kubectl("get", "--raw", "/version"))["gitVersion"] == "v1.34.4"
    assert node["status"]["addresses"][0] == {"type": "InternalIP", "address": "10.244.0.1"}


def test_project_image_runs_to_completion(namespace: Namespace) -> None:
    namespace.apply(pod("help", ["ico-analytics", "--help"]))
    assert namespace.wait_pod_done("help", timeout=120) == "Succeeded"
    logs = namespace.logs("help")
    assert "Usage: ico-analytics" in logs
    assert "migrate" in logs and "generate" in logs
    status = kubectl_json("-n", namespace.name, "get", "pod", "help")["status"]
    assert status["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 0
    assert status["podIP"].startswith("10.244.0.")


def test_service_is_reachable_by_dns_name_from_another_pod(namespace: Namespace) -> None:
    server = pod(
        "web",
        # The image holds the installed wheel, no source tree: the server serves a file of its own.
        ["sh", "-c", "echo ico-e2e > /tmp/hello.txt && exec python -m http.server 8000 -d /tmp"],
        restartPolicy="Always",
        container={"readinessProbe": {"tcpSocket": {"port": 8000}, "periodSeconds": 1}},
    )
    namespace.apply(server)
    namespace.apply(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": "web"},
                "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8000}]},
            }
        )
    )
    namespace.kubectl("wait", "--for=condition=Ready", "pod/web", "--timeout=90s", timeout=100)
    cluster_ip = namespace.kubectl("get", "svc", "web", "-o", "jsonpath={.spec.clusterIP}").strip()
    fqdn = f"web.{namespace.name}.svc.cluster.local"
    # Retries cover kube-proxy's sync after the endpoint turned ready (up to a second or so).
    client = (
        "import socket, time, urllib.request\n"
        f"print(socket.gethostbyname('{fqdn}'))\n"
        "for _ in range(30):\n"
        "    try:\n"
        "        body = urllib.request.urlopen('http://web/hello.txt', timeout=3).read()\n"
        "        break\n"
        "    except OSError:\n"
        "        time.sleep(0.5)\n"
        "print(body.decode().splitlines()[0])\n"
    )
    namespace.apply(pod("client", ["python", "-c", client]))
    assert namespace.wait_pod_done("client", timeout=120) == "Succeeded", namespace.logs("client")
    resolved, first_line = namespace.logs("client").split("\n")[:2]
    assert resolved == cluster_ip
    assert cluster_ip.startswith("10.96.")
    assert first_line == "ico-e2e"


def test_pending_claim_gets_a_writable_shared_volume(namespace: Namespace) -> None:
    namespace.apply(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "metadata": {"name": "shared"},
                "spec": {
                    "accessModes": ["ReadWriteMany"],
                    "resources": {"requests": {"storage": "1Gi"}},
                },
            }
        )
    )
    writer = pod(
        "writer",
        ["sh", "-c", "echo written-by-$(id -u) > /data/proof"],
        container={"volumeMounts": [{"name": "data", "mountPath": "/data"}]},
        volumes=[{"name": "data", "persistentVolumeClaim": {"claimName": "shared"}}],
    )
    namespace.apply(writer)
    assert namespace.wait_pod_done("writer", timeout=120) == "Succeeded"
    pvc = kubectl_json("-n", namespace.name, "get", "pvc", "shared")
    assert pvc["status"]["phase"] == "Bound"
    uid = pvc["metadata"]["uid"]
    proof = HOME / "run" / "pv" / uid / "proof"
    assert wait_until("file on the host", proof.exists, timeout=5)
    assert proof.read_text() == "written-by-10001\n"
