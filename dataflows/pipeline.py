"""The ico-analytics dataflow: ``python -m bytewax.run dataflows.pipeline:flow``.

```
input ─▶ decode_validate ─┬─ events ─▶ drop_stored_copies ─▶ dedupe ─┬─▶ event_rows (raw, leads) ─┐
                          │                                          └─▶ window_aggregates ─┬─────┤
                          │                                              anomalies ◀────────┘     │
                          │                                               ├─▶ anomaly_rows ───────┤
                          │                                               └─▶ alerts topic        │
                          └─ dead letters ─┬─▶ dead_letter_rows ──────────────────────────────────┼─▶ merge ─▶ postgres
                                           └─▶ dead-letter topic (with Kafka)
```

``drop_stored_copies`` (late duplicates, looked up in the raw tables the sink writes) is there
only when the sink is a ``PostgresSink``; ``dataflows/dedupe.py`` explains both dedupe steps.

``flow`` is configured by the environment (``Settings``): the Kafka source when
``KAFKA_BOOTSTRAP_SERVERS`` is set, else the embedded generator; PostgreSQL at the configured URL,
and a ``ConfigError`` saying how to configure one, or the PII and CRM keys, when they are not.
It is built when it is first looked up (``python -m bytewax.run`` does that), so importing this
module builds, connects and changes nothing: ``build_flow`` is what the demo, tests and
benchmarks use.
"""

from __future__ import annotations

import gc
from typing import Any, TypeGuard, cast

import bytewax.operators as op
from bytewax.connectors.kafka import KafkaSinkMessage
from bytewax.dataflow import Dataflow, Stream
from bytewax.inputs import Source
from bytewax.outputs import Sink

from dataflows.anomalies import (
    ANOMALIES_TABLE,
    AlertMessage,
    alert_message,
    anomaly_row,
    detect_anomalies,
)
from dataflows.dedupe import StoredCopies, dedupe
from dataflows.enrich import RowBuilder
from dataflows.fresh_start import refuse_fresh_start
from dataflows.kafka_sink import KafkaTopicSink
from dataflows.leads import LeadBuilder
from dataflows.records import DEAD_LETTERS_TABLE, DeadLetter, RawRecord, TableRow
from dataflows.sinks import PostgresSink, PostgresWrites
from dataflows.sources import EmbeddedSource, KafkaRawSource
from dataflows.validate import DecodeValidate, Event
from dataflows.windows import WINDOW_AGGREGATES_TABLE, window_aggregates, window_table_row
from ico_core.codec import Codec, LocalSchemas, RegistrySchemas
from ico_core.events import ALERTS_TOPIC, DEAD_LETTER_TOPIC, EventType
from ico_core.pii import PayloadSealer
from ico_core.settings import Settings, get_settings

FLOW_ID = "ico_analytics"
#: Collector thresholds of a dataflow process. Every event allocates a few dozen short-lived
#: containers, so with the defaults (a young pass every 700 allocations, and full passes over
#: the dedupe and window state) the collector took ~15% of the time: 200k events from Kafka took
#: 10.8-11.2 s with them and 9.7-10.3 s with these. Cycles are still collected, only later.
GC_THRESHOLDS = (50_000, 20, 20)

DeadLetterMessage = KafkaSinkMessage[bytes | None, bytes | None]


def is_dead_letter(item: Event | DeadLetter) -> TypeGuard[DeadLetter]:
    return isinstance(item, DeadLetter)


def dead_letter_row(dead: DeadLetter) -> TableRow:
    return DEAD_LETTERS_TABLE, dead


def dead_letter_message(dead: DeadLetter) -> DeadLetterMessage:
    return KafkaSinkMessage(dead.kafka_key(), dead.to_json())


class EventRows:
    """The batch mapper of the ``event_rows`` step: each event's raw-table row and, for a
    registration, its lead. One pass over the events instead of a step each, which would call
    the lead builder for every event to find the one in ten that is a registration."""

    def __init__(self, raw: RowBuilder, leads: LeadBuilder) -> None:
        self._raw = raw
        self._leads = leads

    def __call__(self, events: list[Event]) -> list[TableRow]:
        rows: list[TableRow] = []
        for event in events:
            rows.append(self._raw(event))
            if event[0] is EventType.REGISTRATION and (lead := self._leads(event)) is not None:
                rows.append(lead)
        return rows


def _codec_for(source: Source[Any], settings: Settings) -> Codec:
    if isinstance(source, EmbeddedSource):
        return source.codec
    if settings.schema_registry_url:
        return Codec(RegistrySchemas(settings.schema_registry_url))
    return Codec(LocalSchemas())


def build_flow(
    source: Source[RawRecord] | Source[RawRecord | DeadLetter],
    sink: Sink[TableRow],
    *,
    settings: Settings,
    dead_letter_kafka_sink: Sink[DeadLetterMessage] | None = None,
    alerts_kafka_sink: Sink[AlertMessage] | None = None,
    reference_time_ms: int | None = None,
    codec: Codec | None = None,
) -> Dataflow:
    """The whole pipeline from ``source`` to ``sink``.

    The validator judges event times against each record's produce timestamp; for records
    without one, against ``reference_time_ms`` (tests) or the wall clock. ``codec`` defaults to
    the embedded source's, the schema registry's when configured, or the committed schemas.
    """
    flow = Dataflow(FLOW_ID)
    # Either source type fits: a RawRecord stream is a RawRecord | DeadLetter stream.
    raw = op.input("input", flow, cast(Source[RawRecord | DeadLetter], source))
    checked = op.flat_map_batch(
        "decode_validate",
        raw,
        DecodeValidate(
            codec or _codec_for(source, settings),
            websites_count=settings.ico_websites_count,
            clock=None if reference_time_ms is None else (lambda: reference_time_ms),
        ),
    )  # Event | DeadLetter
    split = op.branch("split_dead_letters", checked, is_dead_letter)
    dead = split.trues  # DeadLetter
    events = cast(Stream[Event], split.falses)  # Event = (EventType, record dict)
    if isinstance(sink, PostgresSink):
        # Before the in-memory dedupe, so that a replay's own copy is never shadowed there by
        # a late copy that this step drops (dataflows/dedupe.py).
        events = op.flat_map_batch(
            "drop_stored_copies", events, StoredCopies.of(sink)
        )  # Event, not already stored from other coordinates
    unique = dedupe("dedupe", events, settings.dedupe_ttl_seconds)  # Event, first of each id
    pii_key = settings.pii_key()
    event_rows = op.flat_map_batch(
        "event_rows", unique, EventRows(RowBuilder(pii_key), LeadBuilder(settings.crm_key()))
    )  # TableRow: each event's raw row, and a registration's lead
    windows = window_aggregates(
        "window_aggregates",
        unique,
        lateness_seconds=settings.window_lateness_seconds,
        flush_seconds=settings.aggregate_flush_seconds,
    )  # WindowAggregateRow, each changed window
    window_rows = op.map("window_rows", windows, window_table_row)  # TableRow of the windows
    verdicts = detect_anomalies(
        "anomalies",
        windows,
        lateness_seconds=settings.window_lateness_seconds,
        threshold=settings.anomaly_z_threshold,
        revenue_drop_ratio=settings.anomaly_revenue_drop_ratio,
    )  # Verdict on a complete 5-minute window
    anomaly_rows = op.map("anomaly_rows", verdicts, anomaly_row)  # TableRow of anomalies
    if alerts_kafka_sink is not None:
        alerts = op.filter_map("alert_messages", verdicts, alert_message)  # KafkaSinkMessage
        op.output("alerts_topic", alerts, alerts_kafka_sink)
    sealer = PayloadSealer(pii_key)
    sealed = op.map("seal_dead_letters", dead, lambda d: d.sealed(sealer))  # payload sealed
    dead_rows = op.map("dead_letter_rows", sealed, dead_letter_row)  # TableRow of dead_letters
    if dead_letter_kafka_sink is not None:
        messages = op.map("dead_letter_messages", sealed, dead_letter_message)  # KafkaSinkMessage
        op.output("dead_letter_topic", messages, dead_letter_kafka_sink)
    rows = op.merge("all_rows", event_rows, window_rows, anomaly_rows, dead_rows)  # TableRow
    if isinstance(sink, PostgresSink):
        keyed = op.key_on("by_writer", rows, writer_key)  # (key of the row's maker, TableRow)
        # Written on a thread per worker, each epoch committed before its snapshot (sinks.py).
        written = op.stateful_batch(
            "postgres", keyed, PostgresWrites(sink, f"{FLOW_ID}.postgres")
        )  # nothing: the rows are written
        # Bytewax refuses a flow without an output or inspect step; this one sees no item.
        op.inspect("end", written, _nothing)
    else:
        op.output("postgres", rows, sink)
    return flow


def _nothing(step_id: str, item: object) -> None:
    """Inspects nothing (the ``end`` step)."""


#: Tables whose rows are made by steps keyed by project (windows, anomalies).
_BY_PROJECT = frozenset({WINDOW_AGGREGATES_TABLE, ANOMALIES_TABLE})


def writer_key(item: TableRow) -> str:
    """The key of the stateful step that made the row, so that the ``postgres`` step (keyed
    the same way, so routed to the same worker) writes it where it was made, without sending
    rows between processes: a project for windows and anomalies, an event id's dedupe shard
    (``shard_key``: its first hex digit) for raw rows and leads. Dead letters come straight
    from the input and are few: one key."""
    table, row = item
    if table in _BY_PROJECT:
        return str(row[0])  # ico_website_id
    if table == DEAD_LETTERS_TABLE:
        return table
    return str(row[0][0])  # the event's id


def tune_gc() -> None:
    """Collector settings for a dataflow process (``GC_THRESHOLDS``)."""
    gc.freeze()  # what is loaded by now (modules, classes) lives forever: skip it in every pass
    gc.set_threshold(*GC_THRESHOLDS)


def flow_from_settings(settings: Settings) -> Dataflow:
    """The configured flow; fails with a ``ConfigError`` when no database, no PII key or no
    CRM email key is configured."""
    database_url = settings.require_postgres_url()
    sink = PostgresSink(database_url, sessions_refresh_seconds=settings.sessions_refresh_seconds)
    settings.production_pii_key()
    settings.production_crm_key()
    source: Source[RawRecord] | Source[RawRecord | DeadLetter]
    dead_letter_sink: KafkaTopicSink | None = None
    alerts_sink: KafkaTopicSink | None = None
    if settings.kafka_enabled:
        kafka = settings.kafka
        if settings.recovery_directory is not None and not settings.allow_fresh_start:
            recovery = settings.recovery_directory
            refuse_fresh_start(database_url, recovery, f"{FLOW_ID}.input", kafka)
        source = KafkaRawSource(kafka, tail=settings.kafka_source_tail)
        dead_letter_sink = KafkaTopicSink(kafka, DEAD_LETTER_TOPIC)
        alerts_sink = KafkaTopicSink(kafka, ALERTS_TOPIC)
    else:
        source = EmbeddedSource(settings)
    return build_flow(
        source,
        sink,
        settings=settings,
        dead_letter_kafka_sink=dead_letter_sink,
        alerts_kafka_sink=alerts_sink,
    )


def __getattr__(name: str) -> Dataflow:
    """``flow``: the configured flow, built on first lookup in a process tuned to run it."""
    if name != "flow":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    built = globals()["flow"] = flow_from_settings(get_settings())
    tune_gc()
    # SIGTERM is left alone on purpose: as PID 1 in its container the process ignores it and
    # is SIGKILLed after the grace period (the chart's dataflow.terminationGracePeriodSeconds,
    # 5 s), which recovery handles exactly. Turning SIGTERM into Bytewax's KeyboardInterrupt
    # stop was tried: after a pod loss the 5-minute windows then missed events the raw tables
    # had (make e2e, 2026-12-01).
    return built
