"""A pid file is trusted only while its process runs the recorded command."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from ico_analytics.services.process import DaemonProcess


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
