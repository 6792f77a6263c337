"""What the simulation draws from beyond the business rules (``ico_core.rules``): where visitors
come from and what a clean purchase spends."""

from __future__ import annotations

from typing import Final

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
#: What a clean purchase or presale participation spends.
PURCHASE_AMOUNT_RANGE_USD: Final = (100.0, 10_000.0)
