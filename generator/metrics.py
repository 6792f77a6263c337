"""Prometheus metrics of what the generator produced.

Label cardinality is bounded: 3 event types x (websites + "invalid") x 6 fault values.
"""

from __future__ import annotations

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge

from generator.model import GeneratedEvent


class GeneratorMetrics:
    """Counters of produced events and bytes, and the configured rate.

    Registers on ``registry`` (the process-wide default unless given; tests pass their own).
    """

    def __init__(self, registry: CollectorRegistry = REGISTRY, websites_count: int = 20) -> None:
        self.events = Counter(
            "ico_generator_events",
            "Events produced, by event type, ICO website and injected fault",
            ["event_type", "ico_website_id", "fault"],
            registry=registry,
        )
        self.bytes = Counter(
            "ico_generator_bytes",
            "Bytes of encoded event values produced, by event type",
            ["event_type"],
            registry=registry,
        )
        self.rate = Gauge(
            "ico_generator_configured_events_per_minute",
            "Configured generation rate (0 = as fast as possible)",
            registry=registry,
        )
        self._valid_ids = set(range(1, websites_count + 1))
        # Label lookups are the slow part of prometheus_client; cache the children.
        self._event_children: dict[tuple[str, object, str], Counter] = {}

    def set_rate(self, events_per_minute: int) -> None:
        self.rate.set(events_per_minute)

    def observe(self, event: GeneratedEvent, size: int | None = None) -> None:
        """Count one produced event and, when known, its encoded size in bytes."""
        website = event.record.get("ico_website_id")
        fault = event.fault or "none"
        key = (event.event_type.value, website, fault)
        child = self._event_children.get(key)
        if child is None:
            # Malformed ids (0, 999, ...) share one label value instead of adding series.
            label = str(website) if website in self._valid_ids else "invalid"
            child = self.events.labels(event.event_type.value, label, fault)
            self._event_children[key] = child
        child.inc()
        if size is not None:
            self.bytes.labels(event.event_type.value).inc(size)
