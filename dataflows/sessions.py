"""Sessions (``analytics.sessions``): recomputed in PostgreSQL, no state in the dataflow.

A session is a run of one site ``session_id``'s events (clickstream, registrations and
conversions) with no gap of more than 30 minutes, cut every 24 hours from its first event.

State design. Sessions held in the dataflow were built once and reverted: Bytewax snapshots each
touched key's whole state, so sessions kept in 16 shards for the 3 h lateness horizon made every
snapshot carry rate times horizon of them, and p95 latency went from ~0.4 s to 2.6 s at 10,000
events/s. Per-session keys would shrink the snapshots but not the state: to stay exact under
3 h of lateness, each key must live 3 h after its last event (~9 M keys at 10,000 events/s).
The raw tables already hold every event, de-duplicated by primary key, so here the dataflow
keeps nothing:

1. The sink, in the transaction that stores a batch, upserts each session id the batch stored
   events of into ``analytics.sessions_touched`` with the event-time range of those events
   (``touch_statement``): one small row per session per batch, never per event.
2. A ``SessionRefresher`` (a thread per sink partition, every ``SESSIONS_REFRESH_SECONDS``, and
   once more when the sink closes) claims touched ids with ``FOR UPDATE SKIP LOCKED``, deletes
   their stored sessions near the touched range and recomputes them from the raw events
   (``sql/queries/sessions/*.sql``), in one transaction.

Exact under replay (a replayed event is the same raw row, its session is recomputed to the same
values) and under any lateness (a late event touches its session again, which is recomputed
whole), with any number of workers (claims are disjoint; a sink never waits on a refresher
that waits on it). Dataflow state and snapshots: zero bytes for sessions. The cost is in
PostgreSQL: an index by session id on the raw tables and one recomputation per touched session
per refresh interval (``make bench`` prints the throughput and latency with it).

Limits: activity with no 30-minute pause for longer than 25 hours (a bot) is cut into 24-hour
sessions counted from the first event within 26 hours of the touched range, so its cut points
may move as it goes on.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, NamedTuple

import psycopg

from dataflows.enrich import CLICKSTREAM_TABLE, CONVERSIONS_TABLE, REGISTRATIONS_TABLE
from ico_core.db import query

logger = logging.getLogger(__name__)

SESSIONS_TABLE = "analytics.sessions"
#: Raw tables whose rows carry ``session_id`` and ``timestamp``.
SESSION_TABLES = (CLICKSTREAM_TABLE, REGISTRATIONS_TABLE, CONVERSIONS_TABLE)
#: How far around the touched range events are read: the 24 h cap plus the 30 min gap, rounded up.
READ_MARGIN = timedelta(hours=26)
#: Touched ids claimed per transaction: bounds its locks and the rows it rewrites.
CLAIM_LIMIT = 5_000


class Touched(NamedTuple):
    """Session ids (sorted) and the event-time range of their events, as parallel lists."""

    session_ids: list[str]
    first_at: list[datetime]
    last_at: list[datetime]

    def params(self) -> dict[str, Any]:
        return self._asdict()


def touched_by(by_table: Mapping[str, Sequence[NamedTuple]]) -> Touched | None:
    """The sessions whose events are among ``by_table``'s raw rows, or None when there are none."""
    ranges: dict[str, tuple[datetime, datetime]] = {}
    for table in SESSION_TABLES:
        for row in by_table.get(table, ()):
            session_id: str = row.session_id  # type: ignore[attr-defined]
            ts: datetime = row.timestamp  # type: ignore[attr-defined]
            seen = ranges.get(session_id)
            if seen is None:
                ranges[session_id] = (ts, ts)
            elif ts < seen[0] or ts > seen[1]:
                ranges[session_id] = (min(ts, seen[0]), max(ts, seen[1]))
    if not ranges:
        return None
    ids = sorted(ranges)
    return Touched(ids, [ranges[i][0] for i in ids], [ranges[i][1] for i in ids])


def touch(cur: psycopg.Cursor[Any], by_table: Mapping[str, Sequence[NamedTuple]]) -> None:
    """Record, in the sink's transaction, the sessions its rows belong to."""
    touched = touched_by(by_table)
    if touched is not None:
        cur.execute(query("sessions/touch"), touched.params())


def refresh(conn: psycopg.Connection[Any], *, limit: int = CLAIM_LIMIT) -> int:
    """Claim up to ``limit`` touched ids and recompute their sessions, in one transaction.

    Returns how many ids were claimed (0 when none was waiting).
    """
    with conn.transaction(), conn.cursor() as cur:
        claimed = cur.execute(query("sessions/claim"), {"limit": limit}).fetchall()
        if not claimed:
            return 0
        claimed.sort()
        touched = Touched(
            [str(r[0]) for r in claimed], [r[1] for r in claimed], [r[2] for r in claimed]
        )
        params = touched.params()
        cur.execute(query("sessions/delete"), params)
        params["lo"] = min(touched.first_at) - READ_MARGIN
        params["hi"] = max(touched.last_at) + READ_MARGIN
        cur.execute(query("sessions/insert"), params)
    return len(claimed)


def refresh_all(conn: psycopg.Connection[Any]) -> int:
    """Refresh until no touched id is left that no sink is writing; returns the ids claimed."""
    total = 0
    while claimed := refresh(conn):
        total += claimed
    return total


class SessionRefresher:
    """Runs ``refresh_all`` every ``interval`` seconds in a daemon thread, on its own connection.

    A failed refresh is logged and retried at the next interval: its claims rolled back with it,
    so nothing is lost. ``stop`` ends the thread and refreshes once more.
    """

    def __init__(self, url: str, interval: float, application_name: str, options: str) -> None:
        self._url = url
        self._interval = interval
        self._application_name = application_name
        self._options = options
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="session-refresher", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join()
        with self._connect() as conn:
            refresh_all(conn)

    def _connect(self) -> psycopg.Connection[Any]:
        return psycopg.connect(
            self._url,
            autocommit=True,  # one explicit transaction per claim
            application_name=self._application_name,
            options=self._options,
            connect_timeout=10,
        )

    def _run(self) -> None:
        conn: psycopg.Connection[Any] | None = None
        while not self._stopping.wait(self._interval):
            try:
                if conn is None or conn.closed:
                    conn = self._connect()
                refresh_all(conn)
            except psycopg.Error as exc:
                logger.warning(
                    "refreshing sessions failed, retrying in %ss: %s", self._interval, exc
                )
                if conn is not None:
                    conn.close()
                conn = None
        if conn is not None:
            conn.close()
