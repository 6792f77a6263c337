"""Decode and validate: raw Kafka-shaped records in, valid events or dead letters out.

The rules are those of ``ico_core.rules``, applied exactly as its docstring states them.

This is the hot path, so every rule is a set lookup, a chained comparison or a precompiled
regex, and the checks for one event type live in one function without intermediate objects.

The timestamp rule needs a "now". A wall clock would make a replay days later dead-letter
events the first run accepted, so each record is judged against its own produce timestamp
(Kafka's message timestamp; the simulated clock for the embedded source): every decision is a
pure function of the record. Records without one fall back to an injected clock (tests).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from dataflows import metrics
from dataflows.records import STAGE_DECODE, STAGE_VALIDATE, DeadLetter, RawRecord
from ico_core.codec import Codec
from ico_core.errors import CodecError
from ico_core.events import EventType
from ico_core.pii import PII_FIELDS, REDACTED
from ico_core.rules import (
    CLICKSTREAM_EVENT_TYPES,
    CONVERSION_TYPES,
    DEVICE_TYPES,
    ISO_COUNTRIES,
    MAX_AMOUNT_USD,
    MAX_EMAIL_LEN,
    MAX_EVENT_AGE_MS,
    MAX_EVENT_LEAD_MS,
    MAX_PAGE_LOAD_TIME_S,
    MAX_SCROLL_DEPTH,
    MAX_SHORT_LEN,
    MAX_SOCIAL_HANDLES,
    MAX_TOKEN_AMOUNT,
    MAX_URL_LEN,
    PAGE_TYPES,
    PAYMENT_METHODS,
    UUID_PATTERN,
    VERIFICATION_TIERS,
    WALLET_ADDRESS_PATTERN,
)

#: A decoded, valid event: its type and the Avro record (timestamps as epoch ms), plus the Kafka
#: coordinates it arrived at as ``SOURCE_PARTITION`` and ``SOURCE_OFFSET`` (no Avro field has
#: these names). They travel in the record rather than in a wider tuple because every step
#: unpacks events as pairs; the late-duplicate check and the raw rows read them (``dedupe``).
Event = tuple[EventType, dict[str, Any]]
SOURCE_PARTITION = "source_partition"
SOURCE_OFFSET = "source_offset"

_INF = float("inf")

_UUID = re.compile(UUID_PATTERN).fullmatch
_WALLET = re.compile(WALLET_ADDRESS_PATTERN).fullmatch
_CLICK_TYPES = frozenset(CLICKSTREAM_EVENT_TYPES)
_PAGE_TYPES = frozenset(PAGE_TYPES)
_DEVICES = frozenset(DEVICE_TYPES)
_CONVERSION_TYPES = frozenset(CONVERSION_TYPES)
_PAYMENT_METHODS = frozenset(PAYMENT_METHODS)
_TIERS = frozenset(VERIFICATION_TIERS)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:57]}..."


def _bad(kind: str, field: str, value: Any, rule: str) -> str:
    # Dead letters are kept for weeks and read by operators: never quote personal data.
    shown = REDACTED if field.partition("[")[0] in PII_FIELDS else _show(value)
    return f"{kind}.{field}={shown}: {rule}"


def _common(
    kind: str, r: Mapping[str, Any], id_field: str, lo_ms: int, hi_ms: int, sites: int
) -> str | None:
    """Rules shared by all three kinds: ids, time, project."""
    for field in (id_field, "session_id"):
        if not _UUID(r[field]):
            return _bad(kind, field, r[field], "not a canonical lowercase uuid")
    user_id = r["user_id"]
    if user_id is not None and not _UUID(user_id):
        return _bad(kind, "user_id", user_id, "not a canonical lowercase uuid")
    if not lo_ms <= r["timestamp"] <= hi_ms:
        return _bad(kind, "timestamp", r["timestamp"], f"outside [{lo_ms}, {hi_ms}] epoch ms")
    if not 1 <= r["ico_website_id"] <= sites:
        return _bad(kind, "ico_website_id", r["ico_website_id"], f"not in 1..{sites}")
    return None


def _country(kind: str, country: str) -> str | None:
    if country not in ISO_COUNTRIES:
        return _bad(kind, "country", country, "not an assigned ISO 3166-1 alpha-2 code")
    return None


def _too_long(kind: str, r: Mapping[str, Any], fields: Iterable[str], limit: int) -> str | None:
    """Stored text must fit its limit and hold no NUL, which PostgreSQL text cannot store."""
    for field in fields:
        value = r[field]
        if value is None:
            continue
        if len(value) > limit:
            return _bad(kind, field, f"<{len(value)} chars>", f"longer than {limit}")
        if "\x00" in value:
            return _bad(kind, field, value, "contains a NUL character")
    return None


def check_clickstream(r: Mapping[str, Any], lo_ms: int, hi_ms: int, sites: int) -> str | None:
    """None when the clickstream record keeps every rule, else the first broken one."""
    k = "clickstream"
    reason = _common(k, r, "event_id", lo_ms, hi_ms, sites)
    if reason is not None:
        return reason
    if r["event_type"] not in _CLICK_TYPES:
        return _bad(k, "event_type", r["event_type"], f"not one of {CLICKSTREAM_EVENT_TYPES}")
    if r["page_type"] not in _PAGE_TYPES:
        return _bad(k, "page_type", r["page_type"], f"not one of {PAGE_TYPES}")
    if r["device_type"] not in _DEVICES:
        return _bad(k, "device_type", r["device_type"], f"not one of {DEVICE_TYPES}")
    reason = _country(k, r["country"])
    if reason is not None:
        return reason
    load = r["page_load_time"]
    if load is not None and not 0.0 < load <= MAX_PAGE_LOAD_TIME_S:  # NaN fails too
        return _bad(k, "page_load_time", load, f"not in (0, {MAX_PAGE_LOAD_TIME_S}] seconds")
    depth = r["scroll_depth"]
    if depth is not None and not 0 <= depth <= MAX_SCROLL_DEPTH:
        return _bad(k, "scroll_depth", depth, f"not in 0..{MAX_SCROLL_DEPTH}")
    if not r["page_url"]:
        return _bad(k, "page_url", r["page_url"], "empty")
    return _too_long(k, r, ("page_url", "referrer", "user_agent"), MAX_URL_LEN) or _too_long(
        k, r, ("utm_source", "utm_medium", "utm_campaign", "browser", "ip_address"), MAX_SHORT_LEN
    )


def check_registration(r: Mapping[str, Any], lo_ms: int, hi_ms: int, sites: int) -> str | None:
    """None when the registration record keeps every rule, else the first broken one."""
    k = "registration"
    reason = _common(k, r, "registration_id", lo_ms, hi_ms, sites)
    if reason is not None:
        return reason
    email = r["email"]
    if "@" not in email:
        return _bad(k, "email", email, "has no '@'")
    if len(email) > MAX_EMAIL_LEN:
        return _bad(k, "email", f"<{len(email)} chars>", f"longer than {MAX_EMAIL_LEN}")
    wallet = r["wallet_address"]
    if wallet is not None and not _WALLET(wallet):
        return _bad(k, "wallet_address", wallet, "not 0x + 40 lowercase hex digits")
    if r["verification_tier"] not in _TIERS:
        tier = r["verification_tier"]
        return _bad(k, "verification_tier", tier, f"not one of {VERIFICATION_TIERS}")
    reason = _country(k, r["country"])
    if reason is not None:
        return reason
    handles = r["social_handles"]
    if len(handles) > MAX_SOCIAL_HANDLES:
        size = f"<{len(handles)} entries>"
        return _bad(k, "social_handles", size, f"more than {MAX_SOCIAL_HANDLES}")
    for name, handle in handles.items():
        if len(name) > MAX_SHORT_LEN or len(handle) > MAX_SHORT_LEN:
            return _bad(k, f"social_handles[{_show(name)}]", handle, f"longer than {MAX_SHORT_LEN}")
        if "\x00" in name or "\x00" in handle:
            return _bad(k, f"social_handles[{_show(name)}]", handle, "contains a NUL character")
    return None


def check_conversion(r: Mapping[str, Any], lo_ms: int, hi_ms: int, sites: int) -> str | None:
    """None when the conversion record keeps every rule, else the first broken one."""
    k = "conversion"
    reason = _common(k, r, "conversion_id", lo_ms, hi_ms, sites)
    if reason is not None:
        return reason
    if r["conversion_type"] not in _CONVERSION_TYPES:
        return _bad(k, "conversion_type", r["conversion_type"], f"not one of {CONVERSION_TYPES}")
    method = r["payment_method"]
    if method is not None and method not in _PAYMENT_METHODS:
        return _bad(k, "payment_method", method, f"not one of {PAYMENT_METHODS}")
    amount = r["amount_usd"]
    if amount is not None and not 0.0 < amount <= MAX_AMOUNT_USD:
        return _bad(k, "amount_usd", amount, f"not in (0, {MAX_AMOUNT_USD:.0f}]")
    tokens = r["token_amount"]
    if tokens is not None and not 0.0 < tokens < MAX_TOKEN_AMOUNT:
        return _bad(k, "token_amount", tokens, f"not in (0, {MAX_TOKEN_AMOUNT:.0e})")
    if not 0.0 <= r["time_to_convert"] < _INF:
        return _bad(k, "time_to_convert", r["time_to_convert"], "not a finite number >= 0")
    return None


_CHECKS: dict[EventType, Callable[[Mapping[str, Any], int, int, int], str | None]] = {
    EventType.CLICKSTREAM: check_clickstream,
    EventType.REGISTRATION: check_registration,
    EventType.CONVERSION: check_conversion,
}


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


class DecodeValidate:
    """The batch mapper of the ``decode_validate`` step.

    Dead letters that a source already produced (Kafka consume errors) pass through.
    """

    def __init__(
        self, codec: Codec, *, websites_count: int, clock: Callable[[], int] | None = None
    ) -> None:
        self._decode = codec.decode
        self._sites = websites_count
        self._clock = clock or wall_clock_ms

    def __call__(self, batch: list[RawRecord | DeadLetter]) -> list[Event | DeadLetter]:
        batch_now_ms = self._clock()
        sites = self._sites
        out: list[Event | DeadLetter] = []
        append = out.append
        bad_decode = bad_valid = 0
        for raw in batch:
            if isinstance(raw, DeadLetter):
                append(raw)
                bad_decode += 1
                continue
            try:
                event_type, record = self._decode(raw.value)
            except CodecError as exc:
                append(DeadLetter.of(raw, STAGE_DECODE, str(exc), None))
                bad_decode += 1
                continue
            now_ms = batch_now_ms if raw.timestamp_ms is None else raw.timestamp_ms
            try:
                reason = _CHECKS[event_type](
                    record, now_ms - MAX_EVENT_AGE_MS, now_ms + MAX_EVENT_LEAD_MS, sites
                )
            except Exception as exc:  # a record no rule foresaw is bad data, never a crash loop
                reason = f"{event_type.value}: {type(exc).__name__}: {exc}"
            if reason is None:
                record[SOURCE_PARTITION] = raw.partition
                record[SOURCE_OFFSET] = raw.offset
                append((event_type, record))
            else:
                append(DeadLetter.of(raw, STAGE_VALIDATE, reason, event_type.value))
                bad_valid += 1
        metrics.record_decoded(len(batch) - bad_decode, bad_decode, bad_valid)
        return out
