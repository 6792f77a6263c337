"""``ico-analytics dev up|status|down`` and ``generate`` to Kafka, as a user runs them."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer, TopicPartition

from ico_core.events import EventType
from ico_core.settings import get_settings
from ico_core.topics import TOPIC_PARTITIONS


def _cli(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [str(Path(sys.executable).parent / "ico-analytics"), *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.fixture
def data_dir() -> Iterator[Path]:
    # Not pytest's tmp_path: PostgreSQL runs as an unprivileged user that must enter it.
    path = Path(tempfile.mkdtemp(prefix="ico-dev-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _count_messages(bootstrap: str) -> int:
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": "count", "enable.auto.commit": False}
    )
    total = 0
    for event_type in EventType:
        for partition in range(TOPIC_PARTITIONS[event_type.topic]):
            low, high = consumer.get_watermark_offsets(
                TopicPartition(event_type.topic, partition), 10
            )
            total += high - low
    consumer.close()
    return total


@pytest.mark.kafka
def test_dev_up_is_idempotent_generate_delivers_and_down_stops(data_dir: Path) -> None:
    env = {
        "ICO_ANALYTICS_DATA_DIR": str(data_dir),
        "ICO_ANALYTICS_CACHE_DIR": str(get_settings().cache_dir),
    }
    try:
        _cli(env, "dev", "up")
        first = (data_dir / "env").read_text()
        _cli(env, "dev", "up")  # already running: same addresses, nothing restarted
        assert (data_dir / "env").read_text() == first
        stack = dict(line.split("=", 1) for line in first.splitlines())
        assert set(stack) == {
            "KAFKA_BOOTSTRAP_SERVERS",
            "SCHEMA_REGISTRY_URL",
            "DATABASE_URL",
            "PII_HMAC_KEY",
            "CRM_EMAIL_KEY",
        }
        keys = {"PII_HMAC_KEY": "pii-hmac-key", "CRM_EMAIL_KEY": "crm-email-key"}
        addresses = {k: v for k, v in stack.items() if k not in keys}
        assert all("127.0.0.1" in value for value in addresses.values())
        # The stack's own keys: random, kept across `up`s, readable by their owner only.
        for name, file_name in keys.items():
            assert re.fullmatch(r"[0-9a-f]{64}", stack[name])
            assert (data_dir / file_name).stat().st_mode & 0o777 == 0o600
        assert stack["PII_HMAC_KEY"] != stack["CRM_EMAIL_KEY"]
        status = _cli(env, "dev", "status")
        assert status.count("running at") == 3, status

        out = _cli({**env, **stack}, "generate", "--events", "3000", "--rate", "0", "--seed", "9")
        assert "delivered 3000 events" in out
        assert _count_messages(stack["KAFKA_BOOTSTRAP_SERVERS"]) == 3000
    finally:
        _cli(env, "dev", "down")
    status = _cli(env, "dev", "status")
    assert status.count("stopped") == 3, status
    assert not (data_dir / "env").exists()
