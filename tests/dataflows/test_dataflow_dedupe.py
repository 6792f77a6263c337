"""Dedupe: the first event of each id passes, later copies are dropped while it is remembered."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import bytewax.operators as op
from bytewax.dataflow import Dataflow
from bytewax.testing import TestingSink, TestingSource, run_main

from dataflows.dedupe import GENERATIONS, DedupeLogic, dedupe, shard_key, uuid_int
from dataflows.validate import Event
from ico_core.events import EventType

SESSION_A = "00000000-0000-4000-8000-00000000000a"
SESSION_B = "00000000-0000-4000-8000-00000000000b"  # same shard as A (first hex digit 0)
SESSION_F = "f0000000-0000-4000-8000-00000000000f"  # another shard


def ev(kind: EventType, n: int, session: str = SESSION_A) -> Event:
    record: dict[str, Any] = {
        kind.id_field: f"00000000-0000-4000-8000-{n:012x}",
        "session_id": session,
        "n": n,
    }
    return kind, record


def run(items: list[Any], ttl_seconds: float = 600) -> list[Event]:
    out: list[Event] = []
    flow = Dataflow("dedupe_test")
    events = op.input("input", flow, TestingSource(items))
    op.output("out", dedupe("dedupe", events, ttl_seconds), TestingSink(out))
    run_main(flow)
    return out


def test_exact_duplicates_are_dropped_and_distinct_ids_kept() -> None:
    a1, a2 = ev(EventType.CLICKSTREAM, 1), ev(EventType.CLICKSTREAM, 2)
    reg = ev(EventType.REGISTRATION, 3)
    conv = ev(EventType.CONVERSION, 4)
    b1 = ev(EventType.CLICKSTREAM, 5, SESSION_B)
    out = run([a1, a2, a1, reg, b1, reg, conv, a2, conv, b1, a1])
    assert out == [a1, a2, reg, b1, conv]


def test_events_are_sharded_by_their_own_id_so_copies_under_other_sessions_meet() -> None:
    a = ev(EventType.CLICKSTREAM, 1, SESSION_A)
    assert shard_key(a) == a[1]["event_id"][0]
    # The same event sent again under another session (another Kafka key and partition).
    elsewhere = (a[0], {**a[1], "session_id": SESSION_F})
    f = ev(EventType.CLICKSTREAM, 2, SESSION_F)
    assert run([a, f, elsewhere, f, ev(EventType.CLICKSTREAM, 3, SESSION_B), a]) == [
        a,
        f,
        ev(EventType.CLICKSTREAM, 3, SESSION_B),
    ]


def test_duplicate_arriving_after_the_ttl_passes() -> None:
    # Documented limit: ids are remembered for the TTL (plus one generation), not forever.
    a1 = ev(EventType.CLICKSTREAM, 1)
    pause = TestingSource.PAUSE(timedelta(milliseconds=400))
    assert run([a1, pause, a1], ttl_seconds=0.05) == [a1, a1]
    assert run([a1, pause, a1], ttl_seconds=600) == [a1]


def test_resumed_state_still_catches_duplicates_and_snapshot_is_compact() -> None:
    a1, a2 = ev(EventType.CLICKSTREAM, 1), ev(EventType.CLICKSTREAM, 2)
    logic = DedupeLogic(timedelta(seconds=600), None)
    assert logic.on_batch([a1, a2, a1]) == ([a1, a2], False)
    snap = logic.snapshot()
    assert snap == (frozenset({uuid_int(a1[1]["event_id"]), uuid_int(a2[1]["event_id"])}),)
    resumed = DedupeLogic(timedelta(seconds=600), snap)
    assert resumed.on_batch([a2, ev(EventType.CLICKSTREAM, 3)])[0] == [ev(EventType.CLICKSTREAM, 3)]
    # Each rotation starts a new generation; ids live on in the older ones until they age out.
    for _ in range(GENERATIONS):
        assert resumed.on_notify() == ([], False)
        assert resumed.on_batch([a1]) == ([], False)
    assert resumed.on_notify() == ([], True)  # everything aged out: the shard is discarded


def test_uuid_int_is_the_full_128_bits() -> None:
    expected = int("f" * 12 + "4" + "f" * 3 + "b" + "f" * 15, 16)
    assert uuid_int("ffffffff-ffff-4fff-bfff-ffffffffffff") == expected
