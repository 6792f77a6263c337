"""The ``ico-analytics`` command line (the README documents every command)."""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from ico_core.errors import ConfigError, IcoAnalyticsError
from ico_core.settings import get_settings

app = typer.Typer(help="Real-time analytics for ICO token-sale websites.", no_args_is_help=True)


@app.callback()
def _main(verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


@app.command()
def demo(
    duration: Annotated[float | None, typer.Option(help="Stop after this many seconds.")] = None,
    rate: Annotated[
        int | None, typer.Option(help="Events per minute (default EVENTS_PER_MINUTE).")
    ] = None,
    database_url: Annotated[
        str | None,
        typer.Option(help="Use this PostgreSQL, not the local one in ICO_ANALYTICS_DATA_DIR."),
    ] = None,
) -> None:
    """Run the whole pipeline in-process and show live KPIs per project."""
    from ico_analytics.demo import run_demo

    settings = get_settings()
    run_demo(
        settings,
        duration=duration,
        events_per_minute=settings.events_per_minute if rate is None else rate,
        database_url=database_url or settings.postgres_url(),
    )


@app.command()
def generate(
    bootstrap_servers: Annotated[
        str | None, typer.Option(help="Kafka brokers (default KAFKA_BOOTSTRAP_SERVERS).")
    ] = None,
    schema_registry_url: Annotated[
        str | None, typer.Option(help="Default SCHEMA_REGISTRY_URL.")
    ] = None,
    rate: Annotated[
        int | None, typer.Option(help="Events per minute; 0 = as fast as possible.")
    ] = None,
    events: Annotated[
        int | None, typer.Option(help="Stop after N events (default: endless).")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Seed for a reproducible run.")] = None,
    start_time: Annotated[
        datetime | None,
        typer.Option(
            formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S%z"],
            help="Event time the run starts at, UTC unless an offset is given (default: from "
            "the wall clock). The same --seed and --start-time reproduce the same events.",
        ),
    ] = None,
    jsonl: Annotated[
        Path | None, typer.Option(help="Also write every event produced as JSON lines.")
    ] = None,
    data_quality_issues: Annotated[
        bool | None, typer.Option("--data-quality-issues/--no-data-quality-issues")
    ] = None,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            help="Serve Prometheus metrics on this port (default GENERATOR_METRICS_PORT)."
        ),
    ] = None,
    anomalies: Annotated[
        str | None,
        typer.Option(
            help="Inject anomalies, project:kind:start:size,... (default GENERATOR_ANOMALIES)."
        ),
    ] = None,
) -> None:
    """Generate events: to Kafka when brokers are configured, and/or to a JSONL file."""
    from generator.run import run_generate, serve_metrics
    from ico_core.injections import parse_injections

    settings = get_settings()
    port = metrics_port if metrics_port is not None else settings.generator_metrics_port
    metrics = (
        None
        if port is None
        else serve_metrics(port, settings.metrics_bind_address, settings.ico_websites_count)
    )
    if bootstrap_servers:
        settings = settings.model_copy(update={"kafka_bootstrap_servers": bootstrap_servers})
    report = run_generate(
        kafka=settings.kafka if settings.kafka_enabled else None,
        schema_registry_url=schema_registry_url or settings.schema_registry_url,
        events_per_minute=settings.events_per_minute if rate is None else rate,
        events=events,
        seed=seed,
        start_time_ms=None if start_time is None else _epoch_ms(start_time),
        jsonl=jsonl,
        websites_count=settings.ico_websites_count,
        data_quality_issues=settings.data_quality_issues
        if data_quality_issues is None
        else data_quality_issues,
        experiment_lift=settings.experiment_lift,
        injections=settings.injections if anomalies is None else parse_injections(anomalies),
        metrics=metrics,
    )
    typer.echo(report)


def _required_database_url(database_url: str | None) -> str:
    return database_url or get_settings().require_postgres_url()


def _epoch_ms(when: datetime) -> int:
    return int((when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp() * 1000)


@app.command()
def migrate(
    database_url: Annotated[
        str | None, typer.Option(help="Default DATABASE_URL / POSTGRES_*.")
    ] = None,
) -> None:
    """Apply pending SQL migrations and load reference data."""
    from ico_core.db import migrate as apply

    applied = apply(_required_database_url(database_url))
    typer.echo(
        f"applied {len(applied)} migration(s)" + (": " + ", ".join(applied) if applied else "")
    )


@app.command()
def maintain(
    database_url: Annotated[
        str | None, typer.Option(help="Default DATABASE_URL / POSTGRES_*.")
    ] = None,
    retention_days: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Drop raw events (daily partitions) and dead letters older than this many "
            "days; default: keep everything.",
        ),
    ] = None,
    kpis_only: Annotated[
        bool,
        typer.Option(
            "--kpis-only",
            help="Only refresh the daily KPIs and experiment results (for a frequent job).",
        ),
    ] = False,
) -> None:
    """Housekeeping: create the raw tables' partitions ahead, apply retention, refresh the
    daily KPIs and experiment results (the dashboards' materialized views)."""
    from ico_core.db import maintain as housekeeping
    from ico_core.db import refresh_kpis

    url = _required_database_url(database_url)
    if not kpis_only:
        created, dropped, deleted = housekeeping(url, retention_days)
        typer.echo(
            f"created {created} partition(s), dropped {dropped} partition(s), "
            f"deleted {deleted} dead letter(s)"
        )
    typer.echo(f"refreshed the daily KPIs in {refresh_kpis(url):.2f}s")


@app.command("dead-letters")
def dead_letters(
    out: Annotated[Path, typer.Option(help="JSON lines file to write.")],
    database_url: Annotated[
        str | None, typer.Option(help="Default DATABASE_URL / POSTGRES_*.")
    ] = None,
    hours: Annotated[
        float, typer.Option(help="Those received in the last N hours.", min=0.01)
    ] = 24.0,
) -> None:
    """Export dead letters with their payloads opened (PII_HMAC_KEY), ready to fix and replay:
    one JSON object per line with the Kafka coordinates, reason, key and payload in base64."""
    from ico_analytics.deadletters import export

    settings = get_settings()
    since = datetime.now(UTC) - timedelta(hours=hours)
    count = export(_required_database_url(database_url), settings.pii_key(), since, out)
    typer.echo(f"wrote {count} dead letter(s) to {out}")


@app.command()
def kpis(
    name: Annotated[
        str, typer.Argument(help="top-projects | active-users | funnel", metavar="NAME")
    ],
    database_url: Annotated[
        str | None, typer.Option(help="Default DATABASE_URL / POSTGRES_*.")
    ] = None,
    hours: Annotated[float, typer.Option(help="The last N hours.", min=0.1)] = 24.0,
    limit: Annotated[int, typer.Option(help="top-projects: how many.", min=1)] = 20,
) -> None:
    """The users' everyday queries, answered from the rollups (windows and sessions)."""
    from rich.console import Console
    from rich.table import Table

    from ico_analytics.kpis import Kpi, run_kpi

    try:
        kpi = Kpi(name)
    except ValueError:
        raise typer.BadParameter(f"one of {', '.join(k.value for k in Kpi)}") from None
    until = datetime.now(UTC)
    result = run_kpi(
        _required_database_url(database_url), kpi, until - timedelta(hours=hours), until, limit
    )
    table = Table(*result.columns, title=f"{kpi.value}, last {hours:g} h")
    for row in result.rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    Console(width=200).print(table)


alerts = typer.Typer(help="The dataflow's anomaly alerts.", no_args_is_help=True)
app.add_typer(alerts, name="alerts")


@alerts.command("forward")
def alerts_forward(
    alertmanager_url: Annotated[
        list[str] | None,
        typer.Option(
            help="Alertmanager base URL; repeat for each instance (default "
            "ALERTMANAGER_URL, comma-separated)."
        ),
    ] = None,
    bootstrap_servers: Annotated[
        str | None, typer.Option(help="Kafka brokers (default KAFKA_BOOTSTRAP_SERVERS).")
    ] = None,
    group_id: Annotated[str, typer.Option(help="Kafka consumer group.")] = "",
    resolve_after: Annotated[
        float, typer.Option(help="Seconds after its last POST an alert resolves.", min=1)
    ] = 3600.0,
    heartbeat: Annotated[
        Path | None,
        typer.Option(help="File touched every few seconds while it runs (for probes)."),
    ] = None,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            help="Serve Prometheus metrics on this port (default ALERT_FORWARDER_METRICS_PORT)."
        ),
    ] = None,
) -> None:
    """Post each message of the `alerts` topic to Alertmanager as an alert, committing offsets
    once Alertmanager has accepted it; runs until SIGTERM or Ctrl-C."""
    import signal
    import threading

    from prometheus_client import CollectorRegistry

    from ico_analytics.alertforward import DEFAULT_GROUP_ID, ForwarderMetrics, forward
    from ico_core.metrics import serve_registry

    settings = get_settings()
    if bootstrap_servers:
        settings = settings.model_copy(update={"kafka_bootstrap_servers": bootstrap_servers})
    urls = alertmanager_url or [
        u.strip() for u in settings.alertmanager_url.split(",") if u.strip()
    ]
    if not urls:
        raise ConfigError("no Alertmanager: pass --alertmanager-url or set ALERTMANAGER_URL")
    port = metrics_port if metrics_port is not None else settings.alert_forwarder_metrics_port
    registry = (
        CollectorRegistry() if port is None else serve_registry(port, settings.metrics_bind_address)
    )
    stop = threading.Event()
    # As PID 1 of a container the process would ignore SIGTERM: stop after the current batch.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    sent = forward(
        settings.kafka,
        urls,
        stop,
        group_id=group_id or DEFAULT_GROUP_ID,
        resolve_after=timedelta(seconds=resolve_after),
        heartbeat=heartbeat,
        metrics=ForwarderMetrics(registry, urls),
    )
    typer.echo(f"forwarded {sent} alert(s)")


crm = typer.Typer(help="Leads for the projects' CRMs.", no_args_is_help=True)
app.add_typer(crm, name="crm")


@crm.command("leads")
def crm_leads(
    project: Annotated[int, typer.Option(help="The project (ico_website_id).", min=1)],
    since: Annotated[
        datetime | None,
        typer.Option(
            formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S%z"],
            help="Those registered since then, UTC unless an offset is given (default: all).",
        ),
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="CSV file to write (default: standard output).")
    ] = None,
    database_url: Annotated[
        str | None,
        typer.Option(help="A login in role crm_reader (default DATABASE_URL / POSTGRES_*)."),
    ] = None,
) -> None:
    """Export a project's leads that consented to marketing as CSV, their emails opened with
    CRM_EMAIL_KEY, with KYC, verification tier and the source of their sign-up session."""
    from ico_analytics.crm import export_leads

    url = _required_database_url(database_url)
    key = get_settings().crm_key()
    start = None if since is None else since if since.tzinfo else since.replace(tzinfo=UTC)
    if out is None:
        export_leads(url, key, project, start, sys.stdout)
        return
    with out.open("w", encoding="utf-8", newline="") as f:
        count = export_leads(url, key, project, start, f)
    typer.echo(f"wrote {count} lead(s) of project {project} to {out}")


cluster = typer.Typer(
    help="The chart's release on Kubernetes (needs the `cluster` extra and a kubeconfig).",
    no_args_is_help=True,
)
app.add_typer(cluster, name="cluster")
NamespaceOption = Annotated[str, typer.Option("--namespace", "-n", help="The release's namespace.")]
ReleaseOption = Annotated[str, typer.Option(help="The Helm release name.")]
KubeconfigOption = Annotated[
    str | None, typer.Option(help="Default $KUBECONFIG or ~/.kube/config; in a pod, its account.")
]


def _release(namespace: str, release: str, kubeconfig: str | None) -> Any:
    try:
        from ico_analytics.cluster import Release
    except ImportError as exc:  # the kubernetes client is an extra
        raise ConfigError(
            f"cluster commands need the kubernetes client: pip install 'ico-analytics[cluster]' ({exc})"
        ) from exc
    return Release(namespace, release, kubeconfig)


@cluster.command("status")
def cluster_status(
    namespace: NamespaceOption = "default",
    release: ReleaseOption = "ico-analytics",
    kubeconfig: KubeconfigOption = None,
    sample_seconds: Annotated[
        float, typer.Option(help="Seconds between the two scrapes that give rows/s.", min=0.5)
    ] = 2.0,
) -> None:
    """The release's pods; per dataflow process: lag, rows/s, dead letters, snapshot age."""
    from rich.console import Console
    from rich.table import Table

    status = _release(namespace, release, kubeconfig).status(sample_seconds)
    console = Console(width=160)
    pods = Table("pod", "component", "phase", "ready", "restarts", title=f"release {release}")
    for pod in status.pods:
        pods.add_row(
            pod.name, pod.component, pod.phase, "yes" if pod.ready else "no", str(pod.restarts)
        )
    console.print(pods)
    processes = Table(
        "process",
        "consumer lag",
        "rows/s",
        "dead letters",
        "last snapshot",
        title=f"dataflow: {status.dataflow_replicas} process(es), "
        f"{status.recovery_partitions} recovery partitions",
    )
    for p in status.processes:
        age = (
            "none yet" if p.snapshot_age_seconds is None else f"{p.snapshot_age_seconds:.0f} s ago"
        )
        processes.add_row(
            p.pod,
            f"{p.consumer_lag:,.0f}",
            f"{p.rows_per_second:,.1f}",
            f"{p.dead_letters:,.0f}",
            age,
        )
    console.print(processes)


@cluster.command("scale")
def cluster_scale(
    replicas: Annotated[int, typer.Option(help="Dataflow processes to run.")],
    namespace: NamespaceOption = "default",
    release: ReleaseOption = "ico-analytics",
    kubeconfig: KubeconfigOption = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for each step.")] = 300.0,
) -> None:
    """Stop every dataflow process, change the peer list, start REPLICAS processes; they
    resume from the shared recovery volume. Then set dataflow.replicas in your values."""
    _release(namespace, release, kubeconfig).scale(replicas, timeout, progress=typer.echo)
    typer.echo(
        f"{replicas} dataflow process(es) Ready; set dataflow.replicas={replicas} in the "
        "release's values before the next helm upgrade"
    )


@app.command("sink-health")
def sink_health(
    max_stall_seconds: Annotated[
        float,
        typer.Option(
            min=1, help="Unhealthy when a sink worker holds rows this long without a commit."
        ),
    ] = 300.0,
    metrics_url: Annotated[
        str, typer.Option(help="The dataflow process's /metrics (its dataflow API).")
    ] = "http://127.0.0.1:3030/metrics",
) -> None:
    """Liveness of a dataflow process: exit 1 when its /metrics does not answer or one of its
    PostgreSQL sink workers has held rows without committing any for --max-stall-seconds."""
    import time

    import httpx

    from dataflows.metrics import stalled_sinks

    try:
        response = httpx.get(metrics_url, timeout=5)
        response.raise_for_status()
    except httpx.HTTPError as exc:
        typer.echo(f"unhealthy: {metrics_url}: {exc}", err=True)
        raise typer.Exit(1) from exc
    stalled = stalled_sinks(response.text, time.time(), max_stall_seconds)
    if stalled:
        typer.echo(f"unhealthy: no PostgreSQL commit from {', '.join(stalled)}", err=True)
        raise typer.Exit(1)
    typer.echo("healthy")


class DevAction(StrEnum):
    up = "up"
    down = "down"
    status = "status"


@app.command()
def dev(
    action: DevAction,
    kafka: Annotated[
        bool,
        typer.Option(
            "--kafka/--no-kafka",
            help="up: with Kafka and the schema registry (Java), or PostgreSQL alone.",
        ),
    ] = True,
) -> None:
    """Local stack on loopback: Kafka 4.3.1 (KRaft), schema registry, PostgreSQL."""
    from ico_analytics import devstack

    stack = devstack.DevStack.from_settings(get_settings())
    if action is DevAction.up:
        env = stack.up(kafka=kafka)
        typer.echo(f"stack is up; environment written to {stack.env_file}")
        for name, value in env.items():
            typer.echo(f"  {name}={value}")
    elif action is DevAction.down:
        stack.down()
        typer.echo("stack is down")
    else:
        for name, state in stack.status().items():
            typer.echo(f"{name:16} {state}")


class DashboardsAction(StrEnum):
    build = "build"
    check = "check"
    preview = "preview"
    render = "render"


@app.command()
def dashboards(
    action: DashboardsAction,
    database_url: Annotated[
        str | None, typer.Option(help="preview: default DATABASE_URL / POSTGRES_*.")
    ] = None,
    hours: Annotated[
        float, typer.Option(help="preview: the time range, the last N hours.", min=0.01)
    ] = 6.0,
    project: Annotated[
        list[int] | None, typer.Option(help="preview: only these project ids (default all).")
    ] = None,
    rows: Annotated[int, typer.Option(help="preview: rows shown per query.", min=1)] = 5,
    directory: Annotated[
        Path, typer.Option("--dir", help="The dashboards' folder in a checkout.")
    ] = Path("grafana-dashboards"),
    out: Annotated[
        Path, typer.Option(help="render: the folder the PNG pictures are written to.")
    ] = Path("dashboards-png"),
    prometheus_url: Annotated[
        str | None, typer.Option(help="render: draw the PromQL panels from this Prometheus.")
    ] = None,
) -> None:
    """Grafana dashboards: build the JSON from code, check it is in sync, preview every
    panel's query on a database, expanded as Grafana expands it, or render each dashboard as a
    PNG from those queries (needs the `render` extra)."""
    from ico_analytics import dashboards as boards

    if action is DashboardsAction.build:
        changed = boards.write(directory)
        typer.echo(f"{len(changed)} file(s) changed in {directory}")
        for name in changed:
            typer.echo(f"  {name}")
    elif action is DashboardsAction.check:
        problems = boards.out_of_sync(directory)
        for problem in problems:
            typer.echo(problem, err=True)
        if problems:
            typer.echo("run `ico-analytics dashboards build` and commit the result", err=True)
            raise typer.Exit(1)
        typer.echo(f"{directory} is in sync with the code")
    elif action is DashboardsAction.render:
        _render(
            _required_database_url(database_url), directory, hours, project, out, prometheus_url
        )
    else:
        _preview(_required_database_url(database_url), directory, hours, project or None, rows)


def _render(
    url: str,
    directory: Path,
    hours: float,
    projects: list[int] | None,
    out: Path,
    prometheus_url: str | None,
) -> None:
    try:
        from ico_analytics.dashboards.render import render_all
    except ImportError as exc:  # matplotlib is an extra
        raise ConfigError(
            f"rendering needs matplotlib: pip install 'ico-analytics[render]' ({exc})"
        ) from exc
    now = datetime.now(UTC)
    for rendered in render_all(
        directory,
        out,
        url,
        time_from=now - timedelta(hours=hours),
        time_to=now,
        projects=projects or None,
        prometheus_url=prometheus_url,
    ):
        empty = [title for title, rows in rendered.panels.items() if not rows]
        typer.echo(f"{rendered.path}: {len(rendered.panels)} panels, {len(empty)} without data")


def _preview(
    url: str, directory: Path, hours: float, projects: list[int] | None, rows: int
) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from ico_analytics.dashboards.preview import queries_in, run_queries

    now = datetime.now(UTC)
    results = run_queries(
        url,
        queries_in(directory),
        time_from=now - timedelta(hours=hours),
        time_to=now,
        projects=projects,
    )
    console = Console()
    for result in results:
        # The title on a line of its own: a table title would wrap to the table's width.
        title = (
            f"{result.query.file}: {result.query.title} "
            f"({len(result.rows)} rows, {result.seconds * 1000:.0f} ms)"
        )
        console.print(Text(title, style="bold"), soft_wrap=True)
        table = Table(*result.columns)
        for row in result.rows[:rows]:
            table.add_row(*(str(value) for value in row))
        console.print(table)


def main() -> None:
    """The console script: the project's own errors end in one line, not a traceback."""
    try:
        app()
    except IcoAnalyticsError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise SystemExit(2) from None
