"""Grafana alert rules: the users' runbook thresholds and the pipeline's own checks.

SQL rules read the PostgreSQL data source, PromQL rules the Prometheus one; Grafana evaluates
them every minute. Consumer lag, dataflow down, the stalled sink, the failing duplicate
look-up, late duplicates and dead letters are also rules of the chart's PrometheusRule for
Alertmanager (``helm/ico-analytics/templates/_monitoring.tpl``); the chart's
``notifications.via`` keeps one of the two so that a person is told once, and its
``ico-analytics.sharedSignals`` names these rules by the uids below.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from grafana_foundation_sdk.builders import alerting as alert
from grafana_foundation_sdk.builders import expr
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import alerting as alert_model

from ico_analytics.dashboards.boards import (
    DATAFLOW,
    LATE_DUPLICATE_PERCENT,
    LATE_DUPLICATE_WINDOW,
    LATE_DUPLICATES_FOR,
    LOOKUP_FAILING_FOR,
    LOOKUP_RETRY_WINDOW,
    late_duplicate_percent,
    lookup_retries,
    sink_stalled_seconds,
)
from ico_analytics.dashboards.panels import DATASOURCE_UID, PROMETHEUS_UID, Sql, prom

FOLDER = "ICO analytics"
NoData = Literal["OK", "Alerting", "NoData", "KeepLast"]
#: The runbook's consumer-lag threshold, in records (the chart's default too).
CONSUMER_LAG_THRESHOLD = 10_000
#: Seconds a sink worker may hold rows without a commit (the chart's default too): past the
#: sink's own retries (about 2 minutes), before its liveness probe restarts it (300 s).
SINK_STALL_THRESHOLD = 120


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
    target: cogbuilder.Builder[variants.Dataquery],
    threshold: alert.Query,
    *,
    lookback_seconds: int,
    for_: str,
    no_data: NoData,
    severity: str,
) -> alert.Rule:
    """A rule on query A (a ``Sql`` or ``prom`` target) and the threshold C on it."""
    datasource = DATASOURCE_UID if isinstance(target, Sql) else PROMETHEUS_UID
    return (
        alert.Rule(title)
        .uid(uid)
        .condition("C")
        .with_query(
            alert.Query("A")
            .datasource_uid(datasource)
            .relative_time_range(alert_model.RelativeTimeRange(from_val=lookback_seconds, to=0))
            .model(target)
        )
        .with_query(threshold)
        .for_val(for_)
        .no_data_state(no_data)
        .exec_err_state("Error")
        .annotations({"summary": summary})
        .labels({"severity": severity, "team": "ico-analytics"})
    )


def alert_rules() -> list[alert.Rule]:
    """The runbook's three (lag, dataflow down, revenue against its baseline) with the stalled
    sink and the de-duplication's look-up and late copies, then the pipeline's own checks on
    its output."""
    return [
        _rule(
            "ico-consumer-lag",
            "Kafka consumer lag above 10,000",
            "The dataflow has stayed more than 10,000 records behind on a topic partition for 5 "
            "minutes; the system health dashboard shows which. Add dataflow processes or find "
            "what slows the sink.",
            prom(
                f"max by (topic, partition) (bytewax_kafka_consumer_lag{{{DATAFLOW}}})",
                "{{topic}}/{{partition}}",
                instant=True,
            ),
            _threshold("A", "gt", CONSUMER_LAG_THRESHOLD),
            lookback_seconds=600,
            for_="5m",
            no_data="OK",
            severity="warning",
        ),
        _rule(
            "ico-dataflow-down",
            "Dataflow down",
            "A dataflow process has not answered Prometheus for a minute (or none is scraped); "
            "the Bytewax cluster processes nothing without all of them.",
            prom(f"min(up{{{DATAFLOW}}})", "up", instant=True),
            _threshold("A", "lt", 1),
            lookback_seconds=600,
            for_="1m",
            no_data="Alerting",
            severity="critical",
        ),
        _rule(
            "ico-sink-stalled",
            "PostgreSQL sink stalled",
            "A dataflow sink worker has held rows for more than 2 minutes without committing "
            "any: nothing new is stored. The liveness probe restarts it at 5 minutes; see the "
            "dataflow's log and the database.",
            prom(sink_stalled_seconds(" by (pod, step)"), "{{pod}}/{{step}}", instant=True),
            _threshold("A", "gt", SINK_STALL_THRESHOLD),
            lookback_seconds=600,
            for_="1m",
            no_data="OK",
            severity="critical",
        ),
        _rule(
            "ico-duplicate-lookup-failing",
            "Duplicate look-up failing",
            "A dataflow process has retried its look-up of stored copies (late duplicates) in "
            f"PostgreSQL at least once in every {LOOKUP_RETRY_WINDOW} for {LOOKUP_FAILING_FOR}: its "
            "batches wait, or it stops after 2 minutes and restarts into the same failure. See "
            "its log ('Looking up stored copies failed') for the error, then the database: up, "
            "connections left, locks on the raw tables. The system health dashboard shows "
            "which process.",
            prom(lookup_retries(LOOKUP_RETRY_WINDOW), "{{pod}}", instant=True),
            _threshold("A", "gt", 0),
            lookback_seconds=600,
            for_=LOOKUP_FAILING_FOR,
            no_data="OK",
            severity="critical",
        ),
        _rule(
            "ico-late-duplicates-high",
            f"Late duplicates above {LATE_DUPLICATE_PERCENT}%",
            f"Copies of events already stored have been more than {LATE_DUPLICATE_PERCENT}% of "
            f"the records the dataflow read (rate over {LATE_DUPLICATE_WINDOW}) for "
            f"{LATE_DUPLICATES_FOR}. They are dropped and the data stays exact, so this only "
            "warns: a producer is retrying or re-sending a lot (slow broker acks, a "
            "non-idempotent client, a re-posted batch), which wastes throughput and often "
            "comes before records lost at the producer. Check its delivery errors and "
            "retries, and the brokers.",
            prom(late_duplicate_percent(), "late duplicates", instant=True),
            _threshold("A", "gt", LATE_DUPLICATE_PERCENT),
            lookback_seconds=1800,
            for_=LATE_DUPLICATES_FOR,
            no_data="OK",
            severity="warning",
        ),
        _rule(
            "ico-revenue-below-baseline",
            "Revenue below 80% of its baseline",
            "The last 24 hours' revenue has been under 80% of the mean of the 24-hour periods "
            "of the week before for 15 minutes; the business dashboard shows which projects.",
            Sql("alerts/revenue_vs_baseline"),
            _threshold("A", "lt", 80),
            lookback_seconds=8 * 86_400,
            for_="15m",
            no_data="OK",
            severity="warning",
        ),
        _rule(
            "ico-events-stalled",
            "Events stopped arriving",
            "No clickstream event newer than 10 minutes is stored: the generator, Kafka or the "
            "dataflow has stopped.",
            Sql("alerts/seconds_since_last_event"),
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
            "performance dashboard's 'Why records were refused' table lists why.",
            Sql("alerts/dead_letter_share"),
            _threshold("A", "gt", 5),
            lookback_seconds=600,
            for_="10m",
            no_data="OK",
            severity="warning",
        ),
        _rule(
            "ico-anomaly",
            "Anomaly in a project's traffic or sales",
            "A project's events, registrations, revenue, conversion rate or country mix in a "
            "5-minute window were far from its last hour, or its 24-hour revenue fell below 80% "
            "of its baseline; the business KPIs dashboard's Anomalies table says which.",
            Sql("alerts/anomalies_recent"),
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
            Sql("alerts/worst_p95_page_load"),
            _threshold("A", "gt", 5),
            lookback_seconds=900,
            for_="15m",
            no_data="OK",
            severity="warning",
        ),
    ]


def alert_provisioning(rules: list[alert.Rule]) -> dict[str, Any]:
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
