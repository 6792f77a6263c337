"""Run the dataflow as real ``python -m bytewax.run`` processes, kill them, resume them."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from bytewax.recovery import init_db_dir

#: Fixed at creation; enough for the 3-process rescale (each process must reach some).
RECOVERY_PARTITIONS = 6


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


@dataclass
class DataflowCluster:
    """N cooperating dataflow processes sharing one recovery directory."""

    env: dict[str, str]
    recovery_dir: Path
    log_dir: Path
    snapshot_seconds: int = 1
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    runs: int = 0

    def __post_init__(self) -> None:
        if not self.recovery_dir.exists():
            self.recovery_dir.mkdir(parents=True)
            init_db_dir(self.recovery_dir, RECOVERY_PARTITIONS)
        self.log_dir.mkdir(parents=True, exist_ok=True)

    def start(self, processes: int) -> None:
        assert not self.procs, "already running"
        self.runs += 1
        ports = free_ports(processes)
        addresses = ";".join(f"127.0.0.1:{p}" for p in ports)
        for i in range(processes):
            cmd = [
                sys.executable,
                "-m",
                "bytewax.run",
                "dataflows.pipeline:flow",
                "-r",
                str(self.recovery_dir),
                "-s",
                str(self.snapshot_seconds),
                "-b",
                "0",
            ]
            if processes > 1:
                cmd += ["-i", str(i), "-a", addresses]
            log = (self.log_dir / f"run{self.runs}-proc{i}.log").open("wb")
            self.procs.append(
                subprocess.Popen(
                    cmd,
                    env={**os.environ, **self.env},
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )

    def kill(self) -> None:
        """SIGKILL every process: no flush, no goodbye, like a node dying."""
        for p in self.procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
        for p in self.procs:
            p.wait()
        self.procs = []

    def wait(self, timeout: float) -> None:
        """Wait for a clean end of input; fail with the logs if a process fails or hangs."""
        deadline = time.monotonic() + timeout
        try:
            for p in self.procs:
                code = p.wait(max(deadline - time.monotonic(), 0.1))
                if code != 0:
                    raise AssertionError(f"dataflow process exited {code}:\n{self.logs()}")
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(
                f"dataflow did not finish in {timeout} s:\n{self.logs()}"
            ) from None
        self.procs = []

    def logs(self, tail: int = 4000) -> str:
        return "\n".join(
            f"--- {f.name}\n{f.read_text(errors='replace')[-tail:]}"
            for f in sorted(self.log_dir.glob("*.log"))
        )
