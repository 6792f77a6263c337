"""Helpers of the cluster e2e tests: run the scripts next to this file and kubectl/helm against
the cluster they start. Paths follow env.sh (K8S_E2E_HOME overrides the cache folder)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

E2E_DIR = Path(__file__).resolve().parent
REPO_ROOT = E2E_DIR.parents[1]
HOME = Path(os.environ.get("K8S_E2E_HOME", REPO_ROOT / ".cache" / "k8s-e2e"))
BIN = HOME / "bin"
KUBECONFIG = HOME / "pki" / "admin.kubeconfig"
FIGURES = HOME / "figures.jsonl"


class CommandError(RuntimeError):
    pass


def run(
    argv: Sequence[str | Path],
    *,
    timeout: float,
    input: str | None = None,
    check: bool = True,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a command with a hard timeout; on failure raise with the tail of its output."""
    full_env = {**os.environ, "KUBECONFIG": str(KUBECONFIG), **(env or {})}
    try:
        done = subprocess.run(
            [str(a) for a in argv],
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=full_env,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise CommandError(f"timed out after {timeout:.0f}s: {' '.join(map(str, argv))}") from exc
    if check and done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-40:])
        raise CommandError(f"exit {done.returncode}: {' '.join(map(str, argv))}\n{tail}")
    return done


def script(name: str, *, timeout: float, env: dict[str, str] | None = None) -> float:
    """Run one of the shell scripts next to this file; return its wall time in seconds."""
    start = time.monotonic()
    run([E2E_DIR / name], timeout=timeout, env=env)
    return time.monotonic() - start


def record(**figures: object) -> None:
    """Append measured figures (seconds, MB) to the cache's figures.jsonl."""
    FIGURES.parent.mkdir(parents=True, exist_ok=True)
    with FIGURES.open("a") as f:
        f.write(json.dumps({"at": time.strftime("%FT%TZ", time.gmtime()), **figures}) + "\n")


def kubectl(*args: str, timeout: float = 120, input: str | None = None) -> str:
    return run(["kubectl", *args], timeout=timeout, input=input).stdout


def kubectl_json(*args: str, timeout: float = 60) -> Any:
    return json.loads(kubectl(*args, "-o", "json", timeout=timeout))


def wait_until(what: str, probe: Any, *, timeout: float, interval: float = 1.0) -> Any:
    """Call probe() until it returns something truthy; raise after timeout seconds."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            last = probe()
        except CommandError as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(interval)
    raise AssertionError(f"{what}: not reached in {timeout:.0f}s (last: {last!r})")


@dataclass
class Namespace:
    """A namespace of one test; deleted (without waiting) at the end."""

    name: str
    created: list[str] = field(default_factory=list)

    def kubectl(self, *args: str, timeout: float = 120, input: str | None = None) -> str:
        return kubectl("-n", self.name, *args, timeout=timeout, input=input)

    def apply(self, manifest: str) -> None:
        self.kubectl("apply", "-f", "-", input=manifest)

    def pod_phase(self, pod: str) -> str:
        return self.kubectl("get", "pod", pod, "-o", "jsonpath={.status.phase}").strip()

    def wait_pod_done(self, pod: str, *, timeout: float) -> str:
        """Wait until a pod has finished; return its phase (Succeeded or Failed)."""
        phase: str = wait_until(
            f"pod {self.name}/{pod} finished",
            lambda: (p := self.pod_phase(pod)) in ("Succeeded", "Failed") and p,
            timeout=timeout,
        )
        return phase

    def logs(self, pod: str, *, container: str | None = None) -> str:
        extra = ["-c", container] if container else []
        return self.kubectl("logs", pod, *extra)


def _rss_mb(pid: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def component_rss_mb() -> dict[str, float]:
    """RSS of each cluster process (from its pid file) and of all pod processes, in MB."""
    rss: dict[str, float] = {}
    for pidfile in sorted((HOME / "run").glob("*.pid")):
        pid = pidfile.read_text().strip()
        if Path(f"/proc/{pid}").exists():
            rss[pidfile.stem] = _rss_mb(pid)
    pods = 0.0
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and "/kubepods" in (proc / "cgroup").read_text():
                pods += _rss_mb(proc.name)
        except (FileNotFoundError, ProcessLookupError):
            continue
    rss["pods"] = round(pods, 1)
    return rss


def local_port(wanted: int = 0) -> int:
    """``wanted`` if nothing on 127.0.0.1 holds it (0: any), else a free one."""
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", wanted))
        except OSError:
            s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def port_forward(namespace: str, target: str, remote: int, local: int) -> Iterator[str]:
    """`kubectl port-forward` of ``target`` (e.g. ``svc/name``) to 127.0.0.1; its base URL."""
    forwarding = subprocess.Popen(
        ["kubectl", "-n", namespace, "port-forward", target, f"{local}:{remote}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "KUBECONFIG": str(KUBECONFIG)},
    )
    try:
        yield f"http://127.0.0.1:{local}"
    finally:
        forwarding.terminate()
        forwarding.wait(timeout=10)


def get_json(url: str) -> dict[str, Any] | None:
    """The JSON body at ``url``; None while it does not answer (a probe for wait_until)."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            body: dict[str, Any] = json.loads(response.read())
            return body
    except OSError:
        return None
