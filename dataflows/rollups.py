"""Rollups of the raw events that the dashboards read instead of scanning the raw tables:
``analytics.minute_counts`` and ``analytics.page_load_histograms`` (migration 0018) and
``analytics.five_minute_counts`` (0025), recomputed in PostgreSQL like the sessions
(``dataflows.sessions``).

- Minute counts: per project and minute of event time, the clickstream events, registrations,
  conversions, page views with a load time and those over 3 s; the 5-minute counts are their
  sums per 5 minutes. The events-per-second, stored-per-minute and slow-pages panels read
  ``analytics.event_counts_in`` per Grafana interval: the whole 5-minute periods of their range
  (when the interval is a multiple of 5 minutes), the other whole minutes, and the raw tables
  for the partial minutes at its ends only: the raw answer, exactly.
- Page load histograms: per minute, per hour (the sum of its minutes) and per UTC day (the sum
  of its hours, migration 0026), per project and per project and page type or device, the
  page views with a load time, the slow ones and a histogram of 180 log-spaced buckets 5 %
  wide packed into one numeric, so that ``sum`` adds histograms. The
  page-load-by-project/page-type/device panels read ``analytics.page_load_histograms_in``
  (whole days, then whole hours, then whole minutes, then the raw partial minutes): views and
  slow share exact, p50/p95/p99 within sqrt(1.05) - 1 = 2.47 % of the exact percentiles (each
  value taken as the geometric middle of its bucket).

How they stay exact:

1. The sink, in the transaction that stores a batch, inserts one row into
   ``analytics.minutes_touched``: the minutes the batch stored events in (``touch``).
2. The ``SessionRefresher``, in the transaction (and under the lock) that recomputes sessions,
   claims touched batches, deletes the rows of their minutes (and of those minutes' 5-minute
   periods, hours and days) and recomputes them from the raw events, the periods and hours from
   their minute rows, the days from their hour rows (``sql/queries/rollups/*.sql``, ``refresh``).

The raw tables are de-duplicated by primary key, so a replayed event or a duplicate recomputes
the same rows, and a late event touches its minute again. A minute's rows appear up to
``SESSIONS_REFRESH_SECONDS`` after its events are stored. Dataflow state: none.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple

import psycopg

from dataflows.enrich import CLICKSTREAM_TABLE, CONVERSIONS_TABLE, REGISTRATIONS_TABLE
from ico_core.db import query

#: Raw tables counted per minute.
COUNTED_TABLES = (CLICKSTREAM_TABLE, REGISTRATIONS_TABLE, CONVERSIONS_TABLE)
#: Touched batches claimed per refresh transaction (a live batch touches a minute or two).
CLAIM_BATCHES = 1000


def minutes_of(by_table: Mapping[str, Sequence[NamedTuple]]) -> list[datetime]:
    """The distinct minutes (UTC, as ``date_bin('1 minute', …)``) of ``by_table``'s raw rows."""
    minutes: set[datetime] = set()
    for table in COUNTED_TABLES:
        for row in by_table.get(table, ()):
            at: datetime = row.timestamp  # type: ignore[attr-defined]
            minutes.add(at.replace(second=0, microsecond=0))
    return sorted(minutes)


def touch(cur: psycopg.Cursor[Any], by_table: Mapping[str, Sequence[NamedTuple]]) -> None:
    """Record, in the sink's transaction, the minutes its raw rows fall in."""
    minutes = minutes_of(by_table)
    if minutes:
        cur.execute(query("rollups/touch"), {"minutes": minutes})


def refresh(cur: psycopg.Cursor[Any], *, limit: int = CLAIM_BATCHES) -> int:
    """Claim up to ``limit`` touched batches and recompute their minutes, in the caller's
    transaction (which holds the refresher lock); returns the minutes recomputed."""
    cur.execute(query("rollups/prepare"))
    claimed = cur.execute(query("rollups/claim"), {"limit": limit}).rowcount
    if claimed:
        cur.execute(query("rollups/delete"))
        lo, hi = cur.execute(query("rollups/bounds")).fetchone()  # type: ignore[misc]
        cur.execute(query("rollups/insert"), {"lo": lo, "hi": hi})
        cur.execute(query("rollups/five_minutes_delete"))
        cur.execute(query("rollups/five_minutes_insert"))
        cur.execute(query("rollups/load_delete"))
        cur.execute(query("rollups/load_minutes"), {"lo": lo, "hi": hi})
        cur.execute(query("rollups/load_hours"))
        cur.execute(query("rollups/load_days"))
    return claimed
