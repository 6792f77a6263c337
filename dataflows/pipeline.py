"""The ico-analytics dataflow: ``python -m bytewax.run dataflows.pipeline:flow``.

```
input ─▶ decode_validate ─┬─ events ─▶ dedupe ─┬─▶ raw_rows ────────────────────────────┐
                          │                    └─▶ window_aggregates ─┬─────────────────┤
                          │                        anomalies ◀────────┘                 │
                          │                         ├─▶ anomaly_rows ───────────────────┤
                          │                         └─▶ alerts topic (with Kafka)       │
                          └─ dead letters ─┬─▶ dead_letter_rows ────────────────────────┼─▶ merge ─▶ sink
                                           └─▶ dead-letter topic (with Kafka)
```

``flow`` is configured by the environment (``Settings``): the Kafka source when
``KAFKA_BOOTSTRAP_SERVERS`` is set, else the embedded generator; PostgreSQL at the configured URL,
else an embedded server started when the sink is built. Importing this module connects nowhere.
"""

from __future__ import annotations

import base64
import gc
import json
import threading
from typing import Any, NamedTuple, TypeGuard, cast

import bytewax.operators as op
from bytewax.connectors.kafka import KafkaSink, KafkaSinkMessage
from bytewax.dataflow import Dataflow, Stream
from bytewax.inputs import Source
from bytewax.outputs import DynamicSink, Sink, StatelessSinkPartition

from dataflows.anomalies import AlertMessage, alert_message, anomaly_row, detect_anomalies
from dataflows.dedupe import dedupe
from dataflows.enrich import RowBuilder
from dataflows.records import DeadLetter, RawRecord, TableRow
from dataflows.sources import EmbeddedSource, KafkaRawSource
from dataflows.validate import DecodeValidate, Event
from dataflows.windows import window_aggregates
from ico_analytics.codec import (
    ALERTS_TOPIC,
    DEAD_LETTER_TOPIC,
    Codec,
    EventType,
    LocalSchemas,
    RegistrySchemas,
)
from ico_analytics.settings import Settings, get_settings

DEAD_LETTERS_TABLE = "raw_data.dead_letters"
FLOW_ID = "ico_analytics"
#: Collector thresholds of a dataflow process. Every event allocates a few dozen short-lived
#: containers, so with the defaults (a young pass every 700 allocations, and full passes over
#: the dedupe and window state) the collector took ~15% of the time: 200k events from Kafka took
#: 10.8-11.2 s with them and 9.7-10.3 s with these. Cycles are still collected, only later.
GC_THRESHOLDS = (50_000, 20, 20)

DeadLetterMessage = KafkaSinkMessage[bytes | None, bytes | None]


def is_dead_letter(item: Event | DeadLetter) -> TypeGuard[DeadLetter]:
    return isinstance(item, DeadLetter)


class DeadLetterRow(NamedTuple):
    """A row of ``raw_data.dead_letters``."""

    source_topic: str
    source_partition: int
    source_offset: int
    stage: str
    reason: str
    event_type: str | None
    record_key: bytes | None
    payload: bytes | None


def dead_letter_row(dead: DeadLetter) -> TableRow:
    return DEAD_LETTERS_TABLE, DeadLetterRow(
        dead.source_topic,
        dead.source_partition,
        dead.source_offset,
        dead.stage,
        # PostgreSQL text cannot hold NUL; a reason may quote the bad input.
        dead.reason.replace("\x00", "\\x00"),
        dead.event_type,
        dead.record_key,
        dead.payload,
    )


def _b64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode("ascii")


def dead_letter_message(dead: DeadLetter) -> DeadLetterMessage:
    """JSON with base64 bytes, keyed by the coordinates so a replay is a compactable repeat."""
    body = {
        "source_topic": dead.source_topic,
        "source_partition": dead.source_partition,
        "source_offset": dead.source_offset,
        "stage": dead.stage,
        "reason": dead.reason,
        "event_type": dead.event_type,
        "record_key_b64": _b64(dead.record_key),
        "payload_b64": _b64(dead.payload),
    }
    key = f"{dead.source_topic}:{dead.source_partition}:{dead.source_offset}"
    return KafkaSinkMessage(key.encode(), json.dumps(body, separators=(",", ":")).encode())


class LazyRegistrySchemas:
    """``RegistrySchemas`` created on first use, so building the flow makes no request."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._schemas: RegistrySchemas | None = None
        self._lock = threading.Lock()

    def _get(self) -> RegistrySchemas:
        schemas = self._schemas
        if schemas is not None:  # the hot path: no lock once created
            return schemas
        with self._lock:
            if self._schemas is None:
                self._schemas = RegistrySchemas(self._url)
            return self._schemas

    def writer_schema(self, schema_id: int) -> tuple[EventType, Any]:
        return self._get().writer_schema(schema_id)

    def schema_id(self, event_type: EventType) -> int:
        return self._get().schema_id(event_type)


def _codec_for(source: Source[Any], settings: Settings) -> Codec:
    if isinstance(source, EmbeddedSource):
        return source.codec
    if settings.schema_registry_url:
        return Codec(LazyRegistrySchemas(settings.schema_registry_url))
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
    unique = dedupe("dedupe", events, settings.dedupe_ttl_seconds)  # Event, first of each id
    pii_key = settings.pii_hmac_key.get_secret_value().encode()
    raw_rows = op.map("raw_rows", unique, RowBuilder(pii_key))  # TableRow of a raw table
    window_rows = window_aggregates(
        "window_aggregates",
        unique,
        lateness_seconds=settings.window_lateness_seconds,
        flush_seconds=settings.aggregate_flush_seconds,
    )  # TableRow of analytics.window_aggregates
    verdicts = detect_anomalies(
        "anomalies", window_rows, lateness_seconds=settings.window_lateness_seconds
    )  # Verdict on a complete 5-minute window
    anomaly_rows = op.map("anomaly_rows", verdicts, anomaly_row)  # TableRow of anomalies
    if alerts_kafka_sink is not None:
        alerts = op.filter_map("alert_messages", verdicts, alert_message)  # KafkaSinkMessage
        op.output("alerts_topic", alerts, alerts_kafka_sink)
    dead_rows = op.map("dead_letter_rows", dead, dead_letter_row)  # TableRow of dead_letters
    if dead_letter_kafka_sink is not None:
        messages = op.map("dead_letter_messages", dead, dead_letter_message)  # KafkaSinkMessage
        op.output("dead_letter_topic", messages, dead_letter_kafka_sink)
    rows = op.merge("all_rows", raw_rows, window_rows, anomaly_rows, dead_rows)  # TableRow
    op.output("postgres", rows, sink)
    return flow


class _DeferredSink(DynamicSink[TableRow]):
    """Resolves the database when a worker builds its partition, not when the flow is built:
    the configured URL, or the embedded server (started and migrated once per process)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._url: str | None = None
        self._lock = threading.Lock()

    def _resolve(self) -> str:
        with self._lock:
            if self._url is None:
                url = self._settings.postgres_url()
                if url is None:
                    from ico_analytics.db import migrate
                    from ico_analytics.services.postgres import LocalPostgres

                    server = LocalPostgres(self._settings.data_dir / "postgres")
                    server.start()
                    migrate(server.url)
                    url = server.url
                self._url = url
            return self._url

    def build(
        self, step_id: str, worker_index: int, worker_count: int
    ) -> StatelessSinkPartition[TableRow]:
        from dataflows.sinks import PostgresSink

        return PostgresSink(self._resolve()).build(step_id, worker_index, worker_count)


def tune_gc() -> None:
    """Collector settings for a dataflow process (``GC_THRESHOLDS``)."""
    gc.freeze()  # what is loaded by now (modules, classes) lives forever: skip it in every pass
    gc.set_threshold(*GC_THRESHOLDS)


def flow_from_settings(settings: Settings) -> Dataflow:
    """The configured flow; the process it is built in is tuned to run it (``tune_gc``)."""
    tune_gc()
    source: Source[RawRecord] | Source[RawRecord | DeadLetter]
    dead_letter_sink: KafkaSink | None = None
    alerts_sink: KafkaSink | None = None
    if settings.kafka_enabled:
        source = KafkaRawSource(settings.kafka_bootstrap_servers, tail=settings.kafka_source_tail)
        brokers = settings.kafka_bootstrap_servers.split(",")
        producer = {"enable.idempotence": "true", "acks": "all", "linger.ms": "20"}
        dead_letter_sink = KafkaSink(brokers, DEAD_LETTER_TOPIC, add_config=producer)
        alerts_sink = KafkaSink(brokers, ALERTS_TOPIC, add_config=producer)
    else:
        source = EmbeddedSource(settings)
    return build_flow(
        source,
        _DeferredSink(settings),
        settings=settings,
        dead_letter_kafka_sink=dead_letter_sink,
        alerts_kafka_sink=alerts_sink,
    )


flow = flow_from_settings(get_settings())
