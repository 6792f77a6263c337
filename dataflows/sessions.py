"""Sessions: one row per site session (``session_id``), built from its stored raw rows.

A session is what the site's own ``session_id`` names (no re-splitting by inactivity): its
first and last event time, its events and page views, the landing attributes of its earliest
clickstream event (page type, country, device, traffic source), its user, and how far down the
token-sale funnel it went (registered, connected a wallet, bought, with purchases and revenue).
Every attribute is chosen by event time with the event id breaking ties, so the row does not
depend on arrival order, and rows are full overwrites keyed by ``session_id``.

State is sharded like dedupe, by the first hex digit of the session id (16 keys; a key per
session would cost a logic object and a snapshot entry each). A session stays in state until its
shard's event-time clock is ``lateness`` past the session's last event; an event of a session
already dropped that is itself older than the horizon is too late and left out (counted in
``ico_dataflow_events_too_late{window="session"}``), so a late straggler never overwrites a
complete session with a partial one. Changed sessions are written every ``flush_seconds``.
"""

from __future__ import annotations

import heapq
import logging
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import NamedTuple

import bytewax.operators as op
from bytewax.dataflow import Stream, operator
from bytewax.operators import StatefulBatchLogic

from dataflows import metrics
from dataflows.enrich import ClickstreamRow, ConversionRow, RegistrationRow
from dataflows.records import TableRow

log = logging.getLogger(__name__)

SESSIONS_TABLE = "analytics.sessions"
PURCHASE_TYPES = frozenset({"presale_participate", "token_purchase"})
_NEVER = datetime.min.replace(tzinfo=UTC)
_TOO_LATE = metrics.TOO_LATE.labels(window="session")

SessionEvent = ClickstreamRow | RegistrationRow | ConversionRow


@dataclass(slots=True)
class Session:
    """What is known of one session so far."""

    # The earliest event, (time, event id): the session's start and project.
    first: tuple[datetime, str]
    ico_website_id: int
    ended_at: datetime
    events: int = 0
    page_views: int = 0
    # The earliest clickstream event, (time, event id), and its landing attributes.
    landing: tuple[datetime, str] | None = None
    landing_page: str | None = None
    country: str | None = None
    device_type: str | None = None
    traffic_source: str | None = None
    # The earliest event that names a user, (time, event id, user id).
    user: tuple[datetime, str, str] | None = None
    registered: bool = False
    wallet_connected: bool = False
    purchases: int = 0
    revenue_usd: Decimal = field(default_factory=Decimal)

    @classmethod
    def of(cls, row: SessionEvent) -> Session:
        return cls((row.timestamp, row[0]), row.ico_website_id, row.timestamp)

    def add(self, row: SessionEvent) -> None:
        ts = row.timestamp
        event_id = row[0]  # event_id | registration_id | conversion_id
        self.events += 1
        if ts <= self.first[0] and (ts, event_id) < self.first:
            self.first = (ts, event_id)
            self.ico_website_id = row.ico_website_id
        if ts > self.ended_at:
            self.ended_at = ts
        if row.user_id is not None and (self.user is None or (ts, event_id) < self.user[:2]):
            self.user = (ts, event_id, row.user_id)
        if isinstance(row, ClickstreamRow):
            if row.event_type == "page_view":
                self.page_views += 1
            if self.landing is None or (ts, event_id) < self.landing:
                self.landing = (ts, event_id)
                self.landing_page = row.page_type
                self.country = row.country
                self.device_type = row.device_type
                self.traffic_source = row.traffic_source
        elif isinstance(row, RegistrationRow):
            self.registered = True
        elif row.conversion_type == "wallet_connect":
            self.wallet_connected = True
        elif row.conversion_type in PURCHASE_TYPES:
            self.purchases += 1
            if row.amount_usd is not None:
                self.revenue_usd += row.amount_usd


class SessionRow(NamedTuple):
    """A row of ``analytics.sessions``."""

    session_id: str
    ico_website_id: int
    started_at: datetime
    ended_at: datetime
    events: int
    page_views: int
    landing_page: str | None
    country: str | None
    device_type: str | None
    traffic_source: str | None
    user_id: str | None
    registered: bool
    wallet_connected: bool
    purchased: bool
    purchases: int
    revenue_usd: Decimal


def session_row(session_id: str, s: Session) -> TableRow:
    return SESSIONS_TABLE, SessionRow(
        session_id,
        s.ico_website_id,
        s.first[0],
        s.ended_at,
        s.events,
        s.page_views,
        s.landing_page,
        s.country,
        s.device_type,
        s.traffic_source,
        None if s.user is None else s.user[2],
        s.registered,
        s.wallet_connected,
        s.purchases > 0,
        s.purchases,
        s.revenue_usd,
    )


@dataclass(slots=True)
class ShardSessions:
    """One shard: its open sessions, those changed since the last flush, its clock."""

    clock: datetime = _NEVER
    sessions: dict[str, Session] = field(default_factory=dict)
    dirty: set[str] = field(default_factory=set)

    def copy(self) -> ShardSessions:
        # Sessions are mutated in place: a snapshot must not share them with the live state.
        sessions = {sid: replace(s) for sid, s in self.sessions.items()}
        return ShardSessions(self.clock, sessions, set(self.dirty))


class SessionLogic(StatefulBatchLogic[TableRow, TableRow, ShardSessions]):
    """The sessions of one shard."""

    def __init__(
        self, *, lateness: timedelta, flush: timedelta, resume: ShardSessions | None
    ) -> None:
        self._lateness = lateness
        self._flush = flush
        self._state = ShardSessions() if resume is None else resume
        self._flush_at: datetime | None = None
        # (last event time when scheduled, session id), earliest first: eviction looks only at
        # what may be due instead of scanning every session per batch. An entry whose session
        # has moved on since is put back with its new time when it comes up.
        self._due = [(s.ended_at, sid) for sid, s in self._state.sessions.items()]
        heapq.heapify(self._due)

    def on_batch(self, values: list[TableRow]) -> tuple[list[TableRow], bool]:
        state = self._state
        sessions, dirty = state.sessions, state.dirty
        clock = state.clock
        too_late = 0
        for _, row in values:
            assert isinstance(row, SessionEvent)
            ts = row.timestamp
            if ts > clock:
                clock = ts
            sid = row.session_id
            session = sessions.get(sid)
            if session is None:
                if ts <= clock - self._lateness:
                    too_late += 1
                    continue
                session = sessions[sid] = Session.of(row)
                heapq.heappush(self._due, (ts, sid))
            session.add(row)
            dirty.add(sid)
        state.clock = clock
        if too_late:
            _TOO_LATE.inc(too_late)
            log.warning("%d event(s) too late for their session, left out of it", too_late)
        if dirty and self._flush_at is None:
            self._flush_at = datetime.now(UTC) + self._flush
        return self._evict(clock - self._lateness), StatefulBatchLogic.RETAIN

    def _evict(self, horizon: datetime) -> list[TableRow]:
        """Drop sessions whose last event is past the horizon, writing those not yet written."""
        sessions, dirty, due = self._state.sessions, self._state.dirty, self._due
        rows = []
        while due and due[0][0] <= horizon:
            _, sid = heapq.heappop(due)
            session = sessions[sid]
            if session.ended_at > horizon:
                heapq.heappush(due, (session.ended_at, sid))
                continue
            del sessions[sid]
            if sid in dirty:
                dirty.discard(sid)
                rows.append(session_row(sid, session))
        return rows

    def _flush_dirty(self) -> list[TableRow]:
        state = self._state
        rows = [session_row(sid, state.sessions[sid]) for sid in sorted(state.dirty)]
        state.dirty.clear()
        self._flush_at = None
        return rows

    def on_notify(self) -> tuple[list[TableRow], bool]:
        return self._flush_dirty(), StatefulBatchLogic.RETAIN

    def on_eof(self) -> tuple[list[TableRow], bool]:
        return self._flush_dirty(), StatefulBatchLogic.RETAIN

    def notify_at(self) -> datetime | None:
        if self._state.dirty and self._flush_at is None:
            self._flush_at = datetime.now(UTC) + self._flush  # resumed with rows to write
        return self._flush_at

    def snapshot(self) -> ShardSessions:
        return self._state.copy()


def _shard(row: TableRow) -> str:
    return row[1].session_id[0]  # type: ignore[attr-defined, no-any-return]


@operator
def sessions(
    step_id: str, raw_rows: Stream[TableRow], *, lateness_seconds: int, flush_seconds: float
) -> Stream[TableRow]:
    """Rows of ``analytics.sessions`` from the raw rows of valid, de-duplicated events."""
    lateness = timedelta(seconds=lateness_seconds)
    flush = timedelta(seconds=flush_seconds)

    def build(resume: ShardSessions | None) -> SessionLogic:
        return SessionLogic(lateness=lateness, flush=flush, resume=resume)

    keyed = op.key_on("by_shard", raw_rows, _shard)  # (first hex digit, TableRow)
    rows = op.stateful_batch("shards", keyed, build)  # (shard, TableRow of sessions)
    return op.key_rm("unkey", rows)  # TableRow
