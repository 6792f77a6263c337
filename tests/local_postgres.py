"""A throwaway local PostgreSQL server for tests."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ico_analytics.services.postgres import LocalPostgres


@contextmanager
def local_postgres(prefix: str) -> Iterator[LocalPostgres]:
    """A started server in a fresh directory, stopped and deleted afterwards."""
    # Not tmp_path_factory: as root the server runs as another user, who cannot enter pytest's
    # 0700 base directory (and pytest resets its mode if we widen it).
    data_dir = Path(tempfile.mkdtemp(prefix=prefix))
    server = LocalPostgres(data_dir)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
