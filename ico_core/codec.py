"""Avro event contracts and the Confluent wire format (magic byte 0, 4-byte schema id, payload).

``schemas/*.avsc`` (shipped as ``ico_core.schemas``) is the one source of truth. Each schema is
parsed once; the hot path only does a dict lookup and one ``schemaless_reader`` call per record.
"""

from __future__ import annotations

import io
import json
import logging
import struct
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import fastavro
from prometheus_client import Counter
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_delay,
    wait_exponential_jitter,
)

from ico_core.errors import CodecError, SchemaRegistryUnavailable
from ico_core.events import EventType
from ico_core.resources import schema_file

logger = logging.getLogger(__name__)

MAGIC_BYTE = 0
_HEADER = struct.Struct(">bI")
_T = TypeVar("_T")

REGISTRY_RETRIES = Counter(
    "ico_schema_registry_retries", "Requests to the schema registry retried after a failure"
)


def schema_text(event_type: EventType) -> str:
    """The schema exactly as committed, for registering with a schema registry."""
    return schema_file(event_type.schema_file).read_text(encoding="utf-8")


def _strip_logical_types(node: Any) -> Any:
    """Drop logicalType annotations: timestamps stay epoch milliseconds on the hot path."""
    if isinstance(node, dict):
        return {k: _strip_logical_types(v) for k, v in node.items() if k != "logicalType"}
    if isinstance(node, list):
        return [_strip_logical_types(v) for v in node]
    return node


def _parse(text: str) -> Any:
    return fastavro.parse_schema(_strip_logical_types(json.loads(text)))


#: Parsed schemas, one per event type, parsed once at import.
PARSED_SCHEMAS: dict[EventType, Any] = {t: _parse(schema_text(t)) for t in EventType}
_NAME_TO_TYPE = {PARSED_SCHEMAS[t]["name"]: t for t in EventType}

#: Schema ids used when no registry is configured (embedded source, unit tests).
LOCAL_SCHEMA_IDS: dict[EventType, int] = {
    EventType.CLICKSTREAM: 1,
    EventType.REGISTRATION: 2,
    EventType.CONVERSION: 3,
}


@dataclass(frozen=True, slots=True)
class WireSchema:
    """How the records of one schema id are read: with the writer's schema, resolved to ours.

    ``reader`` is None when the writer's schema is ours (the fast path: nothing to resolve);
    otherwise Avro schema resolution turns the writer's record into ours, so fields another
    producer added are dropped and optional fields it removed get their defaults.
    """

    event_type: EventType
    writer: Any
    reader: Any | None


class SchemaResolver(Protocol):
    """Maps schema ids on the wire to how they are read, and event types to ids."""

    def wire_schema(self, schema_id: int) -> WireSchema: ...

    def schema_id(self, event_type: EventType) -> int: ...


class LocalSchemas:
    """Fixed ids for the committed schemas; no network."""

    def __init__(self) -> None:
        self._by_id = {
            i: WireSchema(t, PARSED_SCHEMAS[t], None) for t, i in LOCAL_SCHEMA_IDS.items()
        }

    def wire_schema(self, schema_id: int) -> WireSchema:
        try:
            return self._by_id[schema_id]
        except KeyError:
            raise CodecError(f"unknown schema id {schema_id}") from None

    def schema_id(self, event_type: EventType) -> int:
        return LOCAL_SCHEMA_IDS[event_type]


def wire_schema_of(schema_id: int, text: str) -> WireSchema:
    """How to read records written with the schema ``text`` (registered as ``schema_id``)."""
    try:
        writer = _parse(text)
    except Exception as exc:  # fastavro raises many types on schemas it cannot take
        raise CodecError(f"schema id {schema_id} is not a usable Avro schema: {exc}") from None
    name = writer.get("name") if isinstance(writer, dict) else None
    event_type = _NAME_TO_TYPE.get(name)
    if event_type is None:
        raise CodecError(f"schema id {schema_id} is not an event schema: {name}")
    ours = PARSED_SCHEMAS[event_type]
    return WireSchema(event_type, writer, None if writer == ours else ours)


@dataclass(frozen=True)
class RegistryRetry:
    """Backoff for a registry that does not answer (connection refused, time-out, 5xx, 429).

    A registry outage is not bad data: the records wait (the worker stalls) instead of
    becoming dead letters. Past ``deadline`` the error is raised, the dataflow stops, and a
    restart resumes from its last snapshot: nothing is lost either way.
    """

    initial_wait: float = 0.5
    max_wait: float = 10.0
    deadline: float = 300.0
    #: How long a definite "no such schema" is remembered, so random ids cannot flood the
    #: registry with requests (and a schema registered meanwhile is found soon after).
    negative_ttl: float = 60.0


class RegistrySchemas:
    """Ids from a registry speaking the Confluent REST API; each id is fetched and parsed once.

    Construction makes no request. ``register=True`` (producers) registers the committed schema
    the first time its id is needed; otherwise its id is looked up by the exact text, never
    taken from the subject's latest version (another producer may have registered a newer one).
    """

    def __init__(
        self, url: str, *, register: bool = False, retry: RegistryRetry | None = None
    ) -> None:
        from confluent_kafka.schema_registry import SchemaRegistryClient

        # Our retry policy is the only one, so its timings hold.
        self._client = SchemaRegistryClient({"url": url, "max.retries": 0})
        self._register = register
        self._retry = retry or RegistryRetry()
        self._by_id: dict[int, WireSchema] = {}
        self._ids: dict[EventType, int] = {}
        self._missing: dict[int, float] = {}  # schema id -> monotonic time it was not found

    def register_all(self) -> dict[EventType, int]:
        """Register every committed schema (idempotent); their ids."""
        return {t: self.schema_id(t) for t in EventType}

    def wire_schema(self, schema_id: int) -> WireSchema:
        cached = self._by_id.get(schema_id)
        if cached is not None:
            return cached
        missing_since = self._missing.get(schema_id)
        if (
            missing_since is not None
            and time.monotonic() - missing_since < self._retry.negative_ttl
        ):
            raise CodecError(f"schema id {schema_id} not in the registry")
        schema = self._call(f"schema id {schema_id}", self._client.get_schema, schema_id)
        if schema is None:
            self._missing[schema_id] = time.monotonic()
            raise CodecError(f"schema id {schema_id} not in the registry")
        if schema.schema_str is None:
            raise CodecError(f"schema id {schema_id} has no schema text")
        self._by_id[schema_id] = wire_schema_of(schema_id, schema.schema_str)
        return self._by_id[schema_id]

    def schema_id(self, event_type: EventType) -> int:
        sid = self._ids.get(event_type)
        if sid is not None:
            return sid
        from confluent_kafka.schema_registry import Schema

        ours = Schema(schema_text(event_type), "AVRO")
        if self._register:
            sid = self._call(
                event_type.subject, self._client.register_schema, event_type.subject, ours
            )
        else:
            found = self._call(
                event_type.subject, self._client.lookup_schema, event_type.subject, ours
            )
            sid = None if found is None else found.schema_id
        if sid is None:
            raise CodecError(f"the committed {event_type.value} schema is not registered")
        self._ids[event_type] = sid
        self._by_id[sid] = WireSchema(event_type, PARSED_SCHEMAS[event_type], None)
        return sid

    def _call(self, what: str, request: Callable[..., _T], *args: Any) -> _T | None:
        """``request(*args)`` through the retry policy; None for a definite "not found"."""
        from confluent_kafka.schema_registry.error import SchemaRegistryError

        retrying = Retrying(
            retry=retry_if_exception(_registry_unavailable),
            stop=stop_after_delay(self._retry.deadline),
            wait=wait_exponential_jitter(
                multiplier=self._retry.initial_wait, max=self._retry.max_wait
            ),
            before_sleep=_log_registry_retry,
            reraise=True,
        )
        try:
            return retrying(request, *args)
        except SchemaRegistryError as exc:
            if exc.http_status_code == 404:
                return None
            if not _registry_unavailable(exc):
                raise CodecError(f"the schema registry refused {what}: {exc}") from None
            raise SchemaRegistryUnavailable(
                f"schema registry down while fetching {what}: {exc}"
            ) from exc
        except Exception as exc:  # the client's transport errors: refused, time-out, ...
            raise SchemaRegistryUnavailable(
                f"schema registry unreachable while fetching {what}: {exc}"
            ) from exc


def _registry_unavailable(exc: BaseException) -> bool:
    """A failure of the registry, not an answer about the schema: worth retrying. The client
    raises ``SchemaRegistryError`` for answers and its transport's errors for no answer."""
    from confluent_kafka.schema_registry.error import SchemaRegistryError

    if isinstance(exc, SchemaRegistryError):
        return exc.http_status_code >= 500 or exc.http_status_code in (408, 429)
    return isinstance(exc, Exception)


def _log_registry_retry(state: RetryCallState) -> None:
    exc = state.outcome.exception() if state.outcome else None
    wait = state.next_action.sleep if state.next_action else 0.0
    REGISTRY_RETRIES.inc()
    logger.warning(
        "schema registry unavailable (attempt %d), retrying in %.1fs: %s: %s",
        state.attempt_number,
        wait,
        type(exc).__name__,
        exc,
    )


@dataclass(frozen=True, slots=True)
class Codec:
    """Encodes and decodes events in Confluent framing with the given schema ids."""

    schemas: SchemaResolver

    def encode(self, event_type: EventType, record: Mapping[str, Any]) -> bytes:
        buf = io.BytesIO()
        buf.write(_HEADER.pack(MAGIC_BYTE, self.schemas.schema_id(event_type)))
        try:
            fastavro.schemaless_writer(buf, PARSED_SCHEMAS[event_type], record, strict=True)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise CodecError(f"cannot encode {event_type.value}: {exc}") from None
        return buf.getvalue()

    def decode(self, data: bytes | None) -> tuple[EventType, dict[str, Any]]:
        """Decode one framed record; raises CodecError with a readable reason."""
        if not data:
            raise CodecError("empty record")
        if len(data) < _HEADER.size:
            raise CodecError(f"record of {len(data)} bytes is shorter than the Confluent header")
        magic, schema_id = _HEADER.unpack_from(data)
        if magic != MAGIC_BYTE:
            raise CodecError(f"magic byte {magic} is not Confluent framing")
        wire = self.schemas.wire_schema(schema_id)
        event_type = wire.event_type
        buf = io.BytesIO(data)
        buf.seek(_HEADER.size)
        try:
            record = fastavro.schemaless_reader(buf, wire.writer, wire.reader)
        except Exception as exc:  # fastavro raises many types on corrupt or unresolvable data
            reason = f"{type(exc).__name__}: {exc}"
            raise CodecError(f"undecodable {event_type.value} payload: {reason}") from None
        if buf.tell() != len(data):
            extra = len(data) - buf.tell()
            raise CodecError(f"{extra} trailing bytes after {event_type.value} record")
        if not isinstance(record, dict):
            raise CodecError("payload is not a record")
        return event_type, record
