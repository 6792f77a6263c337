"""Grafana's PostgreSQL macros and template variables, expanded the way Grafana expands them.

Grafana cannot run here, so ``dashboards preview`` and the tests turn each panel's query into
the SQL the data source would send, then run it on PostgreSQL. Only what our dashboards use is
supported; anything else is an error rather than a query that silently means something else.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from ico_core.errors import DashboardError

_MACRO = re.compile(r"\$__(\w+)\(([^()]*)\)")
# ${name}, ${name:format} or $name; Grafana's [[name]] syntax is deprecated and not used.
_VARIABLE = re.compile(r"\$\{(\w+)(?::(\w+))?\}|\$(\w+)")


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
) -> str:
    """``sql`` with ``$__timeFilter(col)``, ``$__timeFrom()``, ``$__timeTo()`` and template
    variables replaced; a multi-value variable becomes quoted, comma-separated values, as
    SQL data sources format it by default (``${name:csv}`` leaves them unquoted)."""
    start, end = _timestamp(time_from), _timestamp(time_to)

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
