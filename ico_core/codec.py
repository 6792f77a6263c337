"""Avro event contracts and the Confluent wire format (magic byte 0, 4-byte schema id, payload).

``schemas/*.avsc`` (shipped as ``ico_core.schemas``) is the one source of truth. Each schema is
parsed once; the hot path only does a dict lookup and one ``schemaless_reader`` call per record.
"""

from __future__ import annotations

import io
import json
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import fastavro

from ico_core.errors import CodecError
from ico_core.events import EventType
from ico_core.resources import schema_file

MAGIC_BYTE = 0
_HEADER = struct.Struct(">bI")


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


class SchemaResolver(Protocol):
    """Maps schema ids on the wire to parsed writer schemas, and event types to ids."""

    def writer_schema(self, schema_id: int) -> tuple[EventType, Any]: ...

    def schema_id(self, event_type: EventType) -> int: ...


class LocalSchemas:
    """Fixed ids for the committed schemas; no network."""

    def __init__(self) -> None:
        self._by_id = {i: (t, PARSED_SCHEMAS[t]) for t, i in LOCAL_SCHEMA_IDS.items()}

    def writer_schema(self, schema_id: int) -> tuple[EventType, Any]:
        try:
            return self._by_id[schema_id]
        except KeyError:
            raise CodecError(f"unknown schema id {schema_id}") from None

    def schema_id(self, event_type: EventType) -> int:
        return LOCAL_SCHEMA_IDS[event_type]


class RegistrySchemas:
    """Ids from a registry speaking the Confluent REST API; each id is fetched and parsed once."""

    def __init__(self, url: str, *, register: bool = False) -> None:
        from confluent_kafka.schema_registry import Schema, SchemaRegistryClient

        self._client = SchemaRegistryClient({"url": url})
        self._by_id: dict[int, tuple[EventType, Any]] = {}
        self._ids: dict[EventType, int] = {}
        for t in EventType:
            if register:
                sid = self._client.register_schema(t.subject, Schema(schema_text(t), "AVRO"))
            else:
                latest = self._client.get_latest_version(t.subject).schema_id
                if latest is None:
                    raise CodecError(f"subject {t.subject} has no schema in the registry")
                sid = latest
            self._ids[t] = sid
            self._by_id[sid] = (t, PARSED_SCHEMAS[t])

    def writer_schema(self, schema_id: int) -> tuple[EventType, Any]:
        cached = self._by_id.get(schema_id)
        if cached is not None:
            return cached
        try:
            schema = self._client.get_schema(schema_id)
        except Exception as exc:  # the client raises its own error types for 404 and I/O
            raise CodecError(f"schema id {schema_id} not in registry: {exc}") from None
        if schema.schema_str is None:
            raise CodecError(f"schema id {schema_id} has no schema text")
        parsed = _parse(schema.schema_str)
        event_type = _NAME_TO_TYPE.get(parsed.get("name"))
        if event_type is None:
            raise CodecError(f"schema id {schema_id} is not an event schema: {parsed.get('name')}")
        self._by_id[schema_id] = (event_type, parsed)
        return self._by_id[schema_id]

    def schema_id(self, event_type: EventType) -> int:
        return self._ids[event_type]


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
        event_type, schema = self.schemas.writer_schema(schema_id)
        buf = io.BytesIO(data)
        buf.seek(_HEADER.size)
        try:
            record = fastavro.schemaless_reader(buf, schema, None)
        except Exception as exc:  # fastavro raises many types on corrupt payloads
            reason = f"{type(exc).__name__}: {exc}"
            raise CodecError(f"undecodable {event_type.value} payload: {reason}") from None
        if buf.tell() != len(data):
            extra = len(data) - buf.tell()
            raise CodecError(f"{extra} trailing bytes after {event_type.value} record")
        if not isinstance(record, dict):
            raise CodecError("payload is not a record")
        return event_type, record
