"""The 20 ICO projects: the sites the generator simulates and ``processed_data.ico_websites``.

``ico_websites.csv`` next to this module is the single source of truth: migrations load it into
the database, the generator simulates its projects, and ``ico_website_id`` is valid in 1..N.
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass
from datetime import date
from importlib.resources import files

from ico_core.errors import ConfigError

#: The committed project list (columns: id,name,token_symbol,domain,category,
#: target_raise_usd,token_price_usd,launch_date,country,landing_experiment).
PROJECTS_CSV = "ico_websites.csv"
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
    landing_experiment: str  # id of the landing-page A/B experiment the site runs


def load_projects(count: int = MAX_PROJECTS) -> list[IcoProject]:
    """The first ``count`` projects (ids 1..count) in id order."""
    if not 1 <= count <= MAX_PROJECTS:
        raise ConfigError(f"websites count must be 1..{MAX_PROJECTS}, got {count}")
    text = files("ico_core").joinpath(PROJECTS_CSV).read_text(encoding="utf-8")
    with io.StringIO(text, newline="") as f:
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
                landing_experiment=row["landing_experiment"],
            )
            for row in csv.DictReader(f)
        ]
    projects.sort(key=lambda p: p.id)
    if [p.id for p in projects] != list(range(1, len(projects) + 1)):
        raise ConfigError(f"{PROJECTS_CSV} must hold ids 1..N without gaps")
    return projects[:count]


def experiment_variant(unit_id: str, experiment_id: str) -> str:
    """``"A"`` or ``"B"``: the seed's assignment rule. The first 8 hex digits of
    ``md5(f"{unit_id}:{experiment_id}")`` as an integer, even -> A. The unit is the visitor's
    session id (landing-page experiments assign before there is a user id).
    ``analytics.experiment_results`` applies the same rule in SQL."""
    digest = hashlib.md5(f"{unit_id}:{experiment_id}".encode(), usedforsecurity=False)
    return "A" if int(digest.hexdigest()[:8], 16) % 2 == 0 else "B"
