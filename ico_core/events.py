"""The three event kinds and the Kafka topics they travel on."""

from __future__ import annotations

from enum import StrEnum
from typing import Final


class EventType(StrEnum):
    """The three event kinds; the value is also the ``kind`` field of decoded events."""

    CLICKSTREAM = "clickstream"
    REGISTRATION = "registration"
    CONVERSION = "conversion"

    @property
    def topic(self) -> str:
        return _TOPICS[self]

    @property
    def subject(self) -> str:
        """Schema registry subject (TopicNameStrategy)."""
        return f"{self.topic}-value"

    @property
    def id_field(self) -> str:
        return _ID_FIELDS[self]

    @property
    def schema_file(self) -> str:
        return _FILES[self]


_TOPICS = {
    EventType.CLICKSTREAM: "clickstream-events",
    EventType.REGISTRATION: "user-registrations",
    EventType.CONVERSION: "conversions",
}
_ID_FIELDS = {
    EventType.CLICKSTREAM: "event_id",
    EventType.REGISTRATION: "registration_id",
    EventType.CONVERSION: "conversion_id",
}
_FILES = {
    EventType.CLICKSTREAM: "clickstream.avsc",
    EventType.REGISTRATION: "user_registration.avsc",
    EventType.CONVERSION: "conversion.avsc",
}
#: Records that could not be decoded or validated (JSON, key ``topic:partition:offset``).
DEAD_LETTER_TOPIC: Final = "dead-letter"
#: Anomaly alerts (JSON, key ``project:metric:window_start``).
ALERTS_TOPIC: Final = "alerts"
