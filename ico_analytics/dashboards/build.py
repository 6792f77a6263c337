"""The Grafana dashboards and alert rules, built with grafana-foundation-sdk.

Each panel's SQL is a named query in ``sql/queries/dashboards/<dashboard>/<name>.sql`` with
Grafana's macros (``$__timeFilter``) and the ``$project`` variable; ``build_files()`` renders
the JSON files that ``ico-analytics dashboards build`` writes to ``grafana-dashboards/`` and the
chart provisions. Everything reads through the data source with uid ``ico-postgres``.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from grafana_foundation_sdk.builders import alerting as alert
from grafana_foundation_sdk.builders import (
    barchart,
    bargauge,
    dashboard,
    expr,
    piechart,
    stat,
    table,
    timeseries,
)
from grafana_foundation_sdk.builders import common as common_builder
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import alerting as alert_model
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as model
from grafana_foundation_sdk.models import piechart as piechart_model

from ico_core.db import query

DATASOURCE_UID = "ico-postgres"
DATASOURCE_TYPE = "grafana-postgresql-datasource"
DATASOURCE = common.DataSourceRef(type_val=DATASOURCE_TYPE, uid=DATASOURCE_UID)
FOLDER = "ICO analytics"
ALERT_RULES_FILE = "alert-rules.json"

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


def _project_variable() -> dashboard.QueryVariable:
    return (
        dashboard.QueryVariable("project")
        .label("Project")
        .datasource(DATASOURCE)
        .query(query("dashboards/overview/projects_variable").strip())
        .multi(True)
        .include_all(True)
        .current(model.VariableOption(selected=True, text=["All"], value=["$__all"]))
        .refresh(model.VariableRefresh.ON_DASHBOARD_LOAD)
        .sort(model.VariableSort.NUMERICAL_ASC)
    )


def _reduce(
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


def _stat(
    title: str, description: str, target: Sql, unit: str, field: str | None = None
) -> stat.Panel:
    return (
        stat.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .with_target(target)
        .unit(unit)
        .height(4)
        .span(4)
        .graph_mode(common.BigValueGraphMode.NONE)
        .reduce_options(_reduce(["lastNotNull"], field))
    )


def _timeseries(
    title: str, description: str, target: Sql, unit: str, span: int = 12
) -> timeseries.Panel:
    return (
        timeseries.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .with_target(target)
        .unit(unit)
        .height(8)
        .span(span)
        .line_width(1)
        .fill_opacity(10)
    )


def overview() -> dashboard.Dashboard:
    """Business KPIs per project: traffic, funnel, sales, audience, page performance."""
    sales = "Purchases are presale participations and token purchases."
    return (
        dashboard.Dashboard("ICO analytics — overview")
        .uid("ico-overview")
        .description("Live KPIs of the ICO project sites, from the ico-analytics pipeline.")
        .tags(["ico-analytics"])
        .refresh("30s")
        .time("now-6h", "now")
        .timezone("browser")
        .tooltip(model.DashboardCursorSync.CROSSHAIR)
        .with_variable(_project_variable())
        .with_row(dashboard.Row("Totals in the range"))
        .with_panel(_stat("Visitors", "Distinct sessions.", Sql("overview/visitors"), "short"))
        .with_panel(
            _stat(
                "Page views",
                "Page views in the 5-minute windows that start in the range.",
                Sql("overview/totals"),
                "short",
                field="Page views",
            )
        )
        .with_panel(
            _stat(
                "Registrations",
                "Registrations in the 5-minute windows that start in the range.",
                Sql("overview/totals"),
                "short",
                field="Registrations",
            )
        )
        .with_panel(_stat("Purchases", sales, Sql("overview/totals"), "short", field="Purchases"))
        .with_panel(_stat("Revenue", sales, Sql("overview/totals"), "currencyUSD", field="Revenue"))
        .with_panel(
            _stat(
                "Buyer conversion",
                "Share of visiting sessions that bought tokens.",
                Sql("overview/buyer_conversion"),
                "percent",
            ).decimals(2)
        )
        .with_row(dashboard.Row("Traffic"))
        .with_panel(
            _timeseries(
                "Events by project",
                "Valid, de-duplicated events per 5-minute window of event time.",
                Sql("overview/events_by_project", "time_series"),
                "short",
            )
        )
        .with_panel(
            _timeseries(
                "Page views and sessions",
                "Per 5-minute window; a session counts once per project it visits.",
                Sql("overview/traffic", "time_series"),
                "short",
            )
        )
        .with_row(dashboard.Row("Funnel and sales"))
        .with_panel(
            bargauge.Panel()
            .title("Token-sale funnel")
            .description("Sessions reaching each step in the range.")
            .datasource(DATASOURCE)
            .with_target(Sql("overview/funnel"))
            .unit("short")
            .height(8)
            .span(8)
            .orientation(common.VizOrientation.HORIZONTAL)
            .display_mode(common.BarGaugeDisplayMode.GRADIENT)
            .reduce_options(_reduce([], "Sessions", values=True))
        )
        .with_panel(
            _timeseries(
                "Revenue and purchases per hour",
                sales,
                Sql("overview/revenue_hourly", "time_series"),
                "currencyUSD",
                span=16,
            )
            .draw_style(common.GraphDrawStyle.BARS)
            .override_by_name(
                "Purchases",
                [
                    model.DynamicConfigValue(id_val="unit", value="short"),
                    model.DynamicConfigValue(id_val="custom.axisPlacement", value="right"),
                    model.DynamicConfigValue(id_val="custom.drawStyle", value="line"),
                ],
            )
        )
        .with_row(dashboard.Row("Projects"))
        .with_panel(
            table.Panel()
            .title("Project leaderboard")
            .description(
                "Per project in the range. Raise progress is revenue against the target raise."
            )
            .datasource(DATASOURCE)
            .with_target(Sql("overview/leaderboard"))
            .height(10)
            .span(24)
            .override_by_name(
                "Revenue", [model.DynamicConfigValue(id_val="unit", value="currencyUSD")]
            )
            .override_by_name(
                "Raise progress",
                [
                    model.DynamicConfigValue(id_val="unit", value="percent"),
                    model.DynamicConfigValue(id_val="decimals", value=2),
                ],
            )
            .override_by_name(
                "Avg page load",
                [
                    model.DynamicConfigValue(id_val="unit", value="s"),
                    model.DynamicConfigValue(id_val="decimals", value=2),
                ],
            )
        )
        .with_panel(
            table.Panel()
            .title("Anomalies")
            .description(
                "5-minute windows whose events, registrations or revenue were far from the "
                "project's 12 windows before (|score| of 4 or more)."
            )
            .datasource(DATASOURCE)
            .with_target(Sql("overview/anomalies"))
            .height(8)
            .span(24)
            .override_by_name("Score", [model.DynamicConfigValue(id_val="decimals", value=1)])
        )
        .with_row(dashboard.Row("Audience and performance"))
        .with_panel(
            piechart.Panel()
            .title("Devices")
            .description("Visiting sessions by device type.")
            .datasource(DATASOURCE)
            .with_target(Sql("overview/devices"))
            .height(8)
            .span(6)
            .pie_type(piechart_model.PieChartType.DONUT)
            .reduce_options(_reduce([], None, values=True))
        )
        .with_panel(
            barchart.Panel()
            .title("Top countries")
            .description("The ten countries with the most visiting sessions.")
            .datasource(DATASOURCE)
            .with_target(Sql("overview/countries"))
            .height(8)
            .span(6)
            .orientation(common.VizOrientation.HORIZONTAL)
        )
        .with_panel(
            barchart.Panel()
            .title("Traffic sources")
            .description("Visiting sessions by the source they arrived from.")
            .datasource(DATASOURCE)
            .with_target(Sql("overview/traffic_sources"))
            .height(8)
            .span(6)
            .orientation(common.VizOrientation.HORIZONTAL)
        )
        .with_panel(
            _timeseries(
                "Page load time",
                "Mean over page views, and the worst project's 95th percentile, per 5 minutes.",
                Sql("overview/page_load", "time_series"),
                "s",
                span=6,
            )
        )
    )


def pipeline() -> dashboard.Dashboard:
    """The pipeline's health: freshness, stored events, dead letters, lineage."""
    return (
        dashboard.Dashboard("ICO analytics — pipeline")
        .uid("ico-pipeline")
        .description("Is data arriving, and what is refused: the ico-analytics dataflow's output.")
        .tags(["ico-analytics"])
        .refresh("30s")
        .time("now-1h", "now")
        .timezone("browser")
        .with_panel(
            table.Panel()
            .title("Freshness")
            .description("Seconds between now and the newest stored event of each kind.")
            .datasource(DATASOURCE)
            .with_target(Sql("pipeline/freshness"))
            .height(6)
            .span(8)
            .override_by_name(
                "Seconds behind",
                [
                    model.DynamicConfigValue(id_val="unit", value="s"),
                    model.DynamicConfigValue(id_val="decimals", value=1),
                ],
            )
        )
        .with_panel(
            _stat(
                "Dead letters",
                "Records refused (undecodable or invalid) and first stored in the range.",
                Sql("pipeline/dead_letters_total"),
                "short",
            )
            .height(6)
            .span(4)
        )
        .with_panel(
            _timeseries(
                "Stored events per minute",
                "By minute of event time and kind.",
                Sql("pipeline/stored_per_minute", "time_series"),
                "short",
            ).span(12)
        )
        .with_panel(
            _timeseries(
                "Dead letters per minute",
                "By minute of arrival and the stage that refused them.",
                Sql("pipeline/dead_letters_per_minute", "time_series"),
                "short",
            ).draw_style(common.GraphDrawStyle.BARS)
        )
        .with_panel(
            table.Panel()
            .title("Why records were refused")
            .description("The most frequent reasons in the range, numbers and quoted text folded.")
            .datasource(DATASOURCE)
            .with_target(Sql("pipeline/dead_letter_reasons"))
            .height(8)
            .span(12)
        )
        .with_panel(
            table.Panel()
            .title("Data lineage")
            .description("Which step writes which table from which source.")
            .datasource(DATASOURCE)
            .with_target(Sql("pipeline/lineage"))
            .height(8)
            .span(24)
        )
    )


def _threshold(source: str, op: Literal["gt", "lt"], value: float) -> alert.Query:
    return (
        alert.Query("C")
        .datasource_uid("__expr__")
        .model(
            expr.TypeThreshold()
            .ref_id("C")
            .expression(source)
            .conditions(
                [
                    expr.ExprTypeThresholdConditions().evaluator(
                        expr.ExprTypeThresholdConditionsEvaluator().type(op).params([value])
                    )
                ]
            )
        )
    )


def _rule(
    uid: str,
    title: str,
    summary: str,
    name: str,
    threshold: alert.Query,
    *,
    lookback_seconds: int,
    for_: str,
    no_data: Literal["OK", "Alerting", "NoData", "KeepLast"],
    severity: str,
) -> alert.Rule:
    return (
        alert.Rule(title)
        .uid(uid)
        .condition("C")
        .with_query(
            alert.Query("A")
            .datasource_uid(DATASOURCE_UID)
            .relative_time_range(alert_model.RelativeTimeRange(from_val=lookback_seconds, to=0))
            .model(Sql(f"alerts/{name}"))
        )
        .with_query(threshold)
        .for_val(for_)
        .no_data_state(no_data)
        .exec_err_state("Error")
        .annotations({"summary": summary})
        .labels({"severity": severity, "team": "ico-analytics"})
    )


def alert_rules() -> list[alert.Rule]:
    """Alerts on the pipeline's output; Grafana evaluates them every minute."""
    return [
        _rule(
            "ico-events-stalled",
            "Events stopped arriving",
            "No clickstream event newer than 10 minutes is stored: the generator, Kafka or the "
            "dataflow has stopped.",
            "seconds_since_last_event",
            _threshold("A", "gt", 600),
            lookback_seconds=86_400,
            for_="5m",
            no_data="Alerting",
            severity="critical",
        ),
        _rule(
            "ico-dead-letters-high",
            "Dead letters above 5%",
            "More than 5% of the records of the last 10 minutes were refused; the "
            "'pipeline' dashboard lists why.",
            "dead_letter_share",
            _threshold("A", "gt", 5),
            lookback_seconds=600,
            for_="10m",
            no_data="OK",
            severity="warning",
        ),
        _rule(
            "ico-anomaly",
            "Anomaly in a project's traffic or sales",
            "A project's events, registrations or revenue in a 5-minute window were far from "
            "its last hour; the overview dashboard's Anomalies table says which.",
            "anomalies_recent",
            _threshold("A", "gt", 0),
            lookback_seconds=1800,
            for_="0s",
            no_data="OK",
            severity="warning",
        ),
        _rule(
            "ico-page-load-slow",
            "Page loads slow",
            "A project's 95th-percentile page load time was above 5 s in the last 15 minutes.",
            "worst_p95_page_load",
            _threshold("A", "gt", 5),
            lookback_seconds=900,
            for_="15m",
            no_data="OK",
            severity="warning",
        ),
    ]


def _alert_provisioning(rules: list[alert.Rule]) -> dict[str, Any]:
    """Grafana's file-provisioning form of one rule group."""
    return {
        "apiVersion": 1,
        "groups": [
            {
                "orgId": 1,
                "name": "ico-analytics",
                "folder": FOLDER,
                "interval": "1m",
                "rules": [_file_rule(rule) for rule in rules],
            }
        ],
    }


def _file_rule(rule: alert.Rule) -> dict[str, Any]:
    """A rule as the file form has it: the group carries the folder, group and org, which the
    API form repeats per rule."""
    encoded: dict[str, Any] = json.loads(json.dumps(rule.build(), cls=JSONEncoder))
    for api_only in ("folderUID", "orgID", "ruleGroup"):
        encoded.pop(api_only, None)
    return encoded


def _render(obj: object) -> str:
    return json.dumps(obj, cls=JSONEncoder, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _numbered(builder: dashboard.Dashboard) -> model.Dashboard:
    """The dashboard with stable panel ids in layout order (links and alerts refer to them)."""
    built = builder.build()
    for number, panel in enumerate(built.panels or [], start=1):
        panel.id_val = number
    return built


def build_files() -> dict[str, str]:
    """File name -> content of everything in ``grafana-dashboards/``."""
    files = {f"{d.uid}.json": _render(d) for d in map(_numbered, (overview(), pipeline()))}
    files[ALERT_RULES_FILE] = _render(_alert_provisioning(alert_rules()))
    return files
