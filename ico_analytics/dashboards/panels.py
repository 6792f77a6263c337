"""Data sources, query targets and panel shapes the dashboards share.

SQL targets are named queries (``sql/queries/dashboards/<name>.sql``) on the PostgreSQL data
source ``ico-postgres``; PromQL targets read the Prometheus data source ``ico-prometheus``. Both
uids are fixed: the chart provisions the data sources under them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from grafana_foundation_sdk.builders import common as common_builder
from grafana_foundation_sdk.builders import dashboard, prometheus, stat, table, timeseries
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as model

from ico_core.db import query

DATASOURCE_UID = "ico-postgres"
DATASOURCE_TYPE = "grafana-postgresql-datasource"
DATASOURCE = common.DataSourceRef(type_val=DATASOURCE_TYPE, uid=DATASOURCE_UID)
PROMETHEUS_UID = "ico-prometheus"
PROMETHEUS = common.DataSourceRef(type_val="prometheus", uid=PROMETHEUS_UID)
#: Every dashboard carries it; the links between them are "dashboards with this tag".
TAG = "ico-analytics"

Format = Literal["table", "time_series"]


class SqlQuery(variants.Dataquery):
    """A raw-SQL target of Grafana's PostgreSQL data source (the SDK ships no builder for it)."""

    def __init__(self, ref_id: str, raw_sql: str, fmt: Format) -> None:
        self.ref_id, self.raw_sql, self.fmt = ref_id, raw_sql, fmt

    def to_json(self) -> dict[str, object]:
        return {
            "datasource": DATASOURCE.to_json(),
            "editorMode": "code",
            "format": self.fmt,
            "rawQuery": True,
            "rawSql": self.raw_sql,
            "refId": self.ref_id,
        }


class Sql(cogbuilder.Builder[variants.Dataquery]):
    """The named query ``dashboards/<name>`` as a panel or alert target."""

    def __init__(self, name: str, fmt: Format = "table", ref_id: str = "A") -> None:
        self._query = SqlQuery(ref_id, query(f"dashboards/{name}").strip(), fmt)

    def build(self) -> SqlQuery:
        return self._query


def prom(
    expr: str, legend: str, *, instant: bool = False, ref_id: str = "A"
) -> prometheus.Dataquery:
    """A PromQL target; ``legend`` is Grafana's legend format (``{{label}}``)."""
    target = (
        prometheus.Dataquery()
        .datasource(PROMETHEUS)
        .expr(expr)
        .legend_format(legend)
        .ref_id(ref_id)
    )
    return target.instant() if instant else target.range()


def project_variable() -> dashboard.QueryVariable:
    return (
        dashboard.QueryVariable("project")
        .label("Project")
        .datasource(DATASOURCE)
        .query(query("dashboards/projects_variable").strip())
        .multi(True)
        .include_all(True)
        .current(model.VariableOption(selected=True, text=["All"], value=["$__all"]))
        .refresh(model.VariableRefresh.ON_DASHBOARD_LOAD)
        .sort(model.VariableSort.NUMERICAL_ASC)
    )


def board(title: str, uid: str, description: str, *, since: str) -> dashboard.Dashboard:
    """A dashboard of the family: tagged, linked to the others, keeping time and project."""
    return (
        dashboard.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags([TAG])
        .refresh("30s")
        .time(since, "now")
        .timezone("browser")
        .tooltip(model.DashboardCursorSync.CROSSHAIR)
        .link(
            dashboard.DashboardLink("ICO analytics")
            .type(model.DashboardLinkType.DASHBOARDS)
            .tags([TAG])
            .as_dropdown(False)
            .include_vars(True)
            .keep_time(True)
        )
    )


def reduce(
    calcs: list[str], field: str | None, *, values: bool = False
) -> common_builder.ReduceDataOptions:
    """Which field a single-value panel shows: ``field`` only, else every numeric one; with
    ``values`` one bar or slice per row rather than one reduced number."""
    return (
        common_builder.ReduceDataOptions()
        .calcs(calcs)
        .fields(f"/^{field}$/" if field else "")
        .values(values)
    )


def stat_panel(
    title: str,
    description: str,
    target: cogbuilder.Builder[variants.Dataquery],
    unit: str,
    field: str | None = None,
    *,
    datasource: common.DataSourceRef = DATASOURCE,
) -> stat.Panel:
    return (
        stat.Panel()
        .title(title)
        .description(description)
        .datasource(datasource)
        .with_target(target)
        .unit(unit)
        .height(4)
        .span(4)
        .graph_mode(common.BigValueGraphMode.NONE)
        .reduce_options(reduce(["lastNotNull"], field))
    )


def timeseries_panel(
    title: str,
    description: str,
    target: cogbuilder.Builder[variants.Dataquery],
    unit: str,
    span: int = 12,
    *,
    datasource: common.DataSourceRef = DATASOURCE,
) -> timeseries.Panel:
    return (
        timeseries.Panel()
        .title(title)
        .description(description)
        .datasource(datasource)
        .with_target(target)
        .unit(unit)
        .height(8)
        .span(span)
        .line_width(1)
        .fill_opacity(10)
    )


#: Points a time series grouped by Grafana's interval asks for: ``$__interval`` is the range over
#: this, rounded (1 minute up to a day's range, 10 minutes at 7 days), and at least a minute,
#: whatever the panel's width.
MAX_POINTS = 1200
MIN_INTERVAL = "1m"


def per_interval(panel: timeseries.Panel) -> timeseries.Panel:
    """``panel``, whose query groups by ``$__interval_ms``, with a fixed number of points."""
    return panel.max_data_points(MAX_POINTS).interval(MIN_INTERVAL)


#: A table column's unit, or its unit and decimals.
ColumnUnit = str | tuple[str, int]


def table_panel(
    title: str,
    description: str,
    target: Sql,
    span: int = 24,
    *,
    columns: Mapping[str, ColumnUnit] | None = None,
) -> table.Panel:
    """A table; ``columns`` gives named columns a unit (and decimals)."""
    panel = (
        table.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .with_target(target)
        .height(8)
        .span(span)
    )
    for name, unit in (columns or {}).items():
        unit, decimals = (unit, None) if isinstance(unit, str) else unit
        config = [model.DynamicConfigValue(id_val="unit", value=unit)]
        if decimals is not None:
            config.append(model.DynamicConfigValue(id_val="decimals", value=decimals))
        panel = panel.override_by_name(name, config)
    return panel
