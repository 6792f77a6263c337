"""The business rules every valid event keeps: enumerations, ranges, formats and limits.

One module for both sides: the dataflow's validator (``dataflows.validate``) enforces exactly
these, and the generator (``generator``) draws clean events from them and breaks them on purpose
for its ``malformed`` faults. The rules, per field (all event types unless named):

- ``ico_website_id``: int in 1..websites_count (``ICO_WEBSITES_COUNT``, at most 20).
- ``event_id`` / ``registration_id`` / ``conversion_id``, ``session_id``, ``user_id`` (when not
  null): canonical lowercase uuid strings (``UUID_PATTERN``).
- ``timestamp``: epoch ms within [now - MAX_EVENT_AGE_MS, now + MAX_EVENT_LEAD_MS], where now is
  the record's produce time (Kafka's message timestamp; the simulated clock of the embedded
  source), so a replay judges every record as the first run did.
- ``country``: an officially assigned ISO 3166-1 alpha-2 code (``ISO_COUNTRIES``); a real visitor
  may come from any of them, so this is wider than the countries the generator simulates.
- text that is stored holds no NUL character (PostgreSQL text cannot) and fits its limit:
  ``MAX_URL_LEN`` for URLs, referrer and user agent, ``MAX_SHORT_LEN`` for UTM fields, browser,
  IP address and social handles, ``MAX_EMAIL_LEN`` for emails.
- clickstream: ``event_type`` in CLICKSTREAM_EVENT_TYPES, ``page_type`` in PAGE_TYPES,
  ``device_type`` in DEVICE_TYPES, ``page_url`` not empty, ``page_load_time`` None or
  0 < x <= MAX_PAGE_LOAD_TIME_S, ``scroll_depth`` None or 0 <= x <= MAX_SCROLL_DEPTH.
- registration: ``email`` contains ``@``, ``wallet_address`` None or matching
  WALLET_ADDRESS_PATTERN, ``verification_tier`` in VERIFICATION_TIERS, at most
  MAX_SOCIAL_HANDLES social handles.
- conversion: ``conversion_type`` in CONVERSION_TYPES, ``payment_method`` None or in
  PAYMENT_METHODS, ``amount_usd`` None or 0 < x <= MAX_AMOUNT_USD, ``token_amount`` None or
  0 < x < MAX_TOKEN_AMOUNT, ``time_to_convert`` finite and >= 0.
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

MAX_PAGE_LOAD_TIME_S: Final = 60.0
MAX_SCROLL_DEPTH: Final = 100
MAX_AMOUNT_USD: Final = 1_000_000.0
#: numeric(24, 6) holds 18 integer digits.
MAX_TOKEN_AMOUNT: Final = 1e18
MAX_EVENT_AGE_MS: Final = 7 * 24 * 3600 * 1000
MAX_EVENT_LEAD_MS: Final = 3600 * 1000
MAX_URL_LEN: Final = 2048
MAX_EMAIL_LEN: Final = 320
MAX_SHORT_LEN: Final = 256
MAX_SOCIAL_HANDLES: Final = 32
WALLET_ADDRESS_PATTERN: Final = r"^0x[0-9a-f]{40}$"
UUID_PATTERN: Final = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"

_ISO_CODES = """
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO
    BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK
    DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR
    GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM
    KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP
    MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL
    PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST
    SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG
    VI VN VU WF WS YE YT ZA ZM ZW"""
#: ISO 3166-1 alpha-2 officially assigned codes.
ISO_COUNTRIES: Final = frozenset(_ISO_CODES.split())
