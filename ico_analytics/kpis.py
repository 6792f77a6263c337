"""The users' everyday questions as named queries over the rollups, not the raw events.

``top-projects``, ``active-users`` and ``funnel`` answer what people used to ask of
``raw_data`` (``sql/queries/kpis/*.sql`` say how each maps); reading the 5-minute windows and
``analytics.sessions`` keeps a week's answer in milliseconds (``make bench``, dashboards).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import psycopg

from ico_core.db import libpq_url, query

#: Whole 5-minute windows: the rollups are exact on these boundaries.
ALIGN_SECONDS = 300


class Kpi(StrEnum):
    top_projects = "top-projects"
    active_users = "active-users"
    funnel = "funnel"

    @property
    def query_name(self) -> str:
        return "kpis/" + self.value.replace("-", "_")


@dataclass(frozen=True)
class KpiResult:
    columns: list[str]
    rows: list[tuple[Any, ...]]


def align(when: datetime) -> datetime:
    """``when`` floored to a 5-minute boundary."""
    return datetime.fromtimestamp(
        int(when.timestamp()) // ALIGN_SECONDS * ALIGN_SECONDS, when.tzinfo
    )


def run_kpi(url: str, kpi: Kpi, since: datetime, until: datetime, limit: int = 20) -> KpiResult:
    """``kpi`` over [``since``, ``until``), both floored to 5-minute boundaries."""
    params = {"since": align(since), "until": align(until), "limit": limit}
    with psycopg.connect(libpq_url(url)) as conn, conn.cursor() as cur:
        cur.execute(query(kpi.query_name), params)
        columns = [c.name for c in cur.description or []]
        return KpiResult(columns, cur.fetchall())
