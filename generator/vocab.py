"""Enumerations and valid ranges of event fields: the business rules every clean event keeps.

The dataflow's validator enforces exactly these (import them from ``generator.model``, which
re-exports this module). Every event the generator emits with ``fault`` None, ``"duplicate"``,
``"late"`` or ``"out_of_order"`` satisfies all of them; every ``"malformed"`` one breaks at least
one (see ``generator.faults.MALFORMED_RULES``).

Rules, per field (all event types unless named):
- ``ico_website_id``: int in 1..websites_count (``ICO_WEBSITES_COUNT``, at most 20).
- ``event_id`` / ``registration_id`` / ``conversion_id``, ``session_id``, ``user_id`` (when not
  null): canonical lowercase uuid strings (``UUID_PATTERN``).
- ``timestamp``: epoch ms within [clock - MAX_EVENT_AGE_MS, clock + MAX_EVENT_LEAD_MS], where
  clock is the stream's event-time clock (the generator's simulated clock; in the dataflow the
  highest event time seen so far is a good stand-in).
- clickstream: ``event_type`` in CLICKSTREAM_EVENT_TYPES, ``page_type`` in PAGE_TYPES,
  ``device_type`` in DEVICE_TYPES, ``country`` in COUNTRIES, ``page_load_time`` None or
  0 < x <= MAX_PAGE_LOAD_TIME_S, ``scroll_depth`` None or 0 <= x <= 100.
- registration: ``country`` in COUNTRIES, ``verification_tier`` in VERIFICATION_TIERS,
  ``email`` contains ``@``, ``wallet_address`` None or matching WALLET_ADDRESS_PATTERN.
- conversion: ``conversion_type`` in CONVERSION_TYPES, ``payment_method`` None or in
  PAYMENT_METHODS, ``amount_usd`` None or 0 < x <= MAX_AMOUNT_USD, ``token_amount`` None or
  x > 0, ``time_to_convert`` >= 0.
"""

from __future__ import annotations

from typing import Final

CLICKSTREAM_EVENT_TYPES: Final = ("page_view", "click", "scroll", "form_interaction")
PAGE_TYPES: Final = (
    "homepage",
    "whitepaper",
    "tokenomics",
    "team",
    "roadmap",
    "presale",
    "register",
    "faq",
    "blog",
    "contact",
)
DEVICE_TYPES: Final = ("desktop", "mobile", "tablet")
CONVERSION_TYPES: Final = ("wallet_connect", "presale_participate", "token_purchase")
#: Conversion types that carry amount_usd, token_amount and payment_method.
PURCHASE_TYPES: Final = ("presale_participate", "token_purchase")
PAYMENT_METHODS: Final = ("ETH", "BTC", "USDT", "USDC")
VERIFICATION_TIERS: Final = ("basic", "advanced", "premium")

#: Visitor countries (ISO 3166-1 alpha-2) -> (base traffic weight, UTC offset in hours).
#: Crypto-friendly markets first. The offsets are standard time (no DST): they only shape the
#: business-hours rhythm, so an hour off half the year does not matter.
COUNTRY_PROFILES: Final[dict[str, tuple[float, float]]] = {
    "US": (0.250, -5),
    "DE": (0.100, 1),
    "JP": (0.090, 9),
    "KR": (0.085, 9),
    "SG": (0.085, 8),
    "GB": (0.030, 0),
    "CA": (0.028, -5),
    "CH": (0.027, 1),
    "AE": (0.026, 4),
    "AU": (0.025, 10),
    "NL": (0.024, 1),
    "FR": (0.022, 1),
    "BR": (0.021, -3),
    "IN": (0.020, 5.5),
    "ES": (0.015, 1),
    "IT": (0.014, 1),
    "TR": (0.014, 3),
    "VN": (0.013, 7),
    "HK": (0.012, 8),
    "NG": (0.011, 1),
    "AR": (0.010, -3),
    "PL": (0.010, 1),
    "SE": (0.009, 1),
    "PH": (0.009, 8),
    "ID": (0.009, 7),
    "MX": (0.009, -6),
    "ZA": (0.008, 2),
    "UA": (0.008, 2),
    "TH": (0.008, 7),
}
COUNTRIES: Final = tuple(COUNTRY_PROFILES)

MAX_PAGE_LOAD_TIME_S: Final = 60.0
MAX_SCROLL_DEPTH: Final = 100
MAX_AMOUNT_USD: Final = 1_000_000.0
#: What a clean purchase or presale participation spends.
PURCHASE_AMOUNT_RANGE_USD: Final = (100.0, 10_000.0)
MAX_EVENT_AGE_MS: Final = 7 * 24 * 3600 * 1000
MAX_EVENT_LEAD_MS: Final = 3600 * 1000
WALLET_ADDRESS_PATTERN: Final = r"^0x[0-9a-f]{40}$"
UUID_PATTERN: Final = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"

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
INVALID_FAULTS: Final = frozenset({FAULT_MISSING_FIELD, FAULT_MALFORMED})
