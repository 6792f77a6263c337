"""The five dashboards: real-time, business KPIs, geography, performance, system health.

Each one links to the others (keeping the time range and the project picker). Panel queries
are named files under ``sql/queries/dashboards/<board>/``.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import barchart, bargauge, dashboard, geomap, piechart, table
from grafana_foundation_sdk.builders import common as common_builder
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as model
from grafana_foundation_sdk.models import piechart as piechart_model

from ico_analytics.dashboards.panels import (
    DATASOURCE,
    PROMETHEUS,
    Sql,
    board,
    per_interval,
    project_variable,
    prom,
    reduce,
    stat_panel,
    table_panel,
    timeseries_panel,
)

SALES = "Purchases are presale participations and token purchases."
SLOW = "Slow: a page view that took more than 3 s to load."
#: Panels that read the minute counts (dataflows.rollups): whole minutes lag by the refresh.
LAG = " A minute's whole count shows up to 30 s (the refresh interval) after it is stored."
#: The dataflow's scrape job: the chart's scrape configuration and its PodMonitor (jobLabel)
#: both name it so, which is what lets the panels work with either.
DATAFLOW = 'job="dataflow"'
#: The alert forwarder's scrape job, named so by the same two (chart values monitoring.*).
FORWARDER = 'job="alert-forwarder"'
#: Counters of the ``drop_stored_copies`` step (dataflows/dedupe.py), one series per process.
LATE_DUPLICATES = f"ico_dataflow_late_duplicates_dropped_total{{{DATAFLOW}}}"
LOOKUP_RETRIES = f"ico_dataflow_duplicate_lookup_retries_total{{{DATAFLOW}}}"
#: Look-up retries in every window for this long are a failure: a database restart retries
#: for seconds and a failover for a minute or two, while a look-up that keeps failing stops
#: its process after ~2 minutes and the restarted process retries again within the window.
LOOKUP_RETRY_WINDOW = "2m"
LOOKUP_FAILING_FOR = "5m"
#: Late duplicates above this percent of the records read over the window, for this long,
#: warn of a producer re-sending (the chart's defaults too); a one-off burst of copies shorter
#: than about 10 minutes (a batch posted again) does not.
LATE_DUPLICATE_PERCENT = 5
LATE_DUPLICATE_WINDOW = "5m"
LATE_DUPLICATES_FOR = "15m"


def realtime() -> dashboard.Dashboard:
    """What is happening now: visitors, event rates, the latest purchases."""
    return (
        board(
            "ICO analytics — real-time",
            "ico-realtime",
            "Who is on the project sites right now and what they buy.",
            since="now-1h",
        )
        .refresh("10s")
        .with_variable(project_variable())
        .with_panel(
            stat_panel(
                "Active visitors (5 min)",
                "Sessions with an event in the last 5 minutes.",
                Sql("realtime/active_visitors"),
                "short",
                field="Last 5 minutes",
            ).span(6)
        )
        .with_panel(
            stat_panel(
                "Active visitors (30 min)",
                "Sessions with an event in the last 30 minutes.",
                Sql("realtime/active_visitors"),
                "short",
                field="Last 30 minutes",
            ).span(6)
        )
        .with_panel(
            per_interval(
                timeseries_panel(
                    "Events per second",
                    "Stored events per second by kind, averaged over each interval of event time"
                    f" (a minute up to a day's range).{LAG}",
                    Sql("realtime/events_per_second", "time_series"),
                    "reqps",
                )
            )
            .height(4)
            .span(12)
        )
        .with_panel(
            table_panel(
                "Latest purchases",
                f"The 20 newest purchases. {SALES}",
                Sql("realtime/latest_purchases"),
                columns={"Amount": "currencyUSD"},
            ).height(10)
        )
    )


def business() -> dashboard.Dashboard:
    """Business KPIs per project: traffic, funnel, sales against target, anomalies, audience."""
    return (
        board(
            "ICO analytics — business KPIs",
            "ico-business",
            "Traffic, the token-sale funnel and sales of the ICO project sites.",
            since="now-6h",
        )
        .with_variable(project_variable())
        .with_row(dashboard.Row("Totals in the range"))
        .with_panel(
            stat_panel(
                "Sessions",
                "Sessions started in the range; 30 minutes without an event ends one.",
                Sql("business/visitors"),
                "short",
            )
        )
        .with_panel(
            stat_panel(
                "Page views",
                "Page views in the 5-minute windows that start in the range.",
                Sql("business/totals"),
                "short",
                field="Page views",
            )
        )
        .with_panel(
            stat_panel(
                "Registrations",
                "Registrations in the 5-minute windows that start in the range.",
                Sql("business/totals"),
                "short",
                field="Registrations",
            )
        )
        .with_panel(
            stat_panel("Purchases", SALES, Sql("business/totals"), "short", field="Purchases")
        )
        .with_panel(
            stat_panel("Revenue", SALES, Sql("business/totals"), "currencyUSD", field="Revenue")
        )
        .with_panel(
            stat_panel(
                "Buyer conversion",
                "Share of the sessions started in the range that bought tokens.",
                Sql("business/buyer_conversion"),
                "percent",
            ).decimals(2)
        )
        .with_row(dashboard.Row("Funnel and sales"))
        .with_panel(
            bargauge.Panel()
            .title("Token-sale funnel")
            .description("Sessions started in the range reaching each step within the session.")
            .datasource(DATASOURCE)
            .with_target(Sql("business/funnel"))
            .unit("short")
            .height(8)
            .span(8)
            .orientation(common.VizOrientation.HORIZONTAL)
            .display_mode(common.BarGaugeDisplayMode.GRADIENT)
            .reduce_options(reduce([], "Sessions", values=True))
        )
        .with_panel(
            table_panel(
                "Funnel conversion rates",
                "Each step's sessions in percent of the step before and of the visitors.",
                Sql("business/funnel"),
                span=16,
                columns={"Of previous step": ("percent", 2), "Of visitors": ("percent", 2)},
            )
        )
        .with_panel(
            timeseries_panel(
                "Revenue and purchases per hour",
                SALES,
                Sql("business/revenue_hourly", "time_series"),
                "currencyUSD",
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
        .with_panel(
            timeseries_panel(
                "Revenue per day against target raise",
                "Revenue per UTC day, and what it is of the selected projects' target raise.",
                Sql("business/revenue_daily", "time_series"),
                "currencyUSD",
            )
            .draw_style(common.GraphDrawStyle.BARS)
            .override_by_name(
                "Of target raise",
                [
                    model.DynamicConfigValue(id_val="unit", value="percent"),
                    model.DynamicConfigValue(id_val="custom.axisPlacement", value="right"),
                    model.DynamicConfigValue(id_val="custom.drawStyle", value="points"),
                ],
            )
        )
        .with_row(dashboard.Row("Projects"))
        .with_panel(
            table_panel(
                "Project leaderboard",
                "Per project: sessions started and 5-minute windows in the range. Raise progress is "
                "revenue against the target raise.",
                Sql("business/leaderboard"),
                columns={
                    "Revenue": "currencyUSD",
                    "Raise progress": ("percent", 2),
                    "Avg page load": ("s", 2),
                },
            ).height(10)
        )
        .with_panel(
            table_panel(
                "Daily KPIs",
                "Whole UTC days touching the range, from the daily KPIs the maintenance job "
                "refreshes: today's row is as of its last refresh.",
                Sql("business/daily_kpis"),
                columns={
                    "Revenue": "currencyUSD",
                    "Bounce rate": ("percent", 1),
                    "Buyer conversion": ("percent", 2),
                },
            ).height(8)
        )
        .with_panel(
            table_panel(
                "Landing-page experiments",
                "Since each experiment started, not only the range: visitors are site session "
                "ids, split by the md5 rule; B's row has the lift, the z-test p-value and the "
                "95% interval of the difference in rate (points).",
                Sql("business/experiments"),
                columns={
                    "Rate": ("percent", 2),
                    "Lift": ("percent", 1),
                    "p-value": ("none", 4),
                    "Difference from": ("none", 2),
                    "Difference to": ("none", 2),
                },
            ).height(10)
        )
        .with_panel(
            table_panel(
                "Anomalies",
                "5-minute windows whose events, registrations or revenue were far from the "
                "project's 12 windows before (|score| of 4 or more).",
                Sql("business/anomalies"),
            ).override_by_name("Score", [model.DynamicConfigValue(id_val="decimals", value=1)])
        )
        .with_row(dashboard.Row("Audience and traffic"))
        .with_panel(
            piechart.Panel()
            .title("Devices")
            .description("Sessions started in the range by device type.")
            .datasource(DATASOURCE)
            .with_target(Sql("business/devices"))
            .height(8)
            .span(6)
            .pie_type(piechart_model.PieChartType.DONUT)
            .reduce_options(reduce([], None, values=True))
        )
        .with_panel(
            barchart.Panel()
            .title("Traffic sources")
            .description("Sessions started in the range by the source they arrived from.")
            .datasource(DATASOURCE)
            .with_target(Sql("business/traffic_sources"))
            .height(8)
            .span(6)
            .orientation(common.VizOrientation.HORIZONTAL)
        )
        .with_panel(
            timeseries_panel(
                "Page views and sessions",
                "Per 5-minute window; a session counts once per project it visits.",
                Sql("business/traffic", "time_series"),
                "short",
            )
        )
        .with_panel(
            timeseries_panel(
                "Events by project",
                "Valid, de-duplicated events per 5-minute window of event time.",
                Sql("business/events_by_project", "time_series"),
                "short",
                span=24,
            )
        )
        .with_row(dashboard.Row("Leads and conversion"))
        .with_panel(
            table_panel(
                "Leads",
                "Registrations per project and traffic source of the session they signed up in, "
                "over the whole UTC days touching the range: the share that completed KYC, "
                "consented to marketing, and of each verification tier.",
                Sql("business/leads"),
                span=12,
                columns={
                    "KYC completed": ("percent", 1),
                    "Consenting": ("percent", 1),
                    "Basic tier": ("percent", 1),
                    "Advanced tier": ("percent", 1),
                    "Premium tier": ("percent", 1),
                },
            ).height(10)
        )
        .with_panel(
            table_panel(
                "Time to convert",
                "Users per project and UTC sign-up day touching the range whose first purchase "
                "came within 1 and 7 days of signing up, in any later visit, and the median and "
                "p90 hours to it. A day under 7 days old is still filling: its window is open "
                "and its figures are not final. Refreshed with the daily KPIs (every 15 minutes "
                "in the chart).",
                Sql("business/time_to_convert"),
                span=12,
                columns={
                    "Bought within 1 day": ("percent", 1),
                    "Bought within 7 days": ("percent", 1),
                    "Median hours": ("none", 2),
                    "p90 hours": ("none", 2),
                },
            ).height(10)
        )
    )


def _geography_table(title: str, name: str) -> table.Panel:
    shifts = ("Sessions shift", "Registrations shift", "Revenue shift")
    return table_panel(
        title,
        "In the range, and the shift in percent against the period of the same length before "
        "it. A purchase counts where its session browsed from.",
        Sql(name),
        columns={"Revenue": "currencyUSD", **dict.fromkeys(shifts, ("percent", 1))},
    ).height(10)


def geography() -> dashboard.Dashboard:
    """Where visitors, registrations and revenue come from, against the period before."""
    location = (
        common_builder.FrameGeometrySource()
        .mode(common.FrameGeometrySourceMode.LOOKUP)
        .lookup("Country")
        .gazetteer("public/gazetteer/countries.json")
    )
    markers = (
        common_builder.MapLayerOptions()
        .type("markers")
        .name("Sessions")
        .location(location)
        .tooltip(True)
        .config(
            {
                "showLegend": True,
                "style": {
                    "size": {"field": "Sessions", "min": 4, "max": 30, "fixed": 5},
                    "color": {"field": "Sessions"},
                    "opacity": 0.6,
                },
            }
        )
    )
    return (
        board(
            "ICO analytics — geography",
            "ico-geography",
            "Traffic, registrations and revenue by country and region.",
            since="now-6h",
        )
        .with_variable(project_variable())
        .with_panel(
            geomap.Panel()
            .title("Sessions by country")
            .description("Sessions started in the range, one marker per country.")
            .datasource(DATASOURCE)
            .with_target(Sql("geography/countries"))
            .height(12)
            .span(14)
            .layers([markers])
            .view(geomap.MapViewConfig().id("zero").zoom(1))
        )
        .with_panel(_geography_table("Regions", "geography/regions").height(12).span(10))
        .with_panel(_geography_table("Countries", "geography/countries").height(12))
    )


def _percentiles(title: str, name: str) -> table.Panel:
    return table_panel(
        title,
        f"Page load percentiles of the page views in the range. {SLOW}",
        Sql(name),
        span=8,
        columns={**dict.fromkeys(("p50", "p95", "p99"), ("s", 2)), "Slow share": ("percent", 1)},
    ).height(10)


def performance() -> dashboard.Dashboard:
    """Page speed and data quality: load percentiles, slow pages, refused records."""
    return (
        board(
            "ICO analytics — performance",
            "ico-performance",
            "How fast the project sites load, and which records the pipeline refuses.",
            since="now-6h",
        )
        .with_variable(project_variable())
        .with_row(dashboard.Row("Page load"))
        .with_panel(_percentiles("Page load by project", "performance/page_load_by_project"))
        .with_panel(_percentiles("Page load by page type", "performance/page_load_by_page_type"))
        .with_panel(_percentiles("Page load by device", "performance/page_load_by_device"))
        .with_panel(
            timeseries_panel(
                "Page load time",
                "Mean over page views, and the worst project's 95th percentile, per 5 minutes.",
                Sql("performance/page_load_trend", "time_series"),
                "s",
            )
        )
        .with_panel(
            per_interval(
                timeseries_panel(
                    "Slow pages",
                    "Share of page views per interval of event time (a minute up to a day's"
                    f" range). {SLOW}{LAG}",
                    Sql("performance/slow_pages", "time_series"),
                    "percent",
                )
            )
        )
        .with_row(dashboard.Row("Data quality"))
        .with_panel(
            stat_panel(
                "Dead letters",
                "Records refused (undecodable or invalid) and first stored in the range.",
                Sql("performance/dead_letters_total"),
                "short",
            ).height(8)
        )
        .with_panel(
            per_interval(
                timeseries_panel(
                    "Rejections by source",
                    "Records refused per minute of arrival, averaged over each interval (a minute"
                    " up to a day's range), by the topic they came from.",
                    Sql("performance/rejections_by_source", "time_series"),
                    "short",
                    span=20,
                )
            ).draw_style(common.GraphDrawStyle.BARS)
        )
        .with_panel(
            table_panel(
                "Why records were refused",
                "The most frequent reasons in the range, numbers and quoted text folded.",
                Sql("performance/dead_letter_reasons"),
            )
        )
    )


def sink_stalled_seconds(by: str) -> str:
    """PromQL: seconds since which each sink worker holds uncommitted rows, the largest ``by``
    the given labels. The gauge is a Unix time, 0 while a worker holds none: that is 0 here,
    not ``time()``, so an idle sink is a series of zeros rather than no series."""
    pending = f"ico_dataflow_sink_pending_since_seconds{{{DATAFLOW}}}"
    return f"max{by} ((time() - {pending}) * ({pending} > bool 0))"


def forwarder_held_seconds() -> str:
    """PromQL: seconds since which the alert forwarder holds alerts no Alertmanager accepted
    yet (its rule IcoAlertForwarderFailing's first half); 0 while it holds none."""
    pending = f"ico_alert_forwarder_pending_since_seconds{{{FORWARDER}}}"
    return f"max((time() - {pending}) * ({pending} > bool 0))"


def lookup_retries(window: str) -> str:
    """PromQL: look-up retries of the stored-copies step per dataflow pod within ``window``."""
    return f"sum by (pod) (increase({LOOKUP_RETRIES}[{window}]))"


def late_duplicate_percent() -> str:
    """PromQL: late duplicates in percent of the records the dataflow decoded, over
    ``LATE_DUPLICATE_WINDOW``; no series while it reads nothing (no share to judge)."""
    window = LATE_DUPLICATE_WINDOW
    decoded = f"ico_dataflow_events_decoded_total{{{DATAFLOW}}}"
    return f"100 * sum(rate({LATE_DUPLICATES}[{window}])) / (sum(rate({decoded}[{window}])) > 0)"


def system() -> dashboard.Dashboard:
    """The pipeline's health from Prometheus (lag, processes, throughput, retries, the alert
    forwarder) and from PostgreSQL (freshness, connections, size)."""
    rate = "[$__rate_interval]"
    return (
        board(
            "ICO analytics — system health",
            "ico-system",
            "Is the pipeline keeping up: Kafka lag, dataflow processes, throughput, the database.",
            since="now-1h",
        )
        .with_row(dashboard.Row("Dataflow (Prometheus)"))
        # Four stats in half the width: the consumer lag graph fits beside them.
        .with_panel(
            stat_panel(
                "Dataflow processes up",
                "Dataflow processes Prometheus reaches; the Bytewax cluster needs all of them.",
                prom(f"sum(up{{{DATAFLOW}}})", "up", instant=True),
                "short",
                datasource=PROMETHEUS,
            ).span(3)
        )
        .with_panel(
            stat_panel(
                "Since the last snapshot",
                "Seconds since the dataflow's input last saved its Kafka offsets to recovery "
                "(to within the minute the increase is measured over).",
                prom(
                    "time() - max(max_over_time(timestamp(increase("
                    f'bytewax_snapshot_duration_seconds_count{{{DATAFLOW},step_id="ico_analytics.input"}}'
                    "[1m]) > 0)[1h:15s]))",
                    "age",
                    instant=True,
                ),
                "s",
                datasource=PROMETHEUS,
            ).span(3)
        )
        .with_panel(
            stat_panel(
                "Sink retries",
                "PostgreSQL writes retried in the range (the database refused or was away).",
                prom(
                    f"sum(increase(ico_dataflow_sink_retries_total{{{DATAFLOW}}}[$__range]))",
                    "retries",
                    instant=True,
                ),
                "short",
                datasource=PROMETHEUS,
            ).span(3)
        )
        .with_panel(
            stat_panel(
                "Sink stalled for",
                "Longest time a PostgreSQL sink worker has held rows without committing any; 0 "
                "while every one commits. Its liveness probe restarts a process stalled for "
                "dataflow.liveness.sinkStallSeconds (300 s).",
                prom(sink_stalled_seconds(""), "stalled", instant=True),
                "s",
                datasource=PROMETHEUS,
            ).span(3)
        )
        .with_panel(
            timeseries_panel(
                "Kafka consumer lag",
                "Records not yet read, per topic and partition.",
                prom(
                    f"max by (topic, partition) (bytewax_kafka_consumer_lag{{{DATAFLOW}}})",
                    "{{topic}}/{{partition}}",
                ),
                "short",
                datasource=PROMETHEUS,
            )
        )
        .with_panel(
            timeseries_panel(
                "Events in and rows out",
                "Records read from Kafka and rows handed to the PostgreSQL sink, per second.",
                prom(
                    "sum(rate(bytewax_item_out_count_total"
                    f'{{{DATAFLOW},step_id="ico_analytics.input"}}{rate}))',
                    "events in",
                ),
                "reqps",
                datasource=PROMETHEUS,
            ).with_target(
                prom(
                    "sum(rate(bytewax_item_inp_count_total"
                    f'{{{DATAFLOW},step_id="ico_analytics.postgres"}}{rate}))',
                    "rows out",
                    ref_id="B",
                )
            )
        )
        .with_panel(
            timeseries_panel(
                "Dead letters per second",
                "Records refused by the dataflow, by the stage that refused them.",
                prom(
                    f"sum by (stage) (rate(ico_dataflow_dead_letters_total{{{DATAFLOW}}}{rate}))",
                    "{{stage}}",
                ),
                "reqps",
                datasource=PROMETHEUS,
            )
        )
        .with_panel(
            timeseries_panel(
                "Duplicates dropped per second",
                "Copies of events the dataflow dropped, per process: late ones, whose first copy "
                "was already stored (found in the raw tables from other Kafka coordinates), and "
                "those still in flight (remembered for DEDUPE_TTL_SECONDS). The stored data "
                "stays exact either way; this shows how much is sent twice. An idempotent "
                "producer sends next to none. A rise means a producer retries or re-sends: check "
                "its acks, time-outs and enable.idempotence and the brokers' health; late copies "
                "alone rising point at something re-sending long after the fact (a client "
                "re-posting a batch, a replayed topic). The warning 'Late duplicates above "
                f"{LATE_DUPLICATE_PERCENT}%' (IcoLateDuplicatesHigh) fires when late ones stay "
                f"above {LATE_DUPLICATE_PERCENT}% of the records read.",
                prom(
                    f"sum by (pod) (rate({LATE_DUPLICATES}{rate}))",
                    "{{pod}} late (already stored)",
                ),
                "reqps",
                datasource=PROMETHEUS,
            ).with_target(
                prom(
                    f"sum by (pod) (rate(ico_dataflow_duplicates_dropped_total{{{DATAFLOW}}}"
                    f"{rate}))",
                    "{{pod}} in flight",
                    ref_id="B",
                )
            )
        )
        .with_panel(
            timeseries_panel(
                "Duplicate look-up retries per second",
                "Retries of the PostgreSQL look-up of stored copies (step drop_stored_copies), "
                "per process: the database refused or dropped the connection, or cancelled the "
                "query (statement or lock time-out). The batch waits meanwhile, nothing passes "
                "unchecked and that worker processes nothing. A short burst during a "
                "PostgreSQL restart or failover is normal. If they go on: read the dataflow's "
                "log ('Looking up stored copies failed ... retrying') for the error, then check "
                "the database (up, connections left, locks on the raw tables). After about 2 "
                "minutes of failures the process stops and restarts; 'Duplicate look-up "
                f"failing' (IcoDuplicateLookupFailing) fires after {LOOKUP_FAILING_FOR} of them.",
                prom(f"sum by (pod) (rate({LOOKUP_RETRIES}{rate}))", "{{pod}}"),
                "reqps",
                datasource=PROMETHEUS,
            )
        )
        .with_panel(
            timeseries_panel(
                "Generator events per second",
                "Events the generator produced, by kind (the load the dataflow sees).",
                prom(
                    'sum by (event_type) (rate(ico_generator_events_total{job="generator"}'
                    f"{rate}))",
                    "{{event_type}}",
                ),
                "reqps",
                24,
                datasource=PROMETHEUS,
            )
        )
        .with_row(dashboard.Row("Alert forwarder (Prometheus)"))
        .with_panel(
            stat_panel(
                "Alert forwarder up",
                "Alert forwarder processes Prometheus reaches (one when monitoring.alertmanager.url "
                "is set); without it the dataflow's anomalies reach no one.",
                prom(f"sum(up{{{FORWARDER}}})", "up", instant=True),
                "short",
                datasource=PROMETHEUS,
            ).span(6)
        )
        .with_panel(
            stat_panel(
                "Alerts held for",
                "How long the forwarder has held consumed alerts that not every Alertmanager "
                "accepted yet (it retries them); 0 while it holds none. IcoAlertForwarderFailing "
                "fires past monitoring.rules.alertForwarderStalledSeconds.",
                prom(forwarder_held_seconds(), "held", instant=True),
                "s",
                datasource=PROMETHEUS,
            ).span(6)
        )
        .with_panel(
            stat_panel(
                "Since the forwarder's last commit",
                "Seconds since it last committed a batch every Alertmanager accepted. It commits "
                "only when anomalies arrive: a long time is normal while none is flagged, "
                "and there is no data until its first batch since it started.",
                prom(
                    f"time() - max(ico_alert_forwarder_last_commit_timestamp_seconds{{{FORWARDER}}}"
                    " > 0)",
                    "age",
                    instant=True,
                ),
                "s",
                datasource=PROMETHEUS,
            ).span(6)
        )
        .with_panel(
            stat_panel(
                "Alert messages skipped",
                "Messages of the alerts topic in the range that did not decode as an alert: "
                "committed without reaching anyone (its log names the reason).",
                prom(
                    "sum(increase(ico_alert_forwarder_messages_skipped_total"
                    f"{{{FORWARDER}}}[$__range]))",
                    "skipped",
                    instant=True,
                ),
                "short",
                datasource=PROMETHEUS,
            ).span(6)
        )
        .with_panel(
            timeseries_panel(
                "Alerts forwarded and POSTs refused per second",
                "Alerts every Alertmanager accepted, and POSTs of a batch each Alertmanager did "
                "not accept (down or refusing; the batch is retried, not lost).",
                prom(
                    f"sum(rate(ico_alert_forwarder_alerts_forwarded_total{{{FORWARDER}}}{rate}))",
                    "forwarded",
                ),
                "reqps",
                24,
                datasource=PROMETHEUS,
            ).with_target(
                prom(
                    "sum by (alertmanager) (rate(ico_alert_forwarder_post_failures_total"
                    f"{{{FORWARDER}}}{rate}))",
                    "refused by {{alertmanager}}",
                    ref_id="B",
                )
            )
        )
        .with_row(dashboard.Row("Database (PostgreSQL)"))
        .with_panel(
            table_panel(
                "Freshness",
                "Seconds between now and the newest stored event of each kind.",
                Sql("system/freshness"),
                span=8,
                columns={"Seconds behind": ("s", 1)},
            )
        )
        .with_panel(
            table_panel(
                "PostgreSQL connections",
                "Connections to the pipeline's database by state (pg_stat_activity).",
                Sql("system/connections"),
                span=8,
            )
        )
        .with_panel(
            stat_panel(
                "Database size",
                "On-disk size of the pipeline's database.",
                Sql("system/database_size"),
                "bytes",
            )
            .height(8)
            .span(8)
        )
        .with_panel(
            per_interval(
                timeseries_panel(
                    "Stored events per minute",
                    "By kind, per minute of event time averaged over each interval (a minute up"
                    f" to a day's range).{LAG}",
                    Sql("system/stored_per_minute", "time_series"),
                    "short",
                )
            )
        )
        .with_panel(
            table_panel(
                "Data lineage",
                "Which step writes which table from which source.",
                Sql("system/lineage"),
                span=12,
            )
        )
    )


ALL = (realtime, business, geography, performance, system)
