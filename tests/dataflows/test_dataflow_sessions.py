"""Sessions: one row per session id whatever the arrival order, resumable, and a straggler
from beyond the horizon never overwrites a complete session."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import bytewax.operators as op
from bytewax.dataflow import Dataflow
from bytewax.testing import TestingSink, TestingSource, run_main

from dataflows import metrics
from dataflows.enrich import ClickstreamRow, ConversionRow, RegistrationRow
from dataflows.records import TableRow
from dataflows.sessions import SessionLogic, SessionRow, sessions

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)
A = "a0000000-0000-4000-8000-000000000001"
B = "b0000000-0000-4000-8000-000000000002"
USER = "00000000-0000-4000-8000-00000000beef"


def click(n: int, session: str, minute: float, page: str = "homepage", **kw: Any) -> TableRow:
    row = ClickstreamRow(
        f"00000000-0000-4000-8000-{n:012x}", session, kw.get("user"), T0 + timedelta(minutes=minute),
        kw.get("event_type", "page_view"), page, "https://x.io/", None, None, None, None,
        kw.get("source", "organic"), kw.get("country", "DE"), "Europe", kw.get("device", "mobile"),
        "Firefox", 1.5, None, "pseudonym", "agent", kw.get("site", 3),
    )  # fmt: skip
    return "raw_data.clickstream_events", row


def registration(n: int, session: str, minute: float) -> TableRow:
    row = RegistrationRow(
        f"00000000-0000-4000-8000-{n:012x}", USER, session, T0 + timedelta(minutes=minute),
        "mail", None, {}, True, False, "basic", "DE", "Europe", 3,
    )  # fmt: skip
    return "raw_data.user_registrations", row


def conversion(n: int, session: str, minute: float, kind: str, usd: str | None) -> TableRow:
    row = ConversionRow(
        f"00000000-0000-4000-8000-{n:012x}", USER, session, T0 + timedelta(minutes=minute), kind,
        None if usd is None else Decimal(usd), None, None, 60.0, 3,
    )  # fmt: skip
    return "raw_data.conversions", row


EVENTS = [
    click(1, A, 0, "presale", country="US", device="desktop", source="paid"),
    click(2, A, 1, "tokenomics", event_type="scroll"),
    click(3, A, 2, "register"),
    registration(4, A, 3),
    conversion(5, A, 4, "wallet_connect", None),
    click(6, A, 5, "presale", user=USER),
    conversion(7, A, 6, "token_purchase", "1200.50"),
    conversion(8, A, 7, "presale_participate", "99.50"),
    click(9, B, 1, "whitepaper", country="JP", site=9),
    click(10, B, 2, "team", site=9),
]
SESSION_A = SessionRow(
    A, 3, T0, T0 + timedelta(minutes=7), 8, 3, "presale", "US", "desktop", "paid", USER,
    True, True, True, 2, Decimal("1300.00"),
)  # fmt: skip
SESSION_B = SessionRow(
    B, 9, T0 + timedelta(minutes=1), T0 + timedelta(minutes=2), 2, 2, "whitepaper", "JP",
    "mobile", "organic", None, False, False, False, 0, Decimal(0),
)  # fmt: skip


def run(items: list[Any], lateness_minutes: float = 180) -> dict[str, SessionRow]:
    out: list[TableRow] = []
    flow = Dataflow("sessions_test")
    up = op.input("input", flow, TestingSource(items))
    rows = sessions("sessions", up, lateness_seconds=int(lateness_minutes * 60), flush_seconds=0.01)
    op.output("out", rows, TestingSink(out))
    run_main(flow)
    final: dict[str, SessionRow] = {}
    for _, row in out:
        assert isinstance(row, SessionRow)
        final[row.session_id] = row  # the last write wins, as in the table
    return final


def test_a_session_row_sums_its_events_whatever_the_order() -> None:
    assert run(EVENTS) == {A: SESSION_A, B: SESSION_B}
    for seed in range(5):
        shuffled = EVENTS.copy()
        random.Random(seed).shuffle(shuffled)
        assert run(shuffled) == {A: SESSION_A, B: SESSION_B}, seed


def test_resumed_state_continues_the_session() -> None:
    lateness, flush = timedelta(hours=3), timedelta(seconds=1)
    logic = SessionLogic(lateness=lateness, flush=flush, resume=None)
    logic.on_batch(EVENTS[:4])
    resumed = SessionLogic(lateness=lateness, flush=flush, resume=logic.snapshot())
    logic.on_batch(EVENTS[4:])  # the original goes on: the snapshot must not share its sessions
    resumed.on_batch(EVENTS[4:])
    rows = {row.session_id: row for _, row in resumed.on_eof()[0]}  # type: ignore[attr-defined]
    assert rows == {A: SESSION_A, B: SESSION_B}


def test_a_straggler_from_beyond_the_horizon_is_left_out() -> None:
    too_late = metrics.TOO_LATE.labels(window="session")
    before = too_late._value.get()
    later = click(20, B, 200)  # session B's shard clock moves 3 h 20 min on
    straggler = click(21, B[:1] + "1" + B[2:], 2)  # a new session, same shard, long past
    final = run([*EVENTS, later, straggler], lateness_minutes=60)
    assert B[:1] + "1" + B[2:] not in final
    assert final[B].events == 3 and final[B].ended_at == T0 + timedelta(minutes=200)
    assert too_late._value.get() == before + 1
    assert final[A] == SESSION_A  # another shard, untouched
