"""The ``ico-analytics`` command line (the README documents every command)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated

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
) -> None:
    """Daily housekeeping: create the raw tables' partitions ahead, apply retention."""
    from ico_core.db import maintain as housekeeping

    created, dropped, deleted = housekeeping(_required_database_url(database_url), retention_days)
    typer.echo(
        f"created {created} partition(s), dropped {dropped} partition(s), "
        f"deleted {deleted} dead letter(s)"
    )


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
