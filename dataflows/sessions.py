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

1. The sink, in the transaction that stores a batch, inserts one row into
   ``analytics.sessions_touched``: the session ids the batch stored events (or leads) of and
   the event-time range of those rows (``touch``).
2. A ``SessionRefresher`` (a thread per sink partition, every ``SESSIONS_REFRESH_SECONDS``, and
   once more when the sink closes) claims touched batches (one refresher at a time, under an advisory lock),
   deletes their sessions' stored rows near the touched range and recomputes them from the raw
   events (``sql/queries/sessions/*.sql``), in one transaction. In the same transaction it
   recomputes the rollups the dashboards read (``analytics.sessions_rollup``,
   ``sessions_geo_rollup``, ``registrations_geo_rollup``, ``leads_rollup``): the rows of every
   (project, hour) whose sessions it deleted or inserted or whose registrations it read, then
   of their days (``sessions/rollup``).

Exact under replay (a replayed event is the same raw row, its session is recomputed to the same
values) and under any lateness (a late event touches its session again, which is recomputed
whole), with any number of workers (a sink never waits for a refresher; refreshers take turns,
so a session is never recomputed by two at once). Dataflow state and snapshots: zero bytes for sessions. The cost is in
PostgreSQL: an index by session id on the raw tables and one recomputation per touched session
per refresh interval (``make bench`` prints the throughput and latency with it).

Limits: activity with no 30-minute pause for over 24 hours (a bot) is cut into 24-hour
sessions; an event arriving late before such a run's start may leave the cuts after its first
24 hours where they were.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import psycopg

from dataflows import rollups
from dataflows.enrich import CLICKSTREAM_TABLE, CONVERSIONS_TABLE, REGISTRATIONS_TABLE
from dataflows.leads import LEADS_TABLE
from ico_core.db import query

logger = logging.getLogger(__name__)

#: Tables whose rows touch their session, with the column saying when the row happened: the raw
#: tables, and the leads (a lead may be stored in a later batch than its registration; the
#: leads' rollup, ``sessions/rollup``, is redone with its session's hours).
TOUCHING = {
    CLICKSTREAM_TABLE: "timestamp",
    REGISTRATIONS_TABLE: "timestamp",
    CONVERSIONS_TABLE: "timestamp",
    LEADS_TABLE: "registered_at",
}
#: Touched batches claimed per transaction: bounds the rows it rewrites (a batch of a few
#: thousand events touches about as many sessions). Claiming all that waited since the last
#: refresh recomputes each session once per refresh, however many batches touched it.
CLAIM_BATCHES = 100
#: Key of the transaction advisory lock that lets one refresher run at a time.
REFRESH_LOCK_KEY = 0x1C0A_0002


def touched_by(by_table: Mapping[str, Sequence[NamedTuple]]) -> dict[str, Any] | None:
    """The session ids of ``by_table``'s raw rows and leads and the event-time range of those
    rows, as the parameters of ``sessions/touch``; None when there are none."""
    ids: set[str] = set()
    first = last = None
    for table, at in TOUCHING.items():
        rows = by_table.get(table, ())
        if not rows:
            continue
        ids.update(row.session_id for row in rows)  # type: ignore[attr-defined]
        times = [getattr(row, at) for row in rows]
        low, high = min(times), max(times)
        first = low if first is None else min(first, low)
        last = high if last is None else max(last, high)
    if not ids:
        return None
    return {"session_ids": list(ids), "first_at": first, "last_at": last}


def touch(cur: psycopg.Cursor[Any], by_table: Mapping[str, Sequence[NamedTuple]]) -> None:
    """Record, in the sink's transaction, the sessions (and minutes, ``dataflows.rollups``) its
    rows belong to."""
    touched = touched_by(by_table)
    if touched is not None:
        cur.execute(query("sessions/touch"), touched)
    rollups.touch(cur, by_table)


def refresh(conn: psycopg.Connection[Any], *, wait: bool, limit: int = CLAIM_BATCHES) -> int:
    """Claim up to ``limit`` touched batches and recompute their sessions (and the minute counts
    of the minutes touched, ``dataflows.rollups``), in one transaction.

    Returns how many session ids and minutes were recomputed: 0 when no batch was waiting, or
    when another refresher is at work and ``wait`` is false.
    """
    with conn.transaction(), conn.cursor() as cur:
        lock = cur.execute(query("sessions/lock"), {"wait": wait, "key": REFRESH_LOCK_KEY})
        if not lock.fetchone()[0]:  # type: ignore[index]
            return 0
        minutes = rollups.refresh(cur)
        # Everything stays in the server: the claimed ids never travel through Python.
        cur.execute(query("sessions/prepare"), prepare=False)  # two statements
        claimed = cur.execute(query("sessions/claim"), {"limit": limit}).rowcount
        if not claimed:
            return minutes
        cur.execute(query("sessions/delete"))
        lo, hi = cur.execute(query("sessions/bounds")).fetchone()  # type: ignore[misc]
        cur.execute(query("sessions/insert"), {"lo": lo, "hi": hi})
        cur.execute(query("sessions/rollup"), prepare=False)  # several statements
    return claimed + minutes


def refresh_all(conn: psycopg.Connection[Any], *, wait: bool = True) -> int:
    """Refresh until no committed touched batch is left (or, without ``wait``, until another
    refresher is at work); returns the session ids and minutes recomputed."""
    total = 0
    while claimed := refresh(conn, wait=wait):
        total += claimed
    return total


class SessionRefresher:
    """Runs ``refresh_all`` every ``interval`` seconds in a daemon thread, on a connection of its
    own from ``connect`` (no thread when ``interval`` is None).

    A failed refresh is logged and retried at the next interval: its claims rolled back with it,
    so nothing is lost. ``stop`` ends the thread and refreshes once more.
    """

    def __init__(
        self, connect: Callable[[], psycopg.Connection[Any]], interval: float | None
    ) -> None:
        self._connect = connect
        self._interval = interval
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="session-refresher", daemon=True)

    def start(self) -> None:
        if self._interval is not None:
            self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join()
        with self._connect() as conn:
            refresh_all(conn)

    def _run(self) -> None:
        assert self._interval is not None
        conn: psycopg.Connection[Any] | None = None
        while not self._stopping.wait(self._interval):
            try:
                if conn is None or conn.closed:
                    conn = self._connect()
                refresh_all(conn, wait=False)
            except psycopg.Error as exc:
                logger.warning(
                    "refreshing sessions failed, retrying in %ss: %s", self._interval, exc
                )
                if conn is not None:
                    conn.close()
                conn = None
        if conn is not None:
            conn.close()
