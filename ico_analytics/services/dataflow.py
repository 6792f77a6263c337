"""The dataflow as N local ``python -m bytewax.run`` processes, wired as the StatefulSet wires
them (``-i`` process id, ``-a`` peer addresses, one shared recovery directory).

Tests kill and resume it; benchmarks time it and read its ``/metrics``.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from bytewax.recovery import init_db_dir

from ico_analytics.services.process import free_ports
from ico_core.errors import ServiceError

#: Fixed when a recovery directory is created; enough for a rescale up to 6 processes.
RECOVERY_PARTITIONS = 6
IMPORT_STR = "dataflows.pipeline:flow"


def stack_env(
    bootstrap_servers: str,
    schema_registry_url: str,
    database_url: str,
    pii_key: str | None = None,
    crm_key: str | None = None,
) -> dict[str, str]:
    """The environment (the README's names) that points the dataflow and the CLI at a stack;
    without ``pii_key`` or ``crm_key`` throwaway ones (the flow refuses the public development
    keys)."""
    return {
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap_servers,
        "SCHEMA_REGISTRY_URL": schema_registry_url,
        "DATABASE_URL": database_url,
        "PII_HMAC_KEY": pii_key or secrets.token_hex(32),
        "CRM_EMAIL_KEY": crm_key or secrets.token_hex(32),
    }


@dataclass
class DataflowCluster:
    """Cooperating dataflow processes; ``recovery_dir`` None runs without recovery.

    Each process serves Bytewax's dataflow API (``/metrics``) on a port of its own.
    """

    env: dict[str, str]
    log_dir: Path
    recovery_dir: Path | None = None
    snapshot_seconds: int = 10
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    api_ports: list[int] = field(default_factory=list)
    runs: int = 0

    def start(self, processes: int) -> float:
        """Start ``processes`` processes; returns the monotonic start time."""
        if self.procs:
            raise ServiceError("the dataflow is already running")
        if self.recovery_dir is not None and not self.recovery_dir.exists():
            self.recovery_dir.mkdir(parents=True)
            init_db_dir(self.recovery_dir, RECOVERY_PARTITIONS)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.runs += 1
        ports = free_ports(2 * processes)
        addresses = ";".join(f"127.0.0.1:{p}" for p in ports[:processes])
        self.api_ports = ports[processes:]
        began = time.monotonic()
        for i in range(processes):
            cmd = [sys.executable, "-m", "bytewax.run", IMPORT_STR]
            if self.recovery_dir is not None:
                cmd += ["-r", str(self.recovery_dir), "-s", str(self.snapshot_seconds), "-b", "0"]
            if processes > 1:
                cmd += ["-i", str(i), "-a", addresses]
            env = {
                **os.environ,
                **self.env,
                "BYTEWAX_DATAFLOW_API_ENABLED": "true",
                "BYTEWAX_DATAFLOW_API_PORT": str(self.api_ports[i]),
            }
            with (self.log_dir / f"run{self.runs}-proc{i}.log").open("wb") as log:
                self.procs.append(
                    subprocess.Popen(
                        cmd,
                        env=env,
                        cwd=self.log_dir,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )
        return began

    def kill(self) -> None:
        """SIGKILL every process: no flush, no goodbye, like a node dying."""
        self._signal(signal.SIGKILL)
        for p in self.procs:
            p.wait()
        self.procs = []

    def stop(self, timeout: float = 20) -> None:
        """Ctrl-C (Bytewax shuts down cleanly), SIGKILL after ``timeout``."""
        self._signal(signal.SIGINT)
        deadline = time.monotonic() + timeout
        for p in self.procs:
            try:
                p.wait(max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        self.procs = []

    def wait(self, timeout: float) -> float:
        """Wait for every process to end cleanly (input exhausted); returns the monotonic time
        the last one ended. A failed or hung process stops them all and raises with the logs."""
        deadline = time.monotonic() + timeout
        while any(p.poll() is None for p in self.procs):
            failed = any(p.poll() not in (None, 0) for p in self.procs)
            if failed or time.monotonic() > deadline:
                self.kill()
                why = "a dataflow process failed" if failed else f"no end in {timeout:.0f} s"
                raise ServiceError(f"{why}\n{self.logs()}")
            time.sleep(0.05)
        ended = time.monotonic()
        if any(p.returncode != 0 for p in self.procs):
            raise ServiceError(f"a dataflow process failed\n{self.logs()}")
        self.procs = []
        return ended

    def metrics(self) -> list[str] | None:
        """The ``/metrics`` text of every process, None while any does not answer."""
        texts = []
        for port in self.api_ports:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2)
            except httpx.HTTPError:
                return None
            if response.status_code != 200:
                return None
            texts.append(response.text)
        return texts

    def consumer_lag(self) -> float | None:
        """Sum of ``bytewax_kafka_consumer_lag`` over every process, None if unreachable."""
        texts = self.metrics()
        if texts is None:
            return None
        return sum(
            float(line.rsplit(" ", 1)[1])
            for text in texts
            for line in text.splitlines()
            if line.startswith("bytewax_kafka_consumer_lag{")
        )

    def logs(self, tail: int = 4000) -> str:
        return "\n".join(
            f"--- {f.name}\n{f.read_text(errors='replace')[-tail:]}"
            for f in sorted(self.log_dir.glob("*.log"))
        )

    def _signal(self, sig: signal.Signals) -> None:
        for p in self.procs:
            if p.poll() is None:
                os.killpg(p.pid, sig)
