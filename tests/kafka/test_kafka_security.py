"""TLS, SCRAM logins and least privilege on a real broker: every client of the project connects
through the one ``KafkaConnection``, and each component can do exactly what its ACLs allow."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from dataclasses import replace

import pytest
from bytewax.connectors.kafka import KafkaSinkMessage
from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient

from dataflows.kafka_sink import KafkaTopicSink
from dataflows.records import RawRecord
from dataflows.sources import KafkaRawSource
from generator.model import EventGenerator
from generator.producer import DeliveryError, produce
from ico_analytics.services.kafka import KafkaServer, SecureListener
from ico_core.codec import Codec, LocalSchemas
from ico_core.errors import SinkError
from ico_core.events import DEAD_LETTER_TOPIC, EventType
from ico_core.topics import COMPONENT_ACCESS, ensure_topics
from tests.local_kafka import local_kafka

pytestmark = pytest.mark.kafka
USERS = {"generator": "gen-s3cret", "dataflow": "flow-s3cret"}


@pytest.fixture(scope="module")
def kafka() -> Iterator[KafkaServer]:
    with local_kafka("ico-kafka-secure-", SecureListener(USERS)) as server:
        ensure_topics(server.connection)
        for user in USERS:
            server.grant(user, COMPONENT_ACCESS[user])
        yield server


def test_components_work_over_tls_with_scram_within_their_acls(kafka: KafkaServer) -> None:
    generator = kafka.secure_connection("generator", USERS["generator"])
    dataflow = kafka.secure_connection("dataflow", USERS["dataflow"])
    assert generator.client_config()["security.protocol"] == "SASL_SSL"

    # The generator writes the event topics.
    events = [
        e
        for e in itertools.islice(EventGenerator(seed=3, data_quality_issues=False), 3000)
        if e.event_type is EventType.CONVERSION
    ]
    report = produce(events, Codec(LocalSchemas()), generator)
    assert report.delivered == len(events) > 0

    # The dataflow reads them (the source lists partitions and reads each one) ...
    source = KafkaRawSource(dataflow, tail=False)
    parts = [p for p in source.list_parts() if p.endswith(EventType.CONVERSION.topic)]
    read: list[RawRecord] = []
    for name in parts:
        part = source.build_part("input", name, None)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                read += [r for r in part.next_batch() if isinstance(r, RawRecord)]
            except StopIteration:
                break
        part.close()
    assert len(read) == len(events)
    # ... and writes dead letters.
    sink = KafkaTopicSink(dataflow, DEAD_LETTER_TOPIC).build("dead_letter_topic", 0, 1)
    sink.write_batch([KafkaSinkMessage(b"conversions:0:0", b"{}")])
    sink.close()


def test_each_component_is_refused_what_it_was_not_granted(kafka: KafkaServer) -> None:
    generator = kafka.secure_connection("generator", USERS["generator"])
    dataflow = kafka.secure_connection("dataflow", USERS["dataflow"])
    # The dataflow may not write the event topics.
    sink = KafkaTopicSink(dataflow, EventType.CLICKSTREAM.topic, delivery_timeout=10)
    with pytest.raises(
        SinkError,
        match="1 of 1 messages to clickstream-events failed and 0 were not acknowledged: "
        "Broker: Topic authorization failed",
    ):
        sink.build("x", 0, 1).write_batch([KafkaSinkMessage(b"k", b"v")])
    # The generator may not read them.
    # Assigned, no commits: like the dataflow's source, no consumer group is involved.
    consumer = Consumer(
        {**generator.client_config(), "group.id": "unused", "enable.auto.commit": False}
    )
    consumer.assign([TopicPartition(EventType.CLICKSTREAM.topic, 0, 0)])
    errors: set[int] = set()
    read = 0
    deadline = time.monotonic() + 30
    while KafkaError.TOPIC_AUTHORIZATION_FAILED not in errors and time.monotonic() < deadline:
        message = consumer.poll(1)
        if message is not None:
            error = message.error()
            if error is None:
                read += 1
            else:
                errors.add(error.code())
    consumer.close()
    assert KafkaError.TOPIC_AUTHORIZATION_FAILED in errors
    assert read == 0
    # Neither may administer topics.
    admin = AdminClient(dataflow.client_config())
    [future] = admin.delete_topics(["alerts"]).values()
    with pytest.raises(KafkaException, match="TOPIC_AUTHORIZATION_FAILED"):
        future.result(30)


def test_a_wrong_password_or_an_unknown_ca_gets_nothing(kafka: KafkaServer) -> None:
    right = kafka.secure_connection("generator", USERS["generator"])
    wrong_password = kafka.secure_connection("generator", "not-the-password")
    # The system's CAs do not know the broker's: the TLS handshake fails.
    unknown_ca = replace(right, ssl_ca_location="/etc/ssl/certs/ca-certificates.crt")
    for connection in (wrong_password, unknown_ca):
        with pytest.raises(DeliveryError, match="0 failed and 1 unacknowledged of 1 events"):
            produce(
                itertools.islice(EventGenerator(seed=4, data_quality_issues=False), 1),
                Codec(LocalSchemas()),
                connection,
                flush_timeout=5,
            )
