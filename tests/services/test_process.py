"""A pid file is trusted only while its process runs the recorded command."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from ico_analytics.services import process
from ico_analytics.services.process import DaemonProcess, free_ports
from ico_core.errors import ServiceError


def test_a_pid_reused_by_an_unrelated_process_is_never_signalled(tmp_path: Path) -> None:
    daemon = DaemonProcess("sleeper", tmp_path / "sleeper.pid", tmp_path / "sleeper.log")
    pid = daemon.start([sys.executable, "-c", "import time; time.sleep(60)"], cwd=tmp_path)
    assert daemon.pid == pid
    (tmp_path / "sleeper.json").write_text(daemon.pid_file.read_text())
    daemon.stop(timeout=5)
    assert daemon.pid is None

    # The pid file of a service that died long ago now names an unrelated process.
    unrelated = subprocess.Popen(["sleep", "60"])
    try:
        recorded = json.loads((tmp_path / "sleeper.json").read_text())
        daemon.pid_file.write_text(json.dumps({**recorded, "pid": unrelated.pid}))
        assert daemon.pid is None
        assert not daemon.is_running()
        daemon.stop(timeout=1)
        daemon.kill()
        assert unrelated.poll() is None  # still running: nothing was signalled
    finally:
        unrelated.kill()
        unrelated.wait()


def test_free_ports_are_distinct_bindable_and_outside_the_ephemeral_range(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Outgoing connections take their local port from the kernel's ephemeral range: a port
    chosen there could be taken before the service binds it (seen with two test workers)."""
    low, high = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    ports = free_ports(50)
    assert len(set(ports)) == 50
    assert all(not low <= port <= high for port in ports), ports
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as held:
        held.bind(("127.0.0.1", ports[0]))
        held.listen()
        # Of three candidates, one in use: the other two are chosen, then there are no more.
        monkeypatch.setattr(process, "LISTEN_PORTS", ports[:3])
        for _ in range(10):
            assert sorted(free_ports(2)) == sorted(ports[1:3])
        with pytest.raises(ServiceError):
            free_ports(3)
