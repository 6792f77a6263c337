"""Item shapes that cross step boundaries: what sources emit and what sinks take."""

from __future__ import annotations

import base64
import json
from typing import NamedTuple

from ico_core.pii import PayloadSealer

#: Where a dead letter was caught.
STAGE_DECODE = "decode"
STAGE_VALIDATE = "validate"
#: A row PostgreSQL refused (the sink keys it by table and row, not by Kafka coordinates).
STAGE_STORE = "store"
DEAD_LETTERS_TABLE = "raw_data.dead_letters"


class RawRecord(NamedTuple):
    """One message as it arrived: Kafka coordinates plus undecoded bytes.

    A named tuple, not a frozen dataclass: one is built per message, and a frozen dataclass's
    ``__init__`` (a ``object.__setattr__`` per field) cost 2 µs of the ~50 µs per event.

    The embedded source uses partition 0 and the generator's sequence number as offset, so
    dead letters have a deterministic key in both modes. ``timestamp_ms`` is when the record was
    produced (Kafka's message timestamp; the simulated clock for the embedded source): the
    validator judges event times against it, so a replay judges every record as the first run did.
    """

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int | None = None


class DeadLetter(NamedTuple):
    """A record that could not be decoded or validated: why, and where it came from.

    The one shape of a dead letter everywhere: its fields are the columns of
    ``raw_data.dead_letters`` (so it is the sink's row as it is), and ``to_json`` is the message
    on the ``dead-letter`` topic, keyed by the coordinates (``kafka_key``) so a replay repeats
    the same key. Build it with ``DeadLetter.of``; it is stored and sent ``sealed``.
    """

    source_topic: str
    source_partition: int
    source_offset: int
    stage: str  # STAGE_DECODE | STAGE_VALIDATE | STAGE_STORE
    reason: str
    event_type: str | None
    record_key: bytes | None
    payload: bytes | None

    @classmethod
    def of(cls, raw: RawRecord, stage: str, reason: str, event_type: str | None) -> DeadLetter:
        # PostgreSQL text cannot hold NUL, and a reason may quote the bad input.
        reason = reason.replace("\x00", "\\x00")
        return cls(
            raw.topic, raw.partition, raw.offset, stage, reason, event_type, raw.key, raw.value
        )

    def sealed(self, sealer: PayloadSealer) -> DeadLetter:
        """This dead letter with its payload sealed (``ico_core.pii``): as it is stored and sent."""
        if self.payload is None:
            return self
        return self._replace(payload=sealer.seal(self.kafka_key().decode(), self.payload))

    def kafka_key(self) -> bytes:
        return f"{self.source_topic}:{self.source_partition}:{self.source_offset}".encode()

    def to_json(self) -> bytes:
        """JSON with the key and payload bytes in base64."""
        body = {
            "source_topic": self.source_topic,
            "source_partition": self.source_partition,
            "source_offset": self.source_offset,
            "stage": self.stage,
            "reason": self.reason,
            "event_type": self.event_type,
            "record_key_b64": _b64(self.record_key),
            "payload_b64": _b64(self.payload),
        }
        return json.dumps(body, separators=(",", ":")).encode()


def _b64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode("ascii")


#: What the PostgreSQL sink takes: a schema-qualified table name and a row, a named tuple whose
#: fields are the columns it sets, named as in the table (columns it leaves out get their
#: defaults). Rows are full overwrites keyed by the table's primary key. Named tuples rather than
#: dicts: one row is built per event, and the sink hands the tuples to COPY as they are.
TableRow = tuple[str, NamedTuple]
