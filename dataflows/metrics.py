"""Prometheus counters of the dataflow.

They live in ``prometheus_client``'s default registry, which Bytewax's dataflow API server
(``BYTEWAX_DATAFLOW_API_ENABLED``, port 3030) appends to its own metrics on ``/metrics``: its
Rust handler calls ``bytewax._metrics.generate_python_metrics()``, i.e.
``generate_latest(REGISTRY)``. Steps count per batch, not per event, to keep the hot path cheap.
"""

from __future__ import annotations

from prometheus_client import Counter

EVENTS_DECODED = Counter(
    "ico_dataflow_events_decoded", "Records decoded from the wire format (valid or not)."
)
DEAD_LETTERS = Counter(
    "ico_dataflow_dead_letters", "Records sent to dead letters, by stage.", ["stage"]
)
DUPLICATES = Counter(
    "ico_dataflow_duplicates_dropped", "Events dropped because their id was already seen."
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

_DEAD_DECODE = DEAD_LETTERS.labels(stage="decode")
_DEAD_VALIDATE = DEAD_LETTERS.labels(stage="validate")


def record_decoded(decoded: int, dead_decode: int, dead_validate: int) -> None:
    if decoded:
        EVENTS_DECODED.inc(decoded)
    if dead_decode:
        _DEAD_DECODE.inc(dead_decode)
    if dead_validate:
        _DEAD_VALIDATE.inc(dead_validate)
