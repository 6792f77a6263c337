"""Enrich valid events and shape them into raw-table rows (``sql/migrations/0001``).

Added columns: ``region`` (from country) and ``traffic_source`` (from referrer and UTM tags).
PII (clickstream ``ip_address``, registration ``email`` and ``wallet_address``) is replaced by a
keyed HMAC-SHA256 pseudonym before it leaves this step, so no raw PII reaches a sink.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, NamedTuple

from dataflows.records import TableRow
from dataflows.validate import SOURCE_OFFSET, SOURCE_PARTITION, Event
from ico_core.events import EventType

CLICKSTREAM_TABLE = "raw_data.clickstream_events"
REGISTRATIONS_TABLE = "raw_data.user_registrations"
CONVERSIONS_TABLE = "raw_data.conversions"

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_CENT = Decimal("0.01")
_MICRO = Decimal("0.000001")


def utc(epoch_ms: int) -> datetime:
    """Aware UTC datetime of epoch milliseconds, exactly (no float division)."""
    return _EPOCH + timedelta(milliseconds=epoch_ms)


def _decimal(value: float) -> Decimal:
    # The digits PostgreSQL itself keeps when it casts float8 to numeric (15 significant).
    return Decimal(f"{value:.15g}")


def usd_cents(amount_usd: float) -> int:
    """Whole cents of an amount, rounded half away from zero as numeric(14, 2) would store it."""
    return int(_decimal(amount_usd).quantize(_CENT, ROUND_HALF_UP).scaleb(2))


def usd(cents: int) -> Decimal:
    """Cents as a Decimal with exactly two places."""
    return Decimal(cents).scaleb(-2)


# Regions. Anything not listed (Antarctica, uninhabited territories) is "Other".
_REGION_CODES = {
    "North America": "US CA BM GL PM UM",
    "Latin America": (
        "MX GT BZ SV HN NI CR PA CU JM HT DO PR BS BB TT AG DM GD KN LC VC AI AW BQ CW SX MF BL "
        "GP MQ KY TC VG VI MS CO VE GY SR GF EC PE BO BR PY UY AR CL FK GS"
    ),
    "Europe": (
        "AD AL AM AT AX AZ BA BE BG BY CH CY CZ DE DK EE ES FI FO FR GB GE GG GI GR HR HU IE IM "
        "IS IT JE LI LT LU LV MC MD ME MK MT NL NO PL PT RO RS RU SE SI SJ SK SM UA VA"
    ),
    "Middle East": "AE BH IL IQ IR JO KW LB OM PS QA SA SY TR YE",
    "Asia-Pacific": (
        "AF AS AU BD BN BT CC CK CN CX FJ FM GU HK ID IN IO JP KG KH KI KP KR KZ LA LK MH MM MN "
        "MO MP MV MY NC NF NP NR NU NZ PF PG PH PK PN PW SB SG TH TJ TK TL TM TO TV TW UZ VN VU "
        "WF WS"
    ),
    "Africa": (
        "AO BF BI BJ BW CD CF CG CI CM CV DJ DZ EG EH ER ET GA GH GM GN GQ GW KE KM LR LS LY MA "
        "MG ML MR MU MW MZ NA NE NG RE RW SC SD SH SL SN SO SS ST SZ TD TG TN TZ UG YT ZA ZM ZW"
    ),
}
REGION_BY_COUNTRY: dict[str, str] = {
    code: region for region, codes in _REGION_CODES.items() for code in codes.split()
}
OTHER_REGION = "Other"


def region_of(country: str) -> str:
    return REGION_BY_COUNTRY.get(country, OTHER_REGION)


# Traffic sources, first matching rule wins:
#   1. utm_medium names a paid, email or social channel -> paid | email | social;
#   2. utm_source alone names a social network or an email campaign -> social | email;
#   3. the referrer's host is a social network -> social; a search engine -> organic;
#      the visited site itself (internal navigation) -> direct; any other host -> referral;
#   4. UTM tags without a recognised channel -> referral; nothing at all -> direct.
_PAID_MEDIUMS = frozenset(
    {
        "cpc",
        "ppc",
        "paid",
        "paidsearch",
        "paid_search",
        "paid-search",
        "display",
        "cpm",
        "banner",
        "paid_social",
        "paid-social",
        "paidsocial",
        "affiliate",
        "sponsored",
    }
)
_EMAIL_MEDIUMS = frozenset({"email", "e-mail", "newsletter", "mail"})
_SOCIAL_MEDIUMS = frozenset({"social", "social_media", "social-media", "sm", "organic_social"})
_ORGANIC_MEDIUMS = frozenset({"organic", "seo"})
_SOCIAL_SOURCES = frozenset(
    {
        "twitter",
        "x",
        "telegram",
        "reddit",
        "discord",
        "facebook",
        "instagram",
        "youtube",
        "tiktok",
        "linkedin",
        "medium",
        "bitcointalk",
    }
)
_SOCIAL_DOMAINS = frozenset(
    {
        "twitter.com",
        "x.com",
        "t.co",
        "t.me",
        "telegram.org",
        "telegram.me",
        "reddit.com",
        "redd.it",
        "discord.com",
        "discord.gg",
        "discordapp.com",
        "facebook.com",
        "fb.com",
        "instagram.com",
        "youtube.com",
        "youtu.be",
        "tiktok.com",
        "linkedin.com",
        "lnkd.in",
        "medium.com",
        "bitcointalk.org",
        "weibo.com",
        "vk.com",
    }
)
#: A search engine is recognised by a label of its host (google.co.uk, search.yahoo.com).
_SEARCH_LABELS = frozenset(
    {
        "google",
        "bing",
        "yahoo",
        "duckduckgo",
        "baidu",
        "yandex",
        "ecosia",
        "startpage",
        "qwant",
        "naver",
        "brave",
        "ask",
        "aol",
    }
)


def _host(url: str) -> str:
    """Lower-case host of a URL without ``www.``; tolerant of missing schemes."""
    start = url.find("://")
    rest = url[start + 3 :] if start >= 0 else url
    end = len(rest)
    for sep in "/?#":
        i = rest.find(sep)
        if 0 <= i < end:
            end = i
    host = rest[:end].rpartition("@")[2].partition(":")[0].lower()
    return host[4:] if host.startswith("www.") else host


def _is_social_host(host: str) -> bool:
    while host:
        if host in _SOCIAL_DOMAINS:
            return True
        host = host.partition(".")[2]
    return False


def traffic_source(
    referrer: str | None, utm_source: str | None, utm_medium: str | None, page_url: str
) -> str:
    """organic | social | referral | paid | email | direct (rules above)."""
    if utm_medium:
        medium = utm_medium.lower()
        if medium in _PAID_MEDIUMS:
            return "paid"
        if medium in _EMAIL_MEDIUMS:
            return "email"
        if medium in _SOCIAL_MEDIUMS:
            return "social"
        if medium in _ORGANIC_MEDIUMS:
            return "organic"
    if utm_source and not utm_medium:
        source = utm_source.lower()
        if source in _SOCIAL_SOURCES:
            return "social"
        if source in _EMAIL_MEDIUMS:
            return "email"
    if referrer:
        host = _host(referrer)
        if host:
            if _is_social_host(host):
                return "social"
            if not _SEARCH_LABELS.isdisjoint(host.split(".")):
                return "organic"
            if host == _host(page_url):
                return "direct"
            return "referral"
    return "referral" if utm_source or utm_medium else "direct"


class Pseudonymiser:
    """Deterministic keyed pseudonym: HMAC-SHA256 hex digest truncated to 128 bits.

    The keyed hash cannot be reversed or brute-forced without the key (unlike a plain hash of
    an IPv4 address), yet equal inputs keep equal pseudonyms, so joins and distinct counts work.
    """

    DIGEST_CHARS = 32

    def __init__(self, key: bytes) -> None:
        # The key schedule is done once; each call copies the keyed state.
        self._keyed = hmac.new(key, digestmod=hashlib.sha256)

    def __call__(self, value: str) -> str:
        mac = self._keyed.copy()
        mac.update(value.encode())
        return mac.hexdigest()[: self.DIGEST_CHARS]


class ClickstreamRow(NamedTuple):
    """A row of ``raw_data.clickstream_events``."""

    event_id: str
    session_id: str
    user_id: str | None
    timestamp: datetime
    event_type: str
    page_type: str
    page_url: str
    referrer: str | None
    utm_source: str | None
    utm_medium: str | None
    utm_campaign: str | None
    traffic_source: str
    country: str
    region: str
    device_type: str
    browser: str
    page_load_time: float | None
    scroll_depth: int | None
    ip_address: str  # pseudonym
    user_agent: str
    ico_website_id: int
    # Where the stored copy came from (None: not from the dataflow); see dataflows/dedupe.py.
    source_partition: int | None = None
    source_offset: int | None = None


class RegistrationRow(NamedTuple):
    """A row of ``raw_data.user_registrations``."""

    registration_id: str
    user_id: str
    session_id: str
    timestamp: datetime
    email: str  # pseudonym
    wallet_address: str | None  # pseudonym
    social_handles: dict[str, str | None]
    consent_marketing: bool
    kyc_completed: bool
    verification_tier: str
    country: str
    region: str
    ico_website_id: int
    # Where the stored copy came from (None: not from the dataflow); see dataflows/dedupe.py.
    source_partition: int | None = None
    source_offset: int | None = None


class ConversionRow(NamedTuple):
    """A row of ``raw_data.conversions``."""

    conversion_id: str
    user_id: str | None
    session_id: str
    timestamp: datetime
    conversion_type: str
    amount_usd: Decimal | None
    token_amount: Decimal | None
    payment_method: str | None
    time_to_convert: float
    ico_website_id: int
    # Where the stored copy came from (None: not from the dataflow); see dataflows/dedupe.py.
    source_partition: int | None = None
    source_offset: int | None = None


class RowBuilder:
    """One valid event -> its raw-table row (for the ``event_rows`` step)."""

    def __init__(self, pii_key: bytes) -> None:
        self.pseudonym = Pseudonymiser(pii_key)
        self._by_type: dict[EventType, Callable[[dict[str, Any]], TableRow]] = {
            EventType.CLICKSTREAM: self.clickstream,
            EventType.REGISTRATION: self.registration,
            EventType.CONVERSION: self.conversion,
        }

    def __call__(self, event: Event) -> TableRow:
        event_type, record = event
        return self._by_type[event_type](record)

    def clickstream(self, r: dict[str, Any]) -> TableRow:
        referrer, utm_source, utm_medium, page_url = (
            r["referrer"],
            r["utm_source"],
            r["utm_medium"],
            r["page_url"],
        )
        return CLICKSTREAM_TABLE, ClickstreamRow(
            r["event_id"],
            r["session_id"],
            r["user_id"],
            utc(r["timestamp"]),
            r["event_type"],
            r["page_type"],
            page_url,
            referrer,
            utm_source,
            utm_medium,
            r["utm_campaign"],
            traffic_source(referrer, utm_source, utm_medium, page_url),
            r["country"],
            region_of(r["country"]),
            r["device_type"],
            r["browser"],
            r["page_load_time"],
            r["scroll_depth"],
            self.pseudonym(r["ip_address"]),
            r["user_agent"],
            r["ico_website_id"],
            r[SOURCE_PARTITION],
            r[SOURCE_OFFSET],
        )

    def registration(self, r: dict[str, Any]) -> TableRow:
        wallet = r["wallet_address"]
        return REGISTRATIONS_TABLE, RegistrationRow(
            r["registration_id"],
            r["user_id"],
            r["session_id"],
            utc(r["timestamp"]),
            # Addresses are case-insensitive in practice: one person, one pseudonym.
            self.pseudonym(r["email"].strip().lower()),
            None if wallet is None else self.pseudonym(wallet),
            {network: self.pseudonym(handle) for network, handle in r["social_handles"].items()},
            r["consent_marketing"],
            r["kyc_completed"],
            r["verification_tier"],
            r["country"],
            region_of(r["country"]),
            r["ico_website_id"],
            r[SOURCE_PARTITION],
            r[SOURCE_OFFSET],
        )

    def conversion(self, r: dict[str, Any]) -> TableRow:
        amount, tokens = r["amount_usd"], r["token_amount"]
        return CONVERSIONS_TABLE, ConversionRow(
            r["conversion_id"],
            r["user_id"],
            r["session_id"],
            utc(r["timestamp"]),
            r["conversion_type"],
            None if amount is None else usd(usd_cents(amount)),
            None if tokens is None else _decimal(tokens).quantize(_MICRO),
            r["payment_method"],
            r["time_to_convert"],
            r["ico_website_id"],
            r[SOURCE_PARTITION],
            r[SOURCE_OFFSET],
        )
