"""``ico-analytics dead-letters``: dead letters as an operator replays them, payloads opened."""

from __future__ import annotations

import base64
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row

from ico_core.db import libpq_url, query
from ico_core.pii import PayloadSealer


def _b64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode("ascii")


def export(database_url: str, pii_key: bytes, since: datetime, out: Path) -> int:
    """Write the dead letters received since ``since`` to ``out`` (JSON lines); how many."""
    sealer = PayloadSealer(pii_key)
    count = 0
    with (
        psycopg.connect(libpq_url(database_url), row_factory=dict_row) as conn,
        out.open("w", encoding="utf-8") as f,
    ):
        for row in conn.execute(query("dead_letters_since"), {"since": since}):
            coordinates = f"{row['source_topic']}:{row['source_partition']}:{row['source_offset']}"
            payload = row["payload"]
            line: dict[str, Any] = {
                "topic": row["source_topic"],
                "partition": row["source_partition"],
                "offset": row["source_offset"],
                "stage": row["stage"],
                "reason": row["reason"],
                "event_type": row["event_type"],
                "received_at": row["received_at"].isoformat(),
                "key_b64": _b64(row["record_key"]),
                "payload_b64": _b64(None if payload is None else sealer.open(coordinates, payload)),
            }
            f.write(json.dumps(line, separators=(",", ":")) + "\n")
            count += 1
    return count
