"""Piped into ``python -`` inside a dataflow pod by the e2e tests: every record of the event
topics, from the first retained offset to the end, one JSON line each:
``[topic, partition, offset, event id]``, the id null when the record does not decode.

It runs in the pod because the brokers and the registry are reachable only from inside the
cluster; it reads them with the pod's own settings and the project's codec.
"""

from __future__ import annotations

import json

from confluent_kafka import Consumer, TopicPartition

from ico_core.codec import Codec, RegistrySchemas
from ico_core.errors import CodecError
from ico_core.events import EventType
from ico_core.settings import get_settings

settings = get_settings()
codec = Codec(RegistrySchemas(settings.schema_registry_url))
consumer = Consumer(
    {**settings.kafka.client_config(), "group.id": "e2e-topic-records", "enable.auto.commit": False}
)
for event_type in EventType:
    topic = event_type.topic
    for partition in consumer.list_topics(topic, timeout=10).topics[topic].partitions:
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
        consumer.assign([TopicPartition(topic, partition, low)])
        position = low
        while position < high:
            messages = consumer.consume(1000, timeout=10)
            if not messages:
                raise SystemExit(f"{topic}[{partition}]: nothing after offset {position} < {high}")
            for message in messages:
                if message.error():
                    raise SystemExit(f"{topic}[{partition}]: {message.error()}")
                try:
                    decoded_type, record = codec.decode(message.value())
                    ident: str | None = str(record[decoded_type.id_field]).lower()
                except (CodecError, KeyError):
                    ident = None
                print(json.dumps([topic, partition, message.offset(), ident]))
                position = message.offset() + 1
consumer.close()
