"""The codec reads other producers' versions of our schemas by Avro schema resolution."""

from __future__ import annotations

import io
import json
import struct
from typing import Any

import fastavro
import pytest

from generator.model import EventGenerator
from ico_core.codec import Codec, WireSchema, schema_text, wire_schema_of
from ico_core.errors import CodecError
from ico_core.events import EventType

CLICKS = EventType.CLICKSTREAM


class OneVersion:
    """A resolver that knows one schema id, as a registry would answer it."""

    def __init__(self, text: str) -> None:
        self.wire = wire_schema_of(42, text)

    def wire_schema(self, schema_id: int) -> WireSchema:
        assert schema_id == 42
        return self.wire

    def schema_id(self, event_type: EventType) -> int:
        return 42


def _version(edit: str) -> dict[str, Any]:
    schema = json.loads(schema_text(CLICKS))
    if edit == "add":
        schema["fields"].append({"name": "ab_variant", "type": ["null", "string"], "default": None})
    elif edit == "drop":
        schema["fields"] = [f for f in schema["fields"] if f["name"] != "referrer"]
    elif edit == "retype":
        for field in schema["fields"]:
            if field["name"] == "scroll_depth":
                field["type"] = ["null", "string"]
    elif edit == "rename":
        schema["name"] = "SomethingElse"
    return schema


def _written(schema: dict[str, Any], record: dict[str, Any]) -> bytes:
    buf = io.BytesIO()
    buf.write(struct.pack(">bI", 0, 42))
    fastavro.schemaless_writer(buf, fastavro.parse_schema(schema), record)
    return buf.getvalue()


CLICK = next(
    e.record
    for e in EventGenerator(seed=3, data_quality_issues=False)
    if e.event_type is CLICKS and e.record["scroll_depth"] is not None and e.record["referrer"]
)


def test_our_own_schema_is_read_without_resolution() -> None:
    wire = wire_schema_of(42, schema_text(CLICKS))
    assert (wire.event_type, wire.reader) == (CLICKS, None)


def test_an_added_field_is_dropped_and_a_removed_optional_field_gets_its_default() -> None:
    added = _version("add")
    data = _written(added, {**CLICK, "ab_variant": "B"})
    assert Codec(OneVersion(json.dumps(added))).decode(data) == (CLICKS, CLICK)
    dropped = _version("drop")
    data = _written(dropped, {k: v for k, v in CLICK.items() if k != "referrer"})
    assert Codec(OneVersion(json.dumps(dropped))).decode(data) == (
        CLICKS,
        {**CLICK, "referrer": None},
    )


def test_what_cannot_be_resolved_is_a_codec_error_not_a_crash() -> None:
    retyped = _version("retype")
    data = _written(retyped, {**CLICK, "scroll_depth": str(CLICK["scroll_depth"])})
    with pytest.raises(CodecError, match="SchemaResolutionError: schema mismatch"):
        Codec(OneVersion(json.dumps(retyped))).decode(data)
    with pytest.raises(
        CodecError,
        match=r"schema id 42 is not an event schema: io\.icoanalytics\.events\.SomethingElse",
    ):
        OneVersion(json.dumps(_version("rename")))
    with pytest.raises(CodecError, match="not a usable Avro schema"):
        wire_schema_of(42, '{"type": "record", "name": "ClickstreamEvent", "fields": [{}]}')
