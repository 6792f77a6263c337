"""A throwaway local Kafka broker for tests."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ico_analytics.services.kafka import KafkaServer, SecureListener
from ico_core.settings import get_settings


@contextmanager
def local_kafka(prefix: str, secure: SecureListener | None = None) -> Iterator[KafkaServer]:
    """A started broker in a fresh directory, stopped and deleted afterwards."""
    data_dir = Path(tempfile.mkdtemp(prefix=prefix))
    server = KafkaServer(data_dir, get_settings().cache_dir, secure=secure)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
