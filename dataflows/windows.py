"""Event-time tumbling aggregates per project (5 min, 15 min, 1 h): ``window_aggregates``.

Exactness under replay is the requirement, so there is no watermark that closes a window while
its events may still come: a window stays in state until the project's highest event time seen
is ``lateness`` past the window's end, and every valid event inside that horizon is counted in
its window whatever the arrival order. An event beyond it is left out of that window, counted in
``ico_dataflow_events_too_late`` and logged (it is still stored in the raw tables).

Rows are full overwrites built from exact state, never increments: counts are ints, revenue is
integer cents, distinct sessions and users are sets of 128-bit ints, and load times are a
value -> count map, from which the average and ``percentile_cont(0.95)`` are computed exactly as
PostgreSQL does, independent of arrival order. Rows are emitted for the windows changed since the
last flush, every ``flush_seconds`` (``notify_at``), when a window is evicted, and on EOF.

State and snapshot cost: the key is the project id, so state is ~20 keys of a few dozen windows
each (5-min windows over the lateness horizon dominate the count; the 1-h windows the size).
Bytewax snapshots every touched key each epoch, i.e. the windows still open, so a snapshot is
bounded by the events of the last ``lateness + 1 h`` of event time, not by history. Each event
adds at most one session, one user, one load-time entry and one country count per window length,
stored as ints, floats and short strings. Page views by country are what the anomalies' country
mix is judged on. The dirty set is part of the snapshot, so rows not yet flushed before a crash are
still emitted after resume.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import NamedTuple

import bytewax.operators as op
from bytewax.dataflow import Stream, operator
from bytewax.operators import StatefulBatchLogic

from dataflows import metrics
from dataflows.dedupe import uuid_int
from dataflows.enrich import usd, usd_cents, utc
from dataflows.records import TableRow
from dataflows.validate import Event
from ico_core.events import EventType

log = logging.getLogger(__name__)

WINDOW_AGGREGATES_TABLE = "analytics.window_aggregates"
#: Window lengths in milliseconds: 5 min, 15 min, 1 h.
WINDOW_LENGTHS_MS: tuple[int, ...] = (300_000, 900_000, 3_600_000)
P95 = 0.95

# Kinds of window input; page views and purchases are the ones with extra measures.
CLICK, PAGE_VIEW, REGISTRATION, WALLET_CONNECT, PURCHASE, OTHER_CONVERSION = range(6)
_CONVERSION_KINDS = {
    "wallet_connect": WALLET_CONNECT,
    "presale_participate": PURCHASE,
    "token_purchase": PURCHASE,
}


class WindowInput(NamedTuple):
    """What a window needs of one event, compact (the state keeps none of the event itself).

    One per event: a named tuple is built several times faster than a frozen dataclass.
    """

    project_id: int
    timestamp_ms: int
    kind: int
    session: int
    user: int | None
    load_time: float | None  # page views only
    revenue_cents: int  # purchases only
    country: str  # page views only ("" for the others)


def window_input(event: Event) -> tuple[str, WindowInput]:
    """Key the event by its project and keep only what the aggregates use."""
    event_type, r = event
    user = r["user_id"]
    load_time, cents, country = None, 0, ""
    if event_type is EventType.CLICKSTREAM:
        if r["event_type"] == "page_view":
            kind, load_time, country = PAGE_VIEW, r["page_load_time"], r["country"]
        else:
            kind = CLICK
    elif event_type is EventType.REGISTRATION:
        kind = REGISTRATION
    else:
        kind = _CONVERSION_KINDS.get(r["conversion_type"], OTHER_CONVERSION)
        if kind == PURCHASE and r["amount_usd"] is not None:
            cents = usd_cents(r["amount_usd"])
    project = r["ico_website_id"]
    return str(project), WindowInput(
        project,
        r["timestamp"],
        kind,
        uuid_int(r["session_id"]),
        None if user is None else uuid_int(user),
        load_time,
        cents,
        country,
    )


@dataclass(slots=True)
class Window:
    """Exact aggregate of one tumbling window."""

    events: int = 0
    page_views: int = 0
    registrations: int = 0
    conversions: int = 0
    wallet_connects: int = 0
    purchases: int = 0
    revenue_cents: int = 0
    sessions: set[int] = field(default_factory=set)
    users: set[int] = field(default_factory=set)
    load_times: dict[float, int] = field(default_factory=dict)  # seconds -> page views
    # Country -> page views; None in a window resumed from a snapshot taken before they were
    # counted (its counts would be partial).
    countries: dict[str, int] | None = field(default_factory=dict)

    def add(self, item: WindowInput) -> None:
        self.events += 1
        self.sessions.add(item.session)
        if item.user is not None:
            self.users.add(item.user)
        kind = item.kind
        if kind == PAGE_VIEW:
            self.page_views += 1
            if item.load_time is not None:
                self.load_times[item.load_time] = self.load_times.get(item.load_time, 0) + 1
            if self.countries is not None:
                self.countries[item.country] = self.countries.get(item.country, 0) + 1
        elif kind == REGISTRATION:
            self.registrations += 1
        elif kind != CLICK:
            self.conversions += 1
            if kind == WALLET_CONNECT:
                self.wallet_connects += 1
            elif kind == PURCHASE:
                self.purchases += 1
                self.revenue_cents += item.revenue_cents

    def copy(self) -> Window:
        return Window(
            self.events,
            self.page_views,
            self.registrations,
            self.conversions,
            self.wallet_connects,
            self.purchases,
            self.revenue_cents,
            set(self.sessions),
            set(self.users),
            dict(self.load_times),
            None if self.countries is None else dict(self.countries),
        )

    def load_time_stats(self) -> tuple[float | None, float | None]:
        """(avg, percentile_cont(0.95)) of page-view load times; (None, None) without any."""
        if not self.load_times:
            return None, None
        values = sorted(self.load_times.items())
        n = sum(count for _, count in values)
        # fsum rounds the exact total once, so the average does not depend on arrival order.
        avg = math.fsum(value * count for value, count in values) / n
        # PostgreSQL percentile_cont: linear interpolation between the rows at floor and ceil of
        # p * (n - 1), 0-based, as lo + (hi - lo) * fraction.
        position = P95 * (n - 1)
        lo_rank = math.floor(position)
        hi_rank = math.ceil(position)
        lo = hi = None
        seen = 0
        for value, count in values:
            seen += count
            if lo is None and lo_rank < seen:
                lo = value
            if hi_rank < seen:
                hi = value
                break
        assert lo is not None and hi is not None
        return avg, lo + (hi - lo) * (position - lo_rank)


#: (window length ms, window start ms)
WindowKey = tuple[int, int]


@dataclass(slots=True)
class ProjectWindows:
    """State of one project: its open windows, the ones changed since the last flush, and the
    highest event time seen (what lateness is measured against)."""

    project_id: int = 0
    max_timestamp_ms: int = -(2**63)
    windows: dict[WindowKey, Window] = field(default_factory=dict)
    dirty: set[WindowKey] = field(default_factory=set)

    def copy(self) -> ProjectWindows:
        return ProjectWindows(
            self.project_id,
            self.max_timestamp_ms,
            {key: window.copy() for key, window in self.windows.items()},
            set(self.dirty),
        )


class WindowAggregateRow(NamedTuple):
    """A row of ``analytics.window_aggregates``."""

    ico_website_id: int
    window_length: timedelta
    window_start: datetime
    window_end: datetime
    events: int
    page_views: int
    unique_sessions: int
    unique_users: int
    registrations: int
    conversions: int
    wallet_connects: int
    purchases: int
    revenue_usd: Decimal
    avg_page_load_time: float | None
    p95_page_load_time: float | None
    page_views_by_country: dict[str, int] | None


def window_row(project_id: int, key: WindowKey, window: Window) -> WindowAggregateRow:
    length_ms, start_ms = key
    avg, p95 = window.load_time_stats()
    return WindowAggregateRow(
        project_id,
        timedelta(milliseconds=length_ms),
        utc(start_ms),
        utc(start_ms + length_ms),
        window.events,
        window.page_views,
        len(window.sessions),
        len(window.users),
        window.registrations,
        window.conversions,
        window.wallet_connects,
        window.purchases,
        usd(window.revenue_cents),
        avg,
        p95,
        None if window.countries is None else dict(window.countries),  # the window lives on
    )


class WindowLogic(StatefulBatchLogic[WindowInput, WindowAggregateRow, ProjectWindows]):
    """All window lengths of one project."""

    def __init__(
        self, *, lateness_ms: int, flush: timedelta, resume: ProjectWindows | None
    ) -> None:
        self._lateness_ms = lateness_ms
        self._flush = flush
        self._state = ProjectWindows() if resume is None else resume
        self._flush_at: datetime | None = None
        for window in self._state.windows.values():
            if not hasattr(window, "countries"):  # a snapshot from before they were counted
                window.countries = None

    def on_batch(self, values: list[WindowInput]) -> tuple[list[WindowAggregateRow], bool]:
        state = self._state
        state.project_id = values[0].project_id
        windows, dirty = state.windows, state.dirty
        lateness = self._lateness_ms
        clock = state.max_timestamp_ms
        too_late: dict[int, list[int]] = {}
        for item in values:
            ts = item.timestamp_ms
            # The clock advances item by item, so what is too late depends on the order of a
            # project's events only, never on how Bytewax happened to batch them.
            if ts > clock:
                clock = ts
            horizon = clock - lateness  # windows ending by then are done
            for length in WINDOW_LENGTHS_MS:
                start = ts - ts % length
                if start + length <= horizon:
                    too_late.setdefault(length, []).append(ts)
                    continue
                key = (length, start)
                window = windows.get(key)
                if window is None:
                    window = windows[key] = Window()
                window.add(item)
                dirty.add(key)
        state.max_timestamp_ms = clock
        if too_late:
            self._report_too_late(too_late)
        if dirty and self._flush_at is None:
            self._flush_at = datetime.now(UTC) + self._flush
        return self._evict(clock - lateness), StatefulBatchLogic.RETAIN

    def _report_too_late(self, too_late: dict[int, list[int]]) -> None:
        for length, stamps in too_late.items():
            metrics.TOO_LATE.labels(window=f"{length // 60_000}m").inc(len(stamps))
            log.warning(
                "project %s: %d event(s) too late for %d-minute windows, left out of the "
                "aggregates (oldest %s, project event-time clock %s, lateness %d s)",
                self._state.project_id,
                len(stamps),
                length // 60_000,
                utc(min(stamps)).isoformat(),
                utc(self._state.max_timestamp_ms).isoformat(),
                self._lateness_ms // 1000,
            )

    def _evict(self, horizon: int) -> list[WindowAggregateRow]:
        """Drop windows past the horizon, emitting the final row of those not yet flushed."""
        windows, dirty = self._state.windows, self._state.dirty
        rows = []
        for key in [k for k in windows if k[1] + k[0] <= horizon]:
            window = windows.pop(key)
            if key in dirty:
                dirty.discard(key)
                rows.append(window_row(self._state.project_id, key, window))
        return rows

    def _flush_dirty(self) -> list[WindowAggregateRow]:
        state = self._state
        rows = [window_row(state.project_id, k, state.windows[k]) for k in sorted(state.dirty)]
        state.dirty.clear()
        self._flush_at = None
        return rows

    def on_notify(self) -> tuple[list[WindowAggregateRow], bool]:
        return self._flush_dirty(), StatefulBatchLogic.RETAIN

    def on_eof(self) -> tuple[list[WindowAggregateRow], bool]:
        rows = self._flush_dirty()
        return rows, not self._state.windows

    def notify_at(self) -> datetime | None:
        if self._state.dirty and self._flush_at is None:
            # Resumed with rows not yet flushed.
            self._flush_at = datetime.now(UTC) + self._flush
        return self._flush_at

    def snapshot(self) -> ProjectWindows:
        return self._state.copy()


@operator
def window_aggregates(
    step_id: str,
    up: Stream[Event],
    *,
    lateness_seconds: int,
    flush_seconds: float,
) -> Stream[WindowAggregateRow]:
    """Rows of ``analytics.window_aggregates`` for de-duplicated valid events."""
    lateness_ms = lateness_seconds * 1000
    flush = timedelta(seconds=flush_seconds)

    def build(resume: ProjectWindows | None) -> WindowLogic:
        return WindowLogic(lateness_ms=lateness_ms, flush=flush, resume=resume)

    keyed = op.map("by_project", up, window_input)  # (project id, WindowInput)
    rows = op.stateful_batch("windows", keyed, build)  # (project id, WindowAggregateRow)
    return op.key_rm("unkey", rows)  # WindowAggregateRow


def window_table_row(row: WindowAggregateRow) -> TableRow:
    return WINDOW_AGGREGATES_TABLE, row
