"""Daemon processes that outlive the Python process that started them.

A service is identified by its pid file, so a later ``ico-analytics dev status`` (a new Python
process) can find, check and stop what ``dev up`` started. The pid file also records when that
process started (``/proc/<pid>/stat``), and a pid counts as the service only while it still has
that start time: after a reboot a stale pid may belong to an unrelated process, which
``dev down`` must never signal.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ico_core.errors import ServiceError

#: Where listening ports are chosen: below Linux's default ephemeral range (32768-60999), so the
#: outgoing connections of this or another process (Kafka, PostgreSQL and HTTP clients) cannot take
#: a chosen port in the moment between choosing it and the service binding it.
LISTEN_PORTS = range(20000, 32768)


def free_ports(count: int) -> list[int]:
    """Distinct TCP ports on 127.0.0.1 that nothing listens on right now (all held open while
    choosing, so they differ), picked at random from ``LISTEN_PORTS``."""
    sockets: list[socket.socket] = []
    try:
        for port in random.sample(LISTEN_PORTS, len(LISTEN_PORTS)):
            if len(sockets) == count:
                break
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                sock.close()
                continue
            sockets.append(sock)
        if len(sockets) < count:
            raise ServiceError(f"no {count} free ports on 127.0.0.1 in {LISTEN_PORTS}")
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    return free_ports(1)[0]


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_port_free(port: int, timeout: float = 15) -> bool:
    """Wait for a listener to go away: a killed JVM closes its sockets after its pid is reaped."""
    deadline = time.monotonic() + timeout
    while port_open(port):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def read_state(path: Path) -> dict[str, Any]:
    """The JSON state file of a service, or {} before its first start."""
    if not path.exists():
        return {}
    data = json.loads(path.read_text())
    if not isinstance(data, dict):
        raise ServiceError(f"{path} does not hold a JSON object")
    return data


def write_state(path: Path, state: Mapping[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2, sort_keys=True) + "\n")
    tmp.replace(path)  # atomic, so a crash never leaves half a state file


class DaemonProcess:
    """One detached process with a pid file and a log file.

    The child runs in its own session (``setsid``), so Ctrl-C in the terminal that started it
    and the exit of the starting Python process leave it running.
    """

    def __init__(self, name: str, pid_file: Path, log_file: Path) -> None:
        self.name = name
        self.pid_file = pid_file
        self.log_file = log_file

    @property
    def pid(self) -> int | None:
        """The pid of the running process, or None (a stale pid file counts as not running)."""
        try:
            recorded = json.loads(self.pid_file.read_text())
            pid, started = int(recorded["pid"]), recorded["started"]
        except (FileNotFoundError, ValueError, KeyError, TypeError):
            return None
        return pid if _alive(pid) and _start_time(pid) in (started, None) else None

    def is_running(self) -> bool:
        return self.pid is not None

    def start(self, argv: Sequence[str], *, cwd: Path) -> int:
        if self.is_running():
            raise ServiceError(f"{self.name} is already running (pid file {self.pid_file})")
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        self.pid_file.parent.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as log:
            try:
                proc = subprocess.Popen(
                    list(argv),
                    cwd=cwd,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            except OSError as exc:
                raise ServiceError(f"cannot start {self.name}: {exc}") from exc
        record = {"pid": proc.pid, "started": _start_time(proc.pid), "argv": list(argv)}
        self.pid_file.write_text(json.dumps(record) + "\n")
        return proc.pid

    def wait_until(
        self, ready: Callable[[], bool], timeout: float, what: str, interval: float = 0.25
    ) -> None:
        """Poll ``ready`` until it is true; fail early if the process dies meanwhile."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.is_running():
                raise ServiceError(
                    f"{self.name} exited while waiting for {what}; log tail:\n{self.log_tail()}"
                )
            if ready():
                return
            time.sleep(interval)
        raise ServiceError(
            f"{self.name} not ready ({what}) after {timeout:.0f}s; log tail:\n{self.log_tail()}"
        )

    def stop(self, timeout: float = 30) -> None:
        """SIGTERM for a clean shutdown, SIGKILL if it takes longer than ``timeout``."""
        pid = self.pid
        if pid is not None:
            _signal(pid, signal.SIGTERM)
            if not _wait_gone(pid, timeout):
                _signal(pid, signal.SIGKILL)
                _wait_gone(pid, 10)
        self.pid_file.unlink(missing_ok=True)

    def kill(self) -> None:
        """SIGKILL at once: a crash, for fault-tolerance tests."""
        pid = self.pid
        if pid is not None:
            _signal(pid, signal.SIGKILL)
            _wait_gone(pid, 10)
        self.pid_file.unlink(missing_ok=True)

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_file.read_text(errors="replace")
        except FileNotFoundError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


def _alive(pid: int) -> bool:
    """True while ``pid`` runs; a zombie (exited, not yet reaped by its parent) counts as gone."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no procfs: trust kill(0)
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _start_time(pid: int) -> int | None:
    """When ``pid`` started, in clock ticks since boot (fixed for the life of a process, exec
    included); None where there is no procfs to tell."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[19])


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _reap(pid)
        if not _alive(pid):
            return True
        time.sleep(0.1)
    return False


def _reap(pid: int) -> None:
    """Collect the exit status when we are the parent, so the child does not linger as a zombie."""
    with contextlib.suppress(ChildProcessError):  # not our child: its parent reaps it
        os.waitpid(pid, os.WNOHANG)
