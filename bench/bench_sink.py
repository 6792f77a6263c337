"""Throughput of PostgresSink into raw_data.clickstream_events, batches of 5,000 rows.

    python -m bench.bench_sink [--rows N] [--batch-size B] [--database-url URL]

Without a URL it starts a throw-away LocalPostgres. Prints rows/s for new rows and for a
replay of the same rows (every row then takes the ON CONFLICT DO UPDATE path).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from dataflows.enrich import CLICKSTREAM_TABLE, ClickstreamRow
from dataflows.records import TableRow
from dataflows.sinks import PostgresSink
from ico_analytics.services.postgres import LocalPostgres
from ico_core.db import migrate


def _rows(count: int) -> list[TableRow]:
    start = datetime.now(UTC) - timedelta(hours=2)
    rows: list[TableRow] = []
    for i in range(count):
        row = ClickstreamRow(
            event_id=str(uuid.uuid4()),
            session_id=str(uuid.uuid4()),
            user_id=str(uuid.uuid4()) if i % 3 else None,
            timestamp=start + timedelta(milliseconds=i * 7),
            event_type="page_view",
            page_type="tokenomics",
            page_url=f"https://lumora.finance/tokenomics?ref={i}",
            referrer="https://twitter.com/",
            utm_source="twitter",
            utm_medium="social",
            utm_campaign="presale-launch",
            traffic_source="social",
            country="DE",
            region="Europe",
            device_type="mobile",
            browser="Chrome",
            page_load_time=1.0 + (i % 100) / 50,
            scroll_depth=i % 101,
            ip_address="9f86d081884c7d659a2feaa0c55ad015",
            user_agent="Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 Chrome/120.0",
            ico_website_id=i % 20 + 1,
        )
        rows.append((CLICKSTREAM_TABLE, row))
    return rows


def _measure(url: str, rows: list[TableRow], batch_size: int, label: str) -> None:
    sink = PostgresSink(url).build("bench", 0, 1)
    began, cpu = time.perf_counter(), time.process_time()
    for i in range(0, len(rows), batch_size):
        sink.write_batch(rows[i : i + batch_size])
    elapsed, cpu = time.perf_counter() - began, time.process_time() - cpu
    sink.close()
    # Client CPU shows how much of the time is Python (the rest is PostgreSQL and waiting).
    print(
        f"{label:<27} {len(rows):>9,} rows {elapsed:6.2f}s {len(rows) / elapsed:>9,.0f} rows/s"
        f"  (client CPU {cpu:.2f}s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=500_000)
    parser.add_argument("--batch-size", type=int, default=5_000)
    parser.add_argument("--database-url", help="an already migrated database (default: own server)")
    args = parser.parse_args()

    data_dir: Path | None = None
    server: LocalPostgres | None = None
    url = args.database_url
    if url is None:
        data_dir = Path(tempfile.mkdtemp(prefix="ico-analytics-bench-"))
        server = LocalPostgres(data_dir)
        began = time.perf_counter()
        server.start()
        print(f"PostgreSQL first start (initdb + start): {time.perf_counter() - began:.2f}s")
        server.stop()
        began = time.perf_counter()
        server.start()
        print(f"PostgreSQL start of an existing cluster: {time.perf_counter() - began:.2f}s")
        url = server.url
        migrate(url)
    try:
        rows = _rows(args.rows)
        _measure(url, rows, args.batch_size, "insert (new rows)")
        _measure(url, rows, args.batch_size, "replay (upsert same rows)")
    finally:
        if server is not None and data_dir is not None:
            server.stop()
            shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
