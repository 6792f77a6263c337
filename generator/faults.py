"""Data-quality faults the generator injects when ``data_quality_issues`` is on.

Kinds (``GeneratedEvent.fault``), chosen for a share ``fault_rate`` of the events:

- ``duplicate``: the clean event is emitted, and an exact copy of it (same id, every field the
  same, byte-identical on the wire) again 1..200 events later. Valid; dedupe drops it.
- ``out_of_order``: the clean event is held back and emitted once the simulated clock is
  1..55 s past its timestamp. Valid.
- ``late``: held back until the clock is 5 min .. 2 h 55 min past its timestamp (log-uniform,
  so most are minutes late). Valid; must land in raw tables and be counted, never dropped.
- ``missing_field``: one required field (``MISSING_FIELDS``) removed from the record. It cannot
  be Avro-encoded, so ``to_wire`` sends its JSON (a broken producer). Dead letter.
- ``malformed``: Avro-valid, but one field set to a value that breaks a business rule in
  ``ico_core.rules`` (``MALFORMED_RULES``). Dead letter.

A faulty event replaces its clean original (except ``duplicate``, which adds a copy), so a
session whose registration was corrupted has no valid registration downstream.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from random import Random
from typing import Any, Final

from ico_core.events import EventType

Record = dict[str, Any]

#: Values of ``GeneratedEvent.fault``. The first three stay valid events; the last two must
#: end up in dead letters.
FAULT_DUPLICATE: Final = "duplicate"
FAULT_LATE: Final = "late"
FAULT_OUT_OF_ORDER: Final = "out_of_order"
FAULT_MISSING_FIELD: Final = "missing_field"
FAULT_MALFORMED: Final = "malformed"
FAULT_KINDS: Final = (
    FAULT_DUPLICATE,
    FAULT_LATE,
    FAULT_OUT_OF_ORDER,
    FAULT_MISSING_FIELD,
    FAULT_MALFORMED,
)

#: Share of each kind among faulty events.
FAULT_WEIGHTS: Final = {
    FAULT_DUPLICATE: 0.30,
    FAULT_OUT_OF_ORDER: 0.25,
    FAULT_LATE: 0.15,
    FAULT_MISSING_FIELD: 0.15,
    FAULT_MALFORMED: 0.15,
}
DUPLICATE_DISTANCE: Final = (1, 200)  # events between the original and its copy
OUT_OF_ORDER_DELAY_MS: Final = (1_000, 55_000)
LATE_DELAY_MS: Final = (5 * 60_000, 175 * 60_000)

#: Required (non-null) fields a ``missing_field`` fault may remove, per event type.
MISSING_FIELDS: Final[dict[EventType, tuple[str, ...]]] = {
    EventType.CLICKSTREAM: (
        "event_id",
        "session_id",
        "timestamp",
        "event_type",
        "country",
        "ico_website_id",
    ),
    EventType.REGISTRATION: (
        "registration_id",
        "user_id",
        "session_id",
        "timestamp",
        "email",
        "country",
    ),
    EventType.CONVERSION: (
        "conversion_id",
        "user_id",
        "session_id",
        "timestamp",
        "conversion_type",
        "time_to_convert",
    ),
}

_ALL = frozenset(EventType)
_CLICK = frozenset({EventType.CLICKSTREAM})
_REG = frozenset({EventType.REGISTRATION})
_CONV = frozenset({EventType.CONVERSION})
_YEAR_2099_MS = 4_070_908_800_000  # 2099-01-01T00:00:00Z
_YEAR_MS = 365 * 24 * 3600 * 1000


@dataclass(frozen=True, slots=True)
class MalformedRule:
    """One way to break a business rule: set ``field`` to what ``bad_value`` returns."""

    name: str
    event_types: frozenset[EventType]
    field: str
    breaks: str  # the rule of ico_core.rules the bad value violates
    bad_value: Callable[[Random, Record], Any]


#: Every mutation a ``malformed`` fault applies (one per faulty event, uniform among the rules
#: that fit its event type). The bad values keep their Avro type, so they encode and only the
#: validator can catch them.
MALFORMED_RULES: Final[tuple[MalformedRule, ...]] = (
    MalformedRule(
        "website_id_zero",
        _ALL,
        "ico_website_id",
        "ico_website_id in 1..websites_count",
        lambda rng, r: 0,
    ),
    MalformedRule(
        "website_id_unknown",
        _ALL,
        "ico_website_id",
        "ico_website_id in 1..websites_count",
        lambda rng, r: 999,
    ),
    MalformedRule(
        "timestamp_2099",
        _ALL,
        "timestamp",
        "timestamp within [clock - 7 d, clock + 1 h]",
        lambda rng, r: _YEAR_2099_MS + rng.randrange(_YEAR_MS),
    ),
    MalformedRule(
        "timestamp_1970",
        _ALL,
        "timestamp",
        "timestamp within [clock - 7 d, clock + 1 h]",
        lambda rng, r: rng.randrange(_YEAR_MS),
    ),
    MalformedRule(
        "session_id_not_uuid",
        _ALL,
        "session_id",
        "ids are canonical lowercase uuids",
        lambda rng, r: f"sess-{rng.getrandbits(48):012x}",
    ),
    MalformedRule(
        "country_unknown",
        _CLICK | _REG,
        "country",
        "country an assigned ISO 3166-1 alpha-2 code",
        lambda rng, r: "??",
    ),
    MalformedRule(
        "event_type_unknown",
        _CLICK,
        "event_type",
        "event_type in CLICKSTREAM_EVENT_TYPES",
        lambda rng, r: "hover",
    ),
    MalformedRule(
        "page_type_unknown",
        _CLICK,
        "page_type",
        "page_type in PAGE_TYPES",
        lambda rng, r: "admin",
    ),
    MalformedRule(
        "device_type_unknown",
        _CLICK,
        "device_type",
        "device_type in DEVICE_TYPES",
        lambda rng, r: "smart_fridge",
    ),
    MalformedRule(
        "page_load_time_negative",
        _CLICK,
        "page_load_time",
        "page_load_time None or 0 < x <= 60",
        lambda rng, r: -round(rng.uniform(0.1, 5.0), 3),
    ),
    MalformedRule(
        "scroll_depth_over_100",
        _CLICK,
        "scroll_depth",
        "scroll_depth None or 0..100",
        lambda rng, r: rng.randint(101, 1000),
    ),
    MalformedRule(
        "wallet_address_not_hex",
        _REG,
        "wallet_address",
        "wallet_address ^0x[0-9a-f]{40}$",
        lambda rng, r: "0x" + "Z" * 40,
    ),
    MalformedRule(
        "email_without_at",
        _REG,
        "email",
        "email contains @",
        lambda rng, r: str(r["email"]).replace("@", "_at_"),
    ),
    MalformedRule(
        "verification_tier_unknown",
        _REG,
        "verification_tier",
        "verification_tier in VERIFICATION_TIERS",
        lambda rng, r: "platinum",
    ),
    MalformedRule(
        "amount_negative",
        _CONV,
        "amount_usd",
        "amount_usd None or 0 < x <= 1,000,000",
        lambda rng, r: -round(rng.uniform(100.0, 10_000.0), 2),
    ),
    MalformedRule(
        "amount_huge",
        _CONV,
        "amount_usd",
        "amount_usd None or 0 < x <= 1,000,000",
        lambda rng, r: round(rng.uniform(1.5e9, 9e9), 2),
    ),
    MalformedRule(
        "token_amount_negative",
        _CONV,
        "token_amount",
        "token_amount None or > 0",
        lambda rng, r: -round(rng.uniform(1.0, 1e6), 6),
    ),
    MalformedRule(
        "conversion_type_unknown",
        _CONV,
        "conversion_type",
        "conversion_type in CONVERSION_TYPES",
        lambda rng, r: "refund",
    ),
    MalformedRule(
        "payment_method_unknown",
        _CONV,
        "payment_method",
        "payment_method None or PAYMENT_METHODS",
        lambda rng, r: "DOGE",
    ),
    MalformedRule(
        "time_to_convert_negative",
        _CONV,
        "time_to_convert",
        "time_to_convert >= 0",
        lambda rng, r: -round(rng.uniform(1.0, 600.0), 3),
    ),
)


class FaultInjector:
    """Decides which events become faulty and how; draws from the generator's ``Random``."""

    def __init__(self, rng: Random, fault_rate: float) -> None:
        if not 0.0 <= fault_rate <= 1.0:
            raise ValueError(f"fault_rate must be within 0..1, got {fault_rate}")
        self._rng = rng
        self._rate = fault_rate
        self._kinds = list(FAULT_WEIGHTS)
        self._weights = list(FAULT_WEIGHTS.values())
        self._rules = {t: [r for r in MALFORMED_RULES if t in r.event_types] for t in EventType}
        self._late_log = (math.log(LATE_DELAY_MS[0]), math.log(LATE_DELAY_MS[1]))

    def choose(self) -> str | None:
        """The fault for the next event, or None (most of the time)."""
        if self._rng.random() >= self._rate:
            return None
        return self._rng.choices(self._kinds, self._weights)[0]

    def duplicate_distance(self) -> int:
        return self._rng.randint(*DUPLICATE_DISTANCE)

    def delay_ms(self, kind: str) -> int:
        """How far behind the clock a held-back event is when it is emitted."""
        if kind == FAULT_LATE:
            return int(math.exp(self._rng.uniform(*self._late_log)))
        return self._rng.randint(*OUT_OF_ORDER_DELAY_MS)

    def drop_field(self, event_type: EventType, record: Record) -> Record:
        field = self._rng.choice(MISSING_FIELDS[event_type])
        return {k: v for k, v in record.items() if k != field}

    def malform(self, event_type: EventType, record: Record) -> Record:
        rule = self._rng.choice(self._rules[event_type])
        return {**record, rule.field: rule.bad_value(self._rng, record)}
