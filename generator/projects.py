"""The ICO projects whose websites the generator simulates.

``ico_websites.csv`` next to this module is the single source of truth: the database loads the
same file into ``processed_data.ico_websites``.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from ico_analytics.errors import ConfigError

#: The committed project list (columns: id,name,token_symbol,domain,category,
#: target_raise_usd,token_price_usd,launch_date,country).
PROJECTS_CSV = Path(__file__).resolve().parent / "ico_websites.csv"
MAX_PROJECTS = 20


@dataclass(frozen=True, slots=True)
class IcoProject:
    id: int
    name: str
    token_symbol: str
    domain: str
    category: str
    target_raise_usd: int
    token_price_usd: float
    launch_date: date
    country: str


def load_projects(count: int = MAX_PROJECTS, path: Path = PROJECTS_CSV) -> list[IcoProject]:
    """The first ``count`` projects (ids 1..count) in id order."""
    if not 1 <= count <= MAX_PROJECTS:
        raise ConfigError(f"websites count must be 1..{MAX_PROJECTS}, got {count}")
    with path.open(newline="", encoding="utf-8") as f:
        projects = [
            IcoProject(
                id=int(row["id"]),
                name=row["name"],
                token_symbol=row["token_symbol"],
                domain=row["domain"],
                category=row["category"],
                target_raise_usd=int(row["target_raise_usd"]),
                token_price_usd=float(row["token_price_usd"]),
                launch_date=date.fromisoformat(row["launch_date"]),
                country=row["country"],
            )
            for row in csv.DictReader(f)
        ]
    projects.sort(key=lambda p: p.id)
    if [p.id for p in projects] != list(range(1, len(projects) + 1)):
        raise ConfigError(f"{path} must hold ids 1..N without gaps")
    return projects[:count]
