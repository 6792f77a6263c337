"""Grafana's PostgreSQL macros and template variables, expanded the way Grafana expands them.

Grafana cannot run here, so ``dashboards preview`` and the tests turn each panel's query into
the SQL the data source would send, then run it on PostgreSQL. Only what our dashboards use is
supported; anything else is an error rather than a query that silently means something else.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

from ico_core.errors import DashboardError

_MACRO = re.compile(r"\$__(\w+)\(([^()]*)\)")
# ${name}, ${name:format} or $name; Grafana's [[name]] syntax is deprecated and not used.
_VARIABLE = re.compile(r"\$\{(\w+)(?::(\w+))?\}|\$(\w+)")
_INTERVAL_MS = re.compile(r"\$__interval_ms\b")
#: Grafana's ``rangeutil.roundInterval``: (below this many ms, the interval is this many ms).
_ROUNDED_MS = (
    (15, 10), (35, 20), (75, 50), (150, 100), (350, 200), (750, 500), (1_500, 1_000),
    (3_500, 2_000), (7_500, 5_000), (12_500, 10_000), (17_500, 15_000), (25_000, 20_000),
    (45_000, 30_000), (90_000, 60_000), (150_000, 120_000), (450_000, 300_000),
    (750_000, 600_000), (1_050_000, 900_000), (1_500_000, 1_200_000), (2_700_000, 1_800_000),
    (5_400_000, 3_600_000), (9_000_000, 7_200_000), (16_200_000, 10_800_000),
    (32_400_000, 21_600_000), (86_400_000, 43_200_000), (604_800_000, 86_400_000),
    (1_814_400_000, 604_800_000), (3_628_800_000, 2_592_000_000),
)  # fmt: skip
_YEAR_MS = 31_536_000_000


def panel_interval(
    time_from: datetime, time_to: datetime, max_data_points: int, min_interval: timedelta
) -> timedelta:
    """``$__interval`` as Grafana computes it for a panel: the range over the panel's
    ``maxDataPoints``, rounded to a "nice" interval, at least the panel's minimum interval."""
    raw_ms = (time_to - time_from) / timedelta(milliseconds=1) / max_data_points
    rounded = next((ms for below, ms in _ROUNDED_MS if raw_ms < below), _YEAR_MS)
    return max(timedelta(milliseconds=rounded), min_interval)


def _timestamp(when: datetime) -> str:
    """Grafana's form: RFC 3339 in UTC at whole seconds, as a quoted SQL literal."""
    return when.astimezone(UTC).strftime("'%Y-%m-%dT%H:%M:%SZ'")


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def expand(
    sql: str,
    *,
    time_from: datetime,
    time_to: datetime,
    variables: Mapping[str, Sequence[str]],
    interval: timedelta | None = None,
) -> str:
    """``sql`` with ``$__timeFilter(col)``, ``$__timeFrom()``, ``$__timeTo()``,
    ``$__interval_ms`` (the panel's ``interval``, in whole milliseconds) and template
    variables replaced; a multi-value variable becomes quoted, comma-separated values, as
    SQL data sources format it by default (``${name:csv}`` leaves them unquoted)."""
    start, end = _timestamp(time_from), _timestamp(time_to)
    if _INTERVAL_MS.search(sql):
        if interval is None:
            raise DashboardError("$__interval_ms in a query of a panel without maxDataPoints")
        sql = _INTERVAL_MS.sub(str(interval // timedelta(milliseconds=1)), sql)

    def macro(match: re.Match[str]) -> str:
        name, argument = match.group(1), match.group(2).strip()
        if name == "timeFilter" and argument:
            return f"{argument} BETWEEN {start} AND {end}"
        if name == "timeFrom" and not argument:
            return start
        if name == "timeTo" and not argument:
            return end
        raise DashboardError(f"unsupported Grafana macro: {match.group(0)}")

    def variable(match: re.Match[str]) -> str:
        name, form = match.group(1) or match.group(3), match.group(2)
        if name not in variables:
            raise DashboardError(f"unknown template variable: {match.group(0)}")
        values = variables[name]
        if form is None or form == "sqlstring":
            return ",".join(_sql_string(v) for v in values)
        if form == "csv":
            return ",".join(values)
        raise DashboardError(f"unsupported variable format: {match.group(0)}")

    return _VARIABLE.sub(variable, _MACRO.sub(macro, sql))
