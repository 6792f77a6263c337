"""The Kafka topics of the pipeline and an idempotent way to create them."""

from __future__ import annotations

from typing import NamedTuple

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from ico_core.errors import ServiceError
from ico_core.events import ALERTS_TOPIC, DEAD_LETTER_TOPIC, EventType
from ico_core.kafka import KafkaConnection

#: Every message is stamped with the broker's time when it is appended, whatever time the
#: producer claims: the validator judges event times against it, so a producer with a wrong
#: clock (or a far-future timestamp) cannot move the dataflow's notion of "now".
TOPIC_CONFIG: dict[str, str] = {"message.timestamp.type": "LogAppendTime"}

#: Partition counts: clickstream carries ~85% of traffic, so it gets the most.
TOPIC_PARTITIONS: dict[str, int] = {
    EventType.CLICKSTREAM.topic: 6,
    EventType.REGISTRATION.topic: 3,
    EventType.CONVERSION.topic: 3,
    DEAD_LETTER_TOPIC: 3,
    ALERTS_TOPIC: 3,
}


class Access(NamedTuple):
    """What one component may do on one topic (Kafka ACL operation names)."""

    topic: str
    operations: tuple[str, ...]


_EVENT_TOPICS = tuple(t.topic for t in EventType)
#: Least privilege per component, the contract of the KafkaUsers the chart grants: the generator
#: writes the event topics; the dataflow reads them (assigned partitions, no consumer group) and
#: writes dead letters and alerts; the alert forwarder reads the alerts (and commits in its own
#: consumer group, an ACL on the group rather than a topic).
COMPONENT_ACCESS: dict[str, tuple[Access, ...]] = {
    "generator": tuple(Access(t, ("Write", "Describe")) for t in _EVENT_TOPICS),
    "dataflow": (
        *(Access(t, ("Read", "Describe")) for t in _EVENT_TOPICS),
        Access(DEAD_LETTER_TOPIC, ("Write", "Describe")),
        Access(ALERTS_TOPIC, ("Write", "Describe")),
    ),
    "alert-forwarder": (Access(ALERTS_TOPIC, ("Read", "Describe")),),
}


def ensure_topics(
    kafka: KafkaConnection,
    topics: dict[str, int] | None = None,
    *,
    replication_factor: int = 1,
    timeout: float = 30.0,
) -> list[str]:
    """Create the topics that do not exist yet; returns the names created."""
    wanted = TOPIC_PARTITIONS if topics is None else topics
    admin = AdminClient(kafka.client_config())
    existing = set(admin.list_topics(timeout=timeout).topics)
    missing = [
        NewTopic(
            name,
            num_partitions=parts,
            replication_factor=replication_factor,
            config=TOPIC_CONFIG,
        )
        for name, parts in wanted.items()
        if name not in existing
    ]
    if not missing:
        return []
    created = []
    for name, future in admin.create_topics(missing, operation_timeout=timeout).items():
        try:
            future.result()
        except KafkaException as exc:
            if exc.args[0].name() != "TOPIC_ALREADY_EXISTS":  # a concurrent creator won
                raise ServiceError(f"cannot create topic {name}: {exc}") from exc
        else:
            created.append(name)
    return created
