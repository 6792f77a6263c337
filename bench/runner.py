"""Watch the raw tables fill up while the dataflow runs."""

from __future__ import annotations

import threading
import time

import psycopg

#: Snapshot interval of the production shape (seconds).
SNAPSHOT_SECONDS = 10

RAW_ROW_COUNT = """
SELECT (SELECT count(*) FROM raw_data.clickstream_events)
     + (SELECT count(*) FROM raw_data.user_registrations)
     + (SELECT count(*) FROM raw_data.conversions)
"""


class RowCounter(threading.Thread):
    """Counts committed raw rows every ``interval`` seconds; remembers when the first row
    appeared and when the count last changed (monotonic clock)."""

    def __init__(self, database_url: str, interval: float = 0.2) -> None:
        super().__init__(daemon=True)
        self._url = database_url
        self._interval = interval
        self._done = threading.Event()
        self.first: tuple[float, int] | None = None  # (time, rows) of the first non-zero count
        self.last: tuple[float, int] = (0.0, 0)  # (time, rows) of the last change

    def run(self) -> None:
        with psycopg.connect(self._url, autocommit=True) as conn:
            while not self._done.is_set():
                asked = time.monotonic()
                row = conn.execute(RAW_ROW_COUNT).fetchone()
                rows = int(row[0]) if row else 0
                if rows and self.first is None:
                    self.first = (asked, rows)
                if rows != self.last[1]:
                    self.last = (asked, rows)
                self._done.wait(self._interval)

    def finish(self) -> None:
        """Stop polling; a last count catches a commit that landed after the last poll."""
        self._done.set()
        self.join()
        with psycopg.connect(self._url) as conn:
            row = conn.execute(RAW_ROW_COUNT).fetchone()
        rows = int(row[0]) if row else 0
        if rows != self.last[1]:  # committed after the last poll
            self.last = (time.monotonic(), rows)
