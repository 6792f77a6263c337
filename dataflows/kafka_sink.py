"""Messages to a Kafka topic at least once: the dead letters and the anomaly alerts.

Bytewax's own ``KafkaSink`` neither asks for delivery reports nor checks what ``flush()`` leaves
behind, so a message the brokers refused or never acknowledged was dropped without a word. Here
a batch returns only once the brokers acknowledged every message of it; otherwise it raises, the
dataflow stops before its next snapshot, and a restart replays the batch and sends it again.
Replays repeat messages under the same key: at least once, never silently lost.
"""

from __future__ import annotations

from bytewax.connectors.kafka import KafkaSinkMessage
from bytewax.outputs import DynamicSink, StatelessSinkPartition
from confluent_kafka import KafkaError, Message, Producer

from ico_core.errors import SinkError
from ico_core.kafka import KafkaConnection

TopicMessage = KafkaSinkMessage[bytes | None, bytes | None]


class KafkaTopicSink(DynamicSink[TopicMessage]):
    """Every worker's messages to ``topic``, each batch acknowledged before it returns."""

    def __init__(
        self, kafka: KafkaConnection, topic: str, *, delivery_timeout: float = 60.0
    ) -> None:
        self._kafka = kafka
        self._topic = topic
        self._timeout = delivery_timeout

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _TopicPartition:
        producer = Producer(
            {
                **self._kafka.client_config(),
                "client.id": f"ico-analytics-{step_id}-{worker_index}",
                "enable.idempotence": True,
                "acks": "all",
                "linger.ms": 20,
                # A message not acknowledged by then fails with a delivery report.
                "message.timeout.ms": int(self._timeout * 1000),
            }
        )
        return _TopicPartition(producer, self._topic, self._timeout)


class _TopicPartition(StatelessSinkPartition[TopicMessage]):
    def __init__(self, producer: Producer, topic: str, timeout: float) -> None:
        self._producer = producer
        self._topic = topic
        self._timeout = timeout

    def write_batch(self, items: list[TopicMessage]) -> None:
        failures: list[str] = []

        def report(err: KafkaError | None, _msg: Message) -> None:
            if err is not None:
                failures.append(err.str())

        producer = self._producer
        for message in items:
            while True:
                try:
                    producer.produce(
                        self._topic, value=message.value, key=message.key, on_delivery=report
                    )
                    break
                except BufferError:  # the local queue is full: let deliveries drain
                    producer.poll(0.5)
        # Delivery reports of messages still queued arrive within message.timeout.ms.
        unacknowledged = producer.flush(self._timeout + 10)
        if failures or unacknowledged:
            raise SinkError(
                f"{len(failures)} of {len(items)} messages to {self._topic} failed and "
                f"{unacknowledged} were not acknowledged: {'; '.join(sorted(set(failures)))}"
            )

    def close(self) -> None:
        self._producer.flush(self._timeout)
