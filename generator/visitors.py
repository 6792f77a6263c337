"""Visitor sessions: who visits which ICO site, from where, and how far down the funnel they get.

A session is planned whole when it starts (pages, funnel steps, event times), then its events
are handed to the engine, which interleaves many sessions by event time. Faker runs only at
start-up to fill value pools; the per-event path is ``random.Random`` calls and dict literals,
which keeps generation well above 30k events/s.
"""

from __future__ import annotations

import math
import re
import uuid
from bisect import bisect_right
from collections.abc import Sequence
from datetime import UTC, datetime
from itertools import accumulate
from random import Random
from typing import Any, Final, TypeVar

from faker import Faker

from generator.vocab import COUNTRY_PROFILES, PURCHASE_AMOUNT_RANGE_USD
from ico_core.events import EventType
from ico_core.injections import SHIFT_COUNTRY, AnomalyKind, Injection
from ico_core.projects import IcoProject, experiment_variant
from ico_core.rules import DEVICE_TYPES, PAYMENT_METHODS

T = TypeVar("T")
Record = dict[str, Any]
#: (timestamp ms, event type, Kafka key = session_id, record)
PlannedEvent = tuple[int, EventType, str, Record]
#: A visitor who signed up: (user_id, sign-up time ms, country, device, browser, user agent, IP).
Member = tuple[str, int, str, str, str, str, str]

# -- funnel and behaviour knobs -------------------------------------------------------------
# Tuned so the stream is ~85% clickstream / 10% registrations / 5% conversions: sessions are
# short in events (bounces are common), so a registration is a sizeable share of them.
PAGES_WEIGHTS: Final = [0.5**i for i in range(15)]  # 1..15 pages, mostly short visits
P_SCROLL: Final = 0.25
P_CLICK: Final = 0.12
REGISTER_BASE: Final = 0.50  # times the source's intent and a pages factor
P_WALLET_CONNECT: Final = 0.33  # given a registration
P_PURCHASE: Final = 0.45  # given a wallet connect
P_SECOND_PURCHASE: Final = 0.15  # given a purchase
P_PRESALE: Final = 0.55  # presale_participate vs token_purchase
PAYMENT_WEIGHTS: Final = [0.40, 0.15, 0.25, 0.20]  # ETH, BTC, USDT, USDC
DEVICE_WEIGHTS: Final = [0.60, 0.30, 0.10]  # desktop, mobile, tablet
#: Median page load time (s) by device; lognormal, mobile slowest.
LOAD_TIME_MEDIAN_S: Final = {"desktop": 1.1, "mobile": 2.1, "tablet": 1.6}
LOAD_TIME_SIGMA: Final = 0.55
MIN_SESSION_MS: Final = 30_000
MAX_SESSION_MS: Final = 2 * 3600 * 1000
SESSION_MS_PER_EVENT: Final = 12_000  # median spread of session length per event, on top of 30 s
#: Share of visits of 3+ pages where the tab is left open and the visitor comes back with the
#: same session id after a pause of over 30 minutes (so the site session is two sessions).
P_PAUSE: Final = 0.04
PAUSE_MIN_MS: Final = 31 * 60_000
PAUSE_MEAN_EXTRA_MS: Final = 30 * 60_000
#: Share of visits by a signed-up visitor coming back, logged in (once the project has any).
P_RETURNING: Final = 0.12
#: Which earlier day's sign-ups come back: day d ago weighs RETURN_DAY_DECAY ** d.
RETURN_DAY_DECAY: Final = 0.85
#: Signed-up visitors remembered per project and simulated day, and for how many days.
REMEMBERED_PER_DAY: Final = 200
REMEMBERED_DAYS: Final = 35
P_RETURN_PURCHASE: Final = 0.30  # a returning visitor connects a wallet and buys
DAY_MS: Final = 86_400_000

BROWSERS: Final[dict[str, list[tuple[str, float]]]] = {
    "desktop": [
        ("Chrome", 0.52),
        ("Safari", 0.12),
        ("Firefox", 0.10),
        ("Edge", 0.10),
        ("Brave", 0.12),
        ("Opera", 0.04),
    ],
    "mobile": [("Chrome", 0.50), ("Safari", 0.40), ("Samsung Internet", 0.10)],
    "tablet": [("Safari", 0.60), ("Chrome", 0.40)],
}

PAGE_PATHS: Final = {
    "homepage": "/",
    "whitepaper": "/whitepaper",
    "tokenomics": "/tokenomics",
    "team": "/team",
    "roadmap": "/roadmap",
    "presale": "/presale",
    "register": "/register",
    "faq": "/faq",
    "blog": "/blog",
    "contact": "/contact",
}
BLOG_SLUGS: Final = (
    "presale-phase-2-is-live",
    "audit-results",
    "ama-recap",
    "tokenomics-explained",
    "partnership-announcement",
    "roadmap-update",
)
#: Pages browsed after landing (register is visited by non-signups too).
BROWSE_PAGES: Final = [
    ("homepage", 0.16),
    ("whitepaper", 0.14),
    ("tokenomics", 0.15),
    ("team", 0.10),
    ("roadmap", 0.10),
    ("presale", 0.14),
    ("faq", 0.07),
    ("blog", 0.06),
    ("contact", 0.03),
    ("register", 0.05),
]


class TrafficSource:
    """Where a session came from: referrer, UTM tags, typical landing pages and buying intent."""

    __slots__ = ("cum_landing", "intent", "landing", "medium", "referrer", "source", "template")

    def __init__(
        self,
        referrer: str | None,
        source: str | None,
        medium: str | None,
        campaign_template: str | None,
        landing: list[tuple[str, float]],
        intent: float,
    ) -> None:
        self.referrer = referrer
        self.source = source
        self.medium = medium
        self.template = campaign_template  # formatted with the project's lowercase symbol
        self.landing = [page for page, _ in landing]
        self.cum_landing = list(accumulate(w for _, w in landing))
        self.intent = intent


_HOME = [("homepage", 0.7), ("presale", 0.15), ("whitepaper", 0.15)]
_PRESALE = [("presale", 0.55), ("homepage", 0.35), ("register", 0.10)]
_BLOG = [("blog", 0.45), ("homepage", 0.35), ("whitepaper", 0.20)]
#: (source, share of sessions): organic search, social, aggregators, direct, email, paid.
TRAFFIC_SOURCES: Final[list[tuple[TrafficSource, float]]] = [
    (TrafficSource("https://www.google.com/", None, None, None, _BLOG, 0.9), 0.20),
    (TrafficSource("https://www.bing.com/", None, None, None, _BLOG, 0.9), 0.03),
    (TrafficSource("https://t.co/", "twitter", "social", "{sym}_launch", _HOME, 1.0), 0.08),
    (TrafficSource("https://x.com/", None, None, None, _HOME, 0.9), 0.05),
    (TrafficSource(None, "telegram", "social", "{sym}_community", _PRESALE, 1.3), 0.09),
    (TrafficSource("https://www.reddit.com/", None, None, None, _BLOG, 0.8), 0.05),
    (TrafficSource("https://discord.com/", "discord", "social", "{sym}_ama", _HOME, 1.2), 0.05),
    (
        TrafficSource(
            "https://coinmarketcap.com/", "coinmarketcap", "referral", "icocalendar", _HOME, 1.1
        ),
        0.06,
    ),
    (TrafficSource(None, None, None, None, _HOME, 1.2), 0.20),  # direct
    (TrafficSource(None, "newsletter", "email", "{sym}_presale_reminder", _PRESALE, 1.4), 0.05),
    (
        TrafficSource(
            "https://www.google.com/", "google", "cpc", "{sym}_presale_search", _PRESALE, 1.0
        ),
        0.07,
    ),
    (TrafficSource("https://t.co/", "twitter", "paid_social", "{sym}_promo", _PRESALE, 0.9), 0.04),
    (
        TrafficSource(
            "https://coinzilla.com/", "coinzilla", "display", "{sym}_banner", _PRESALE, 0.7
        ),
        0.03,
    ),
]

EMAIL_DOMAINS: Final = (
    "gmail.com",
    "proton.me",
    "outlook.com",
    "yahoo.com",
    "icloud.com",
    "gmx.de",
    "naver.com",
)
_NON_ALNUM = re.compile(r"[^a-z0-9]")


def _cum(weights: list[float]) -> list[float]:
    return list(accumulate(weights))


def _pick(rng: Random, items: Sequence[T], cum: list[float]) -> T:
    """Weighted choice with precomputed cumulative weights (what ``rng.choices`` does, cheaper)."""
    return items[bisect_right(cum, rng.random() * cum[-1])]


def new_uuid(rng: Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def activity(local_hour: int, weekday: int) -> float:
    """Relative traffic of a country at a local hour: busy in business hours, quiet at night.

    Kept within 0.6..1.4 so the country ranking (US first, then DE, JP, KR, SG) holds at any hour.
    """
    if 9 <= local_hour < 18:
        return 1.4 if weekday < 5 else 1.1
    if 18 <= local_hour < 23:
        return 1.15
    if 7 <= local_hour < 9:
        return 0.9
    return 0.6


class VisitorPools:
    """Faker-made values drawn once, so the hot path only picks from lists."""

    def __init__(self, rng: Random, ips: int = 4000, names: int = 1000) -> None:
        fake = Faker("en_US")
        fake.seed_instance(rng.getrandbits(64))
        self.ips = [fake.ipv4_public() for _ in range(ips)]
        self.ips += [fake.ipv6() for _ in range(ips // 10)]
        # Emails combine first x last x number, so modest name pools give millions of addresses.
        self.first_names = [_NON_ALNUM.sub("", fake.first_name().lower()) for _ in range(names)]
        self.last_names = [_NON_ALNUM.sub("", fake.last_name().lower()) for _ in range(names)]
        self.handles = [_NON_ALNUM.sub("", fake.user_name().lower()) for _ in range(names)]
        self.user_agents = {
            (device, browser): [_user_agent(rng, device, browser) for _ in range(40)]
            for device, browsers in BROWSERS.items()
            for browser, _ in browsers
        }


def _user_agent(rng: Random, device: str, browser: str) -> str:
    """A user agent string consistent with the device and browser, with a random version."""
    chrome = f"{rng.randint(118, 131)}.0.{rng.randint(5000, 6800)}.{rng.randint(10, 200)}"
    ios = f"{rng.randint(16, 18)}_{rng.randint(0, 6)}"
    android = rng.randint(11, 15)
    webkit = "AppleWebKit/537.36 (KHTML, like Gecko)"
    if device == "desktop":
        os_part = rng.choice(
            [
                "Windows NT 10.0; Win64; x64",
                "Macintosh; Intel Mac OS X 10_15_7",
                "X11; Linux x86_64",
            ]
        )
        if browser == "Firefox":
            v = rng.randint(115, 133)
            return f"Mozilla/5.0 ({os_part}; rv:{v}.0) Gecko/20100101 Firefox/{v}.0"
        if browser == "Safari":
            return (
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
                f"(KHTML, like Gecko) Version/{rng.randint(16, 18)}.{rng.randint(0, 6)} "
                "Safari/605.1.15"
            )
        base = f"Mozilla/5.0 ({os_part}) {webkit} Chrome/{chrome} Safari/537.36"
        if browser == "Edge":
            return f"{base} Edg/{chrome}"
        if browser == "Opera":
            return f"{base} OPR/{rng.randint(100, 115)}.0.0.0"
        return base  # Chrome, and Brave, which sends Chrome's user agent
    if browser == "Safari":
        if device == "tablet":
            return (
                f"Mozilla/5.0 (iPad; CPU OS {ios} like Mac OS X) AppleWebKit/605.1.15 "
                f"(KHTML, like Gecko) Version/{ios.replace('_', '.')} Mobile/15E148 Safari/604.1"
            )
        return (
            f"Mozilla/5.0 (iPhone; CPU iPhone OS {ios} like Mac OS X) AppleWebKit/605.1.15 "
            f"(KHTML, like Gecko) Version/{ios.replace('_', '.')} Mobile/15E148 Safari/604.1"
        )
    if browser == "Samsung Internet":
        return (
            f"Mozilla/5.0 (Linux; Android {android}; SM-S918B) {webkit} "
            f"SamsungBrowser/{rng.randint(22, 26)}.0 Chrome/{chrome} Mobile Safari/537.36"
        )
    model = rng.choice(
        ["SM-X710", "Lenovo TB-J716F"] if device == "tablet" else ["Pixel 8", "SM-A546B"]
    )
    mobile = "" if device == "tablet" else "Mobile "
    return (
        f"Mozilla/5.0 (Linux; Android {android}; {model}) {webkit} "
        f"Chrome/{chrome} {mobile}Safari/537.36"
    )


class SessionFactory:
    """Plans whole visitor sessions; every value comes from the one seeded ``Random``."""

    def __init__(
        self,
        rng: Random,
        projects: list[IcoProject],
        experiment_lift: float,
        injections: Sequence[Injection] = (),
    ) -> None:
        self._rng = rng
        self._injections = injections
        self._experiment_lift = experiment_lift
        self._pools = VisitorPools(rng)
        self._projects = projects
        # Bigger raises get more traffic.
        self._cum_projects = _cum([float(p.target_raise_usd) for p in projects])
        self._countries = list(COUNTRY_PROFILES)
        self._country_hour = -1
        self._cum_countries: list[float] = []
        self._devices = list(DEVICE_TYPES)
        self._cum_devices = _cum(DEVICE_WEIGHTS)
        self._browsers = {d: [b for b, _ in bs] for d, bs in BROWSERS.items()}
        self._cum_browsers = {d: _cum([w for _, w in bs]) for d, bs in BROWSERS.items()}
        self._sources = [s for s, _ in TRAFFIC_SOURCES]
        self._cum_sources = _cum([w for _, w in TRAFFIC_SOURCES])
        self._pages_counts = list(range(1, len(PAGES_WEIGHTS) + 1))
        self._cum_pages = _cum(PAGES_WEIGHTS)
        self._browse = [p for p, _ in BROWSE_PAGES]
        self._cum_browse = _cum([w for _, w in BROWSE_PAGES])
        self._payments = list(PAYMENT_METHODS)
        self._cum_payment = _cum(PAYMENT_WEIGHTS)
        self._load_mu = {d: math.log(m) for d, m in LOAD_TIME_MEDIAN_S.items()}
        # project id -> simulated day -> members who signed up that day (a bounded sample).
        self._members: dict[int, dict[int, list[Member]]] = {}

    def _country(self, start_ms: int) -> str:
        """Country weighted by base share times local business-hours activity (cached per hour)."""
        hour = start_ms // 3_600_000
        if hour != self._country_hour:
            utc = datetime.fromtimestamp(hour * 3600, tz=UTC)
            weights = []
            for weight, offset in COUNTRY_PROFILES.values():
                local_hours = utc.hour + utc.weekday() * 24 + offset
                local_hour = int(local_hours % 24)
                local_weekday = int(local_hours // 24) % 7
                weights.append(weight * activity(local_hour, local_weekday))
            self._cum_countries = _cum(weights)
            self._country_hour = hour
        return _pick(self._rng, self._countries, self._cum_countries)

    def _returning(self, project_id: int, start_ms: int) -> Member | None:
        """A signed-up visitor of the project coming back, or None for a new visitor."""
        days = self._members.get(project_id)
        rng = self._rng
        if not days or rng.random() >= P_RETURNING:
            return None
        today = start_ms // DAY_MS
        pick = rng.choices(list(days), [RETURN_DAY_DECAY ** (today - d) for d in days])[0]
        member = rng.choice(days[pick])
        # Sessions are planned whole, so a sign-up may still lie ahead of this visit's start.
        return member if member[1] < start_ms else None

    def _remember(self, project_id: int, member: Member) -> None:
        days = self._members.setdefault(project_id, {})
        day = member[1] // DAY_MS
        members = days.setdefault(day, [])
        if len(members) < REMEMBERED_PER_DAY:
            members.append(member)
        else:
            members[self._rng.randrange(REMEMBERED_PER_DAY)] = member
        for old in [d for d in days if d <= day - REMEMBERED_DAYS]:
            del days[old]

    def injected(self, project_id: int, start_ms: int) -> dict[AnomalyKind, float]:
        """The sizes of the injected anomalies a session of the project starting then gets."""
        return {i.kind: i.size for i in self._injections if i.active(project_id, start_ms)}

    def build(self, start_ms: int, project: IcoProject | None = None) -> list[PlannedEvent]:
        """One session starting at ``start_ms`` (of a random project unless one is given): its
        events in time order."""
        rng = self._rng
        pools = self._pools
        if project is None:
            project = _pick(rng, self._projects, self._cum_projects)
        # No draw without an injection, so a run without any stays the same sequence.
        injected = self.injected(project.id, start_ms) if self._injections else {}
        member = self._returning(project.id, start_ms)
        if member is None:
            country = self._country(start_ms)
            shift = injected.get(AnomalyKind.COUNTRY_SHIFT)
            if shift is not None and rng.random() < shift:
                country = SHIFT_COUNTRY
            device = _pick(rng, self._devices, self._cum_devices)
            browser = _pick(rng, self._browsers[device], self._cum_browsers[device])
            user_agent = rng.choice(pools.user_agents[device, browser])
            ip = rng.choice(pools.ips)
        else:
            country, device, browser, user_agent, ip = member[2:]
        source = _pick(rng, self._sources, self._cum_sources)
        sym = project.token_symbol.lower()
        campaign = source.template.format(sym=sym) if source.template else None
        n_pages = _pick(rng, self._pages_counts, self._cum_pages)

        # Page sequence and where the funnel steps happen.
        pages = [_pick(rng, source.landing, source.cum_landing)]
        pages += [_pick(rng, self._browse, self._cum_browse) for _ in range(n_pages - 1)]
        session_id = new_uuid(rng)
        p_register = REGISTER_BASE * source.intent * (0.55 + 0.22 * n_pages)
        # The landing-page experiment: variant B converts ``experiment_lift`` more (relative).
        if experiment_variant(session_id, project.landing_experiment) == "B":
            p_register *= 1 + self._experiment_lift
        p_register *= 1 - injected.get(AnomalyKind.CONVERSION_DROP, 0.0)
        register_at = -1
        convert_at = -1
        purchases = 0
        wallet = False
        if member is not None:
            if rng.random() < P_RETURN_PURCHASE:
                wallet = True
                convert_at = rng.randrange(n_pages)
                pages[convert_at] = "presale"
                purchases = 2 if rng.random() < P_SECOND_PURCHASE else 1
        elif rng.random() < p_register:
            register_at = rng.randrange(1, n_pages) if n_pages > 1 else 0
            pages[register_at] = "register"
            if rng.random() < P_WALLET_CONNECT:
                wallet = True
                # Connect (and buy) on the presale page after signing up, else right there.
                convert_at = register_at + 1 if register_at + 1 < n_pages else register_at
                if convert_at != register_at:
                    pages[convert_at] = "presale"
                if rng.random() < P_PURCHASE:
                    purchases = 2 if rng.random() < P_SECOND_PURCHASE else 1
        drop = injected.get(AnomalyKind.REVENUE_DROP)
        if purchases and drop is not None and rng.random() < drop:
            purchases = 0  # the buyer gives up (the wallet stays connected)

        # Steps: (relative gap before the step, kind, page index). Gaps are scaled afterwards so
        # the session spans its sampled duration.
        steps: list[tuple[float, str, int]] = []
        expo = rng.expovariate
        for i in range(n_pages):
            steps.append((0.0 if i == 0 else 0.8 + 3.0 * expo(1.0), "page_view", i))
            start_len = len(steps)
            if rng.random() < P_SCROLL:
                steps.append((0.3 + expo(1.0), "scroll", i))
            if i == register_at:
                for _ in range(rng.randint(1, 3)):
                    steps.append((0.3 + expo(1.0), "form_interaction", i))
                steps.append((0.2 + 0.5 * expo(1.0), "registration", i))
            if i == convert_at and wallet:
                steps.append((0.3 + expo(1.0), "click", i))
                steps.append((0.2 + 0.5 * expo(1.0), "wallet_connect", i))
                for _ in range(purchases):
                    steps.append((0.3 + expo(1.0), "form_interaction", i))
                    steps.append((0.3 + expo(1.0), "purchase", i))
            if rng.random() < P_CLICK:
                steps.append((0.3 + expo(1.0), "click", i))
            if i == n_pages - 1 and len(steps) == start_len:
                # Every session ends with an interaction, so it lasts its full duration (>= 30 s).
                steps.append((0.3 + expo(1.0), "scroll", i))

        duration_ms = MIN_SESSION_MS + rng.lognormvariate(
            math.log(SESSION_MS_PER_EVENT * len(steps)), 1.0
        )
        duration_ms = min(duration_ms, MAX_SESSION_MS)
        offsets = list(accumulate(gap for gap, _, _ in steps))
        scale = duration_ms / offsets[-1]
        pause_from, pause_ms = n_pages, 0
        if n_pages >= 3 and rng.random() < P_PAUSE:
            pause_from = rng.randrange(1, n_pages)
            pause_ms = PAUSE_MIN_MS + int(rng.expovariate(1 / PAUSE_MEAN_EXTRA_MS))

        user_id = None if member is None else member[0]
        domain = f"https://{project.domain}"
        utm_query = (
            f"?utm_source={source.source}&utm_medium={source.medium}&utm_campaign={campaign}"
            if source.source
            else ""
        )
        events: list[PlannedEvent] = []
        last_ts = start_ms - 1
        page_url = referrer = ""
        page_load_mu = self._load_mu[device]
        for (_, kind, page_index), offset in zip(steps, offsets, strict=True):
            # Strictly increasing times keep the funnel order unambiguous.
            ts = max(start_ms + int(offset * scale), last_ts + 1)
            if page_index >= pause_from:
                ts += pause_ms
            last_ts = ts
            page = pages[page_index]
            if kind == "page_view":
                previous_url = page_url
                path = PAGE_PATHS[page]
                if page == "blog":
                    path = f"{path}/{rng.choice(BLOG_SLUGS)}"
                page_url = domain + path
                if page_index == 0:
                    page_url += utm_query
                    referrer = source.referrer or ""
                else:
                    referrer = previous_url
            if kind == "registration":
                user_id = new_uuid(rng)
                self._remember(project.id, (user_id, ts, country, device, browser, user_agent, ip))
                events.append(
                    (
                        ts,
                        EventType.REGISTRATION,
                        session_id,
                        self._registration(session_id, user_id, ts, country, project.id),
                    )
                )
            elif kind == "wallet_connect" or kind == "purchase":
                assert user_id is not None  # planned after the registration
                events.append(
                    (
                        ts,
                        EventType.CONVERSION,
                        session_id,
                        self._conversion(kind, session_id, user_id, ts, start_ms, project),
                    )
                )
            else:
                load_time = (
                    round(min(rng.lognormvariate(page_load_mu, LOAD_TIME_SIGMA), 45.0) + 0.05, 3)
                    if kind == "page_view"
                    else None
                )
                scroll_depth = (
                    min(100, int(rng.triangular(5, 101, 70))) if kind == "scroll" else None
                )
                events.append(
                    (
                        ts,
                        EventType.CLICKSTREAM,
                        session_id,
                        {
                            "event_id": new_uuid(rng),
                            "session_id": session_id,
                            "user_id": user_id,
                            "timestamp": ts,
                            "event_type": kind,
                            "page_type": page,
                            "page_url": page_url,
                            "referrer": referrer or None,
                            "utm_source": source.source,
                            "utm_medium": source.medium,
                            "utm_campaign": campaign,
                            "country": country,
                            "device_type": device,
                            "browser": browser,
                            "page_load_time": load_time,
                            "scroll_depth": scroll_depth,
                            "ip_address": ip,
                            "user_agent": user_agent,
                            "ico_website_id": project.id,
                        },
                    )
                )
        return events

    def _registration(
        self, session_id: str, user_id: str, ts: int, country: str, website_id: int
    ) -> Record:
        rng = self._rng
        pools = self._pools
        first = rng.choice(pools.first_names)
        last = rng.choice(pools.last_names)
        email = f"{first}.{last}{rng.randrange(1000)}@{rng.choice(EMAIL_DOMAINS)}"
        handles: dict[str, str] = {}
        if rng.random() < 0.6:
            handles["twitter"] = "@" + rng.choice(pools.handles)
        if rng.random() < 0.5:
            handles["telegram"] = "@" + rng.choice(pools.handles)
        if rng.random() < 0.3:
            handles["discord"] = rng.choice(pools.handles)
        kyc = rng.random() < 0.35
        return {
            "registration_id": new_uuid(rng),
            "user_id": user_id,
            "session_id": session_id,
            "timestamp": ts,
            "email": email,
            "wallet_address": f"0x{rng.getrandbits(160):040x}" if rng.random() < 0.7 else None,
            "social_handles": handles,
            "consent_marketing": rng.random() < 0.55,
            "kyc_completed": kyc,
            # Higher tiers need KYC.
            "verification_tier": (
                ("premium" if rng.random() < 0.3 else "advanced") if kyc else "basic"
            ),
            "country": country,
            "ico_website_id": website_id,
        }

    def _conversion(
        self,
        kind: str,
        session_id: str,
        user_id: str,
        ts: int,
        session_start_ms: int,
        project: IcoProject,
    ) -> Record:
        rng = self._rng
        amount = token_amount = payment = None
        conversion_type = "wallet_connect"
        if kind == "purchase":
            conversion_type = (
                "presale_participate" if rng.random() < P_PRESALE else "token_purchase"
            )
            low, high = PURCHASE_AMOUNT_RANGE_USD
            while True:  # lognormal around ~$900, resampled (not clipped) into the range
                raw = rng.lognormvariate(math.log(900.0), 1.0)
                if low <= raw <= high:
                    break
            amount = round(raw, 2)
            token_amount = round(amount / project.token_price_usd, 6)
            payment = _pick(rng, self._payments, self._cum_payment)
        return {
            "conversion_id": new_uuid(rng),
            "user_id": user_id,
            "session_id": session_id,
            "timestamp": ts,
            "conversion_type": conversion_type,
            "amount_usd": amount,
            "token_amount": token_amount,
            "payment_method": payment,
            "time_to_convert": (ts - session_start_ms) / 1000,
            "ico_website_id": project.id,
        }
