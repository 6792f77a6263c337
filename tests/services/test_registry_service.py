"""The local schema registry (Apicurio, Confluent API): a real process in a temporary data dir."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient

from ico_analytics.services import SchemaRegistryServer
from ico_core.codec import REGISTRY_RETRIES, Codec, RegistryRetry, RegistrySchemas, schema_text
from ico_core.errors import CodecError, SchemaRegistryUnavailable
from ico_core.events import EventType
from ico_core.settings import get_settings

pytestmark = pytest.mark.integration

SUBJECT = EventType.CLICKSTREAM.subject  # clickstream-events-value


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SchemaRegistryServer]:
    server = SchemaRegistryServer(
        tmp_path_factory.mktemp("registry") / "registry", get_settings().cache_dir
    )
    server.start()
    yield server
    server.stop()


def _clickstream() -> dict[str, Any]:
    return {
        "event_id": "3f8c3b4e-0000-4000-8000-000000000001",
        "session_id": "3f8c3b4e-0000-4000-8000-000000000002",
        "user_id": None,
        "timestamp": 1_767_225_600_123,
        "event_type": "page_view",
        "page_type": "homepage",
        "page_url": "https://example-ico.io/",
        "referrer": None,
        "utm_source": "twitter",
        "utm_medium": None,
        "utm_campaign": None,
        "country": "DE",
        "device_type": "desktop",
        "browser": "Firefox",
        "page_load_time": 1.25,
        "scroll_depth": None,
        "ip_address": "203.0.113.7",
        "user_agent": "Mozilla/5.0",
        "ico_website_id": 7,
    }


def test_register_fetch_and_compatibility(registry: SchemaRegistryServer) -> None:
    client = SchemaRegistryClient({"url": registry.url})
    schema = Schema(schema_text(EventType.CLICKSTREAM), "AVRO")
    schema_id = client.register_schema(SUBJECT, schema)
    assert client.register_schema(SUBJECT, schema) == schema_id  # same schema, same id
    fetched = client.get_schema(schema_id)
    assert fetched.schema_type == "AVRO"
    assert '"ClickstreamEvent"' in fetched.schema_str
    assert client.get_latest_version(SUBJECT).schema_id == schema_id
    assert client.test_compatibility(SUBJECT, schema)


def test_codec_round_trip_through_registry(registry: SchemaRegistryServer) -> None:
    registered = RegistrySchemas(registry.url, register=True)
    ids = {t: registered.schema_id(t) for t in EventType}
    assert len(set(ids.values())) == 3

    event = _clickstream()
    data = Codec(registered).encode(EventType.CLICKSTREAM, event)
    # A consumer that registered nothing resolves the writer schema from the id on the wire.
    reader = RegistrySchemas(registry.url)
    assert {t: reader.schema_id(t) for t in EventType} == ids
    assert Codec(reader).decode(data) == (EventType.CLICKSTREAM, event)


def test_restart_keeps_schema_ids(registry: SchemaRegistryServer) -> None:
    before = RegistrySchemas(registry.url, register=True).register_all()
    registry.stop()
    assert not registry.is_running()
    again = SchemaRegistryServer(registry.data_dir, registry.cache_dir)
    assert again.url == registry.url
    again.start()
    again.start()  # idempotent on a running registry
    after = RegistrySchemas(again.url)
    assert {t: after.schema_id(t) for t in EventType} == before


def test_an_outage_is_retried_and_never_mistaken_for_an_unknown_schema(
    registry: SchemaRegistryServer,
) -> None:
    ids = RegistrySchemas(registry.url, register=True).register_all()
    quick = RegistryRetry(initial_wait=0.1, max_wait=0.5, deadline=3, negative_ttl=600)
    schemas = RegistrySchemas(registry.url, retry=quick)
    with pytest.raises(CodecError, match="schema id 987654 not in the registry"):
        schemas.wire_schema(987_654)
    retries_before = REGISTRY_RETRIES._value.get()
    registry.stop()
    try:
        # A definite "no such schema" is remembered: no request, the same dead-letter reason.
        with pytest.raises(CodecError, match="schema id 987654 not in the registry"):
            schemas.wire_schema(987_654)
        # No answer at all is retried until the deadline, then raised as an outage.
        with pytest.raises(SchemaRegistryUnavailable, match="schema registry unreachable"):
            schemas.wire_schema(ids[EventType.CONVERSION])
        assert REGISTRY_RETRIES._value.get() - retries_before >= 3
    finally:
        registry.start()
    assert schemas.wire_schema(ids[EventType.CONVERSION]).event_type is EventType.CONVERSION
