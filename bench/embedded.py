"""The embedded path of ``ico-analytics demo``: generator -> the same dataflow, in-process.

Unpaced, one worker (``bytewax.testing.run_main``), into a sink that discards rows (the
dataflow's own cost) and into PostgreSQL (what ``demo`` does). ``demo`` needs 1,000 events/s.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

from bytewax.outputs import DynamicSink, StatelessSinkPartition
from bytewax.testing import run_main

from bench.stack import Stack, fresh_database
from dataflows.pipeline import build_flow
from dataflows.records import TableRow
from dataflows.sinks import PostgresSink
from dataflows.sources import EmbeddedSource
from ico_core.settings import Settings

SEED = 11


class _Discard(StatelessSinkPartition[TableRow]):
    def write_batch(self, items: list[TableRow]) -> None:
        pass


class DiscardSink(DynamicSink[TableRow]):
    def build(self, step_id: str, worker_index: int, worker_count: int) -> _Discard:
        return _Discard()


@dataclass(frozen=True)
class EmbeddedRun:
    sink: str
    events: int
    seconds: float

    @property
    def events_per_s(self) -> float:
        return self.events / self.seconds

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "events_per_s": self.events_per_s}


def _run(events: int, sink: DynamicSink[TableRow], label: str) -> EmbeddedRun:
    # events_per_minute=0: as fast as possible (the simulated clock still runs at 500/min).
    settings = Settings(generator_events=events, events_per_minute=0, generator_seed=SEED)
    flow = build_flow(EmbeddedSource(settings), sink, settings=settings)
    began = time.monotonic()
    run_main(flow)
    return EmbeddedRun(label, events, time.monotonic() - began)


def run_embedded(stack: Stack, events: int) -> list[EmbeddedRun]:
    runs = [_run(events, DiscardSink(), "discard")]
    with fresh_database(stack, "bench_embedded") as url:
        runs.append(_run(events, PostgresSink(url), "postgresql"))
    return runs
