"""The sink's writing thread: rows coalesced while a write runs, flush as the epoch's barrier,
failures raised in the worker; and, through a whole flow, no epoch recorded before its rows."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from bytewax.errors import BytewaxRuntimeError
from bytewax.recovery import RecoveryConfig, init_db_dir
from bytewax.testing import TestingSource, run_main

from dataflows.pipeline import build_flow
from dataflows.records import TableRow
from dataflows.sinks import BackgroundWriter, PostgresSink, PostgresSinkPartition
from ico_core.errors import SinkError
from tests.groundtruth import compare_database, expected_from
from tests.integration.test_late_duplicates import SETTINGS, clean_events, record_of


def rows(*names: str) -> list[TableRow]:
    return cast(list[TableRow], [("t", name) for name in names])


class Partition:
    """Stands in for a PostgresSinkPartition: records batches; the first write waits for
    ``release`` when ``hold`` is set; writes fail once ``fail`` is set."""

    def __init__(self, *, hold: bool = False) -> None:
        self.batches: list[list[TableRow]] = []
        self.writing = threading.Event()
        self.release = threading.Event()
        if not hold:
            self.release.set()
        self.fail = False
        self.closed = 0

    def write_batch(self, items: list[TableRow]) -> None:
        self.writing.set()
        assert self.release.wait(10)
        if self.fail:
            raise SinkError("the database refused")
        self.batches.append(items)

    def close(self) -> None:
        self.closed += 1


def writer_of(partition: Partition, **kwargs: Any) -> BackgroundWriter:
    return BackgroundWriter(cast(PostgresSinkPartition, partition), **kwargs)


def test_rows_handed_over_during_a_write_go_in_the_next_one_and_flush_waits_for_them() -> None:
    partition = Partition(hold=True)
    writer = writer_of(partition)
    writer.submit(rows("a"))
    assert partition.writing.wait(5)
    writer.submit(rows("b"))
    writer.submit(rows("c", "d"))
    flushed = threading.Thread(target=writer.flush)
    flushed.start()
    flushed.join(0.3)
    assert flushed.is_alive()  # "a" is still being written
    partition.release.set()
    flushed.join(5)
    assert not flushed.is_alive()
    assert partition.batches == [rows("a"), rows("b", "c", "d")]
    writer.close()
    writer.close()
    assert partition.closed == 1


def test_a_worker_waits_when_max_pending_rows_wait() -> None:
    partition = Partition(hold=True)
    writer = writer_of(partition, max_pending=2)
    writer.submit(rows("a"))
    assert partition.writing.wait(5)
    writer.submit(rows("b", "c"))  # 2 rows wait now
    blocked = threading.Thread(target=writer.submit, args=(rows("d"),))
    blocked.start()
    blocked.join(0.3)
    assert blocked.is_alive()
    partition.release.set()
    blocked.join(5)
    assert not blocked.is_alive()
    writer.close()
    assert [name for batch in partition.batches for _, name in batch] == ["a", "b", "c", "d"]


def test_a_failed_write_is_raised_by_the_next_call_and_nothing_after_it_is_written() -> None:
    partition = Partition()
    partition.fail = True
    writer = writer_of(partition)
    writer.submit(rows("a"))
    with pytest.raises(SinkError, match="refused"):
        writer.flush()
    partition.fail = False
    with pytest.raises(SinkError):
        writer.submit(rows("b"))
    with pytest.raises(SinkError):
        writer.close()
    assert partition.batches == []


class FailingSink(PostgresSink):
    """A database that takes 0.3 s to refuse every write."""

    def partition(self, step_id: str, worker_index: int) -> PostgresSinkPartition:
        partition = super().partition(step_id, worker_index)

        def refuse(items: list[TableRow]) -> None:
            threading.Event().wait(0.3)
            raise SinkError("the database refused")

        partition.write_batch = refuse  # type: ignore[method-assign]
        return partition


def test_an_epoch_is_not_recorded_before_its_rows_are_committed(
    migrated_database_url: str, tmp_path: Path
) -> None:
    # Every batch its own epoch. Were the epoch recorded while its write still ran, the failed
    # run would have recorded epochs whose rows never landed, and the resumed run would skip them.
    events = clean_events(400)
    items = [record_of(e, 0, i) for i, e in enumerate(events)]
    init_db_dir(tmp_path, 1)
    recovery = RecoveryConfig(str(tmp_path))
    for sink, fails in ((FailingSink(migrated_database_url), True), (None, False)):
        flow = build_flow(
            TestingSource(items, batch_size=20),
            sink or PostgresSink(migrated_database_url),
            settings=SETTINGS,
        )
        if fails:
            with pytest.raises(BytewaxRuntimeError):
                run_main(flow, epoch_interval=timedelta(0), recovery_config=recovery)
        else:
            run_main(flow, epoch_interval=timedelta(0), recovery_config=recovery)
    truth = expected_from(
        {"event_type": e.event_type.value, "fault": None, "record": e.record} for e in events
    )
    assert compare_database(migrated_database_url, truth) == []


def test_the_same_flow_runs_twice_in_one_thread(migrated_database_url: str) -> None:
    # The first run's end closes the worker's writer; the second run gets a new one.
    events = clean_events(100)
    flow = build_flow(
        TestingSource([record_of(e, 0, i) for i, e in enumerate(events)], batch_size=20),
        PostgresSink(migrated_database_url),
        settings=SETTINGS,
    )
    run_main(flow)
    run_main(flow)
    truth = expected_from(
        {"event_type": e.event_type.value, "fault": None, "record": e.record} for e in events
    )
    assert compare_database(migrated_database_url, truth) == []
