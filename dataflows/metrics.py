"""Prometheus counters of the dataflow.

They live in ``prometheus_client``'s default registry, which Bytewax's dataflow API server
(``BYTEWAX_DATAFLOW_API_ENABLED``, port 3030) appends to its own metrics on ``/metrics``: its
Rust handler calls ``bytewax._metrics.generate_python_metrics()``, i.e.
``generate_latest(REGISTRY)``. Steps count per batch, not per event, to keep the hot path cheap.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge
from prometheus_client.parser import text_string_to_metric_families

EVENTS_DECODED = Counter(
    "ico_dataflow_events_decoded", "Records decoded from the wire format (valid or not)."
)
DEAD_LETTERS = Counter(
    "ico_dataflow_dead_letters", "Records sent to dead letters, by stage.", ["stage"]
)
DUPLICATES = Counter(
    "ico_dataflow_duplicates_dropped", "Events dropped because their id was already seen."
)
LATE_DUPLICATES = Counter(
    "ico_dataflow_late_duplicates_dropped",
    "Events dropped because their id is already stored in a raw table from other Kafka "
    "coordinates (copies that came after the first one was committed).",
)
DUPLICATE_LOOKUP_RETRIES = Counter(
    "ico_dataflow_duplicate_lookup_retries",
    "Raw-table look-ups for late duplicates retried after a failure (the database refused or "
    "was unreachable); the batch waits meanwhile.",
)
SINK_RETRIES = Counter(
    "ico_dataflow_sink_retries",
    "PostgreSQL writes retried after a failure (the database refused or was unreachable).",
)
TOO_LATE = Counter(
    "ico_dataflow_events_too_late",
    "Valid events older than the window lateness: stored raw, left out of the aggregates of "
    "that window length.",
    ["window"],
)

OFFSET_RESETS = Counter(
    "ico_dataflow_offset_resets",
    "Partitions resumed away from their snapshot's offset (retention deleted unread records).",
    ["topic"],
)
RECORDS_SKIPPED = Counter(
    "ico_dataflow_records_skipped",
    "Records deleted by retention before the dataflow read them.",
    ["topic"],
)

_SINK_PENDING_SINCE_NAME = "ico_dataflow_sink_pending_since_seconds"
SINK_PENDING_SINCE = Gauge(
    _SINK_PENDING_SINCE_NAME,
    "Unix time since which a PostgreSQL sink worker holds rows it has not managed to commit (the "
    "start of its current batch, or its last commit within it); 0 while it holds none.",
    ["step", "worker"],
)

_DEAD_DECODE = DEAD_LETTERS.labels(stage="decode")
_DEAD_VALIDATE = DEAD_LETTERS.labels(stage="validate")


def record_decoded(decoded: int, dead_decode: int, dead_validate: int) -> None:
    if decoded:
        EVENTS_DECODED.inc(decoded)
    if dead_decode:
        _DEAD_DECODE.inc(dead_decode)
    if dead_validate:
        _DEAD_VALIDATE.inc(dead_validate)


def stalled_sinks(exposition: str, now: float, max_stall_seconds: float) -> list[str]:
    """The sink workers of a ``/metrics`` text that have held rows without committing any for
    more than ``max_stall_seconds``, as "step/worker (N s)"; empty when every one progresses."""
    stalled = []
    for family in text_string_to_metric_families(exposition):
        if family.name != _SINK_PENDING_SINCE_NAME:
            continue
        for sample in family.samples:
            stalled_for = now - sample.value
            if sample.value > 0 and stalled_for > max_stall_seconds:
                labels = sample.labels
                stalled.append(f"{labels['step']}/{labels['worker']} ({stalled_for:.0f} s)")
    return stalled
