"""What every local server of the dev stack shares: a data dir of its own, a port fixed for the
dir's life, an idempotent start that waits until the server answers, and a stop.

``state.json`` in the data dir keeps the ports (URLs handed out stay valid, and Kafka writes its
controller address into its metadata log), so a service object built again on the same dir, in
any process, finds the same server: ``dev status`` and ``dev down`` work from a fresh process.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

from ico_analytics.services.process import (
    DaemonProcess,
    free_port,
    read_state,
    wait_port_free,
    write_state,
)
from ico_core.errors import ServiceError


class LocalService(ABC):
    """One server bound to 127.0.0.1 with its state under ``data_dir``."""

    #: Shown in messages; also names a daemon's pid and log files.
    name: ClassVar[str]

    def __init__(self, data_dir: Path, port: int | None = None) -> None:
        self.data_dir = data_dir.resolve()
        self._saved: dict[str, Any] = read_state(self.state_file)
        self.port = self._fixed_port("port", port)

    @property
    def state_file(self) -> Path:
        return self.data_dir / "state.json"

    def ports(self) -> dict[str, int]:
        """Every port the server listens on, by its key in ``state.json``."""
        return {"port": self.port}

    def start(self, timeout: float = 120) -> None:
        """Start the server unless it runs, then wait until it answers."""
        if not self.is_running():
            for key, port in self.ports().items():
                if not wait_port_free(port):
                    raise ServiceError(f"{self.name} {key} 127.0.0.1:{port} is taken")
            self.data_dir.mkdir(parents=True, exist_ok=True)
            self._launch(timeout)
        self._wait_ready(timeout)

    def _fixed_port(self, key: str, requested: int | None) -> int:
        """The saved port; a requested one on a fresh dir; else a free one."""
        saved = self._saved.get(key)
        if isinstance(saved, int):
            if requested is not None and requested != saved:
                raise ServiceError(
                    f"{self.state_file} fixes {key}={saved}; cannot change it to {requested}"
                )
            return saved
        return requested if requested is not None else free_port()

    def _save_state(self, **extra: object) -> None:
        write_state(self.state_file, {**self.ports(), **extra})

    @abstractmethod
    def is_running(self) -> bool: ...

    @abstractmethod
    def stop(self, timeout: float = 30) -> None:
        """A clean shutdown; committed data stays in the data dir."""

    @abstractmethod
    def _launch(self, timeout: float) -> None:
        """Prepare the data dir on first use and start the server process."""

    @abstractmethod
    def _wait_ready(self, timeout: float) -> None:
        """Return once the server serves requests; raise ``ServiceError`` if it cannot."""


class DaemonService(LocalService):
    """A local service that is one detached process with a pid file (Kafka, the registry)."""

    #: What ``_answers`` checks, for messages.
    readiness: ClassVar[str]

    def __init__(self, data_dir: Path, port: int | None = None) -> None:
        super().__init__(data_dir, port)
        self.process = DaemonProcess(
            self.name, self.data_dir / f"{self.name}.pid", self.data_dir / f"{self.name}.log"
        )

    @property
    def log_file(self) -> Path:
        return self.process.log_file

    def is_running(self) -> bool:
        return self.process.is_running()

    def stop(self, timeout: float = 30) -> None:
        """SIGTERM for a clean shutdown, SIGKILL if it takes longer than ``timeout``."""
        self.process.stop(timeout)

    def kill(self) -> None:
        """SIGKILL: an unclean crash, for fault tests."""
        self.process.kill()

    def _wait_ready(self, timeout: float) -> None:
        self.process.wait_until(self._answers, timeout, self.readiness)

    @abstractmethod
    def _answers(self) -> bool: ...
