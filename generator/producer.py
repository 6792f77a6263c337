"""Send generated events to Kafka: Avro in Confluent framing, key = session_id.

The producer is idempotent (no duplicates from its own retries) with ``acks=all``; it retries
through broker outages for up to ``message.timeout.ms`` and reports every failed delivery.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from confluent_kafka import KafkaError, Message, Producer

from generator.metrics import GeneratorMetrics
from generator.model import GeneratedEvent, to_wire
from ico_core.codec import Codec
from ico_core.errors import IcoAnalyticsError
from ico_core.kafka import ClientConfig, KafkaConnection

log = logging.getLogger(__name__)


class DeliveryError(IcoAnalyticsError):
    """Some events were not acknowledged by Kafka."""


@dataclass
class DeliveryReport:
    """What the brokers acknowledged, counted in delivery callbacks."""

    sent: int = 0
    delivered: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)

    def __call__(self, err: KafkaError | None, _msg: Message) -> None:
        if err is None:
            self.delivered += 1
            return
        self.failed += 1
        if len(self.errors) < 10:  # keep the first few for the message, count the rest
            self.errors.append(str(err))
        log.error("delivery failed: %s", err)


def producer_config(kafka: KafkaConnection) -> ClientConfig:
    return {
        **kafka.client_config(),
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 20,
        "batch.num.messages": 10000,
        "compression.type": "lz4",
        # Ride out a broker restart: retry for up to five minutes before failing a message.
        "message.timeout.ms": 300_000,
        "queue.buffering.max.messages": 500_000,
    }


def produce(
    events: Iterable[GeneratedEvent],
    codec: Codec,
    kafka: KafkaConnection,
    *,
    flush_timeout: float = 600.0,
    metrics: GeneratorMetrics | None = None,
) -> DeliveryReport:
    """Produce every event and wait until all are acknowledged; raise if any failed."""
    producer = Producer(producer_config(kafka))
    report = DeliveryReport()
    for event in events:
        value = to_wire(event, codec)
        while True:
            try:
                producer.produce(
                    event.event_type.topic,
                    value=value,
                    key=event.key.encode(),
                    on_delivery=report,
                )
                break
            except BufferError:  # local queue full: let deliveries drain, then try again
                producer.poll(0.5)
        report.sent += 1
        if metrics is not None:
            metrics.observe(event, len(value))
        producer.poll(0)
    remaining = producer.flush(flush_timeout)
    if remaining or report.failed:
        raise DeliveryError(
            f"{report.failed} failed and {remaining} unacknowledged of {report.sent} events: "
            + "; ".join(report.errors)
        )
    return report
