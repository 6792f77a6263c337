"""The dashboards as PNG pictures, without Grafana: each panel drawn with matplotlib from the
same queries, run as Grafana would run them (``preview``) on a database, in the dashboard's
layout. PromQL panels are drawn from a Prometheus when one is given, else named as such.

Stat panels show their number, time series their lines or bars, tables their first rows,
bar gauges, bar charts and the geomap horizontal bars (the map itself needs Grafana), pie
charts a pie. Needs the ``render`` extra (matplotlib).
"""

from __future__ import annotations

import io
import json
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import matplotlib

matplotlib.use("Agg")  # files only, no display

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from PIL import Image

from ico_analytics.dashboards.build import ALERT_RULES_FILE
from ico_analytics.dashboards.preview import GrafanaQuery, run_queries

FIGURE_WIDTH = 16.0  # inches for Grafana's 24 columns
ROW_HEIGHT = 0.36  # inches per Grafana grid row
TABLE_ROWS = 10
BARS = 12
_LEGEND = re.compile(r"\{\{\s*(\w+)\s*\}\}")  # Grafana's {{label}} in a legend format


@dataclass
class Frame:
    """One query's result: column names and rows."""

    columns: list[str]
    rows: list[tuple[Any, ...]]


@dataclass
class Rendered:
    """What was drawn: the file and, per panel title, how many rows its queries returned."""

    path: Path
    panels: dict[str, int] = field(default_factory=dict)


def _number(value: Any) -> float | None:
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        return float(value)
    return None


def fmt(value: Any, unit: str | None, decimals: int | None = None) -> str:
    """A value as Grafana shows it with ``unit`` (the few units the dashboards use)."""
    number = _number(value)
    if number is None:
        return "" if value is None else str(value)[:40]
    if unit == "currencyUSD":
        return f"${number:,.0f}" if abs(number) >= 100 else f"${number:,.2f}"
    if unit == "percent":
        return f"{number:.{1 if decimals is None else decimals}f}%"
    if unit == "s":
        return f"{number:.{2 if decimals is None else decimals}f} s"
    if unit == "bytes":
        return f"{number / 2**20:,.1f} MiB"
    if unit == "reqps":
        return f"{number:,.1f}/s"
    if decimals is not None:
        return f"{number:,.{decimals}f}"
    return f"{number:,.0f}" if number == int(number) else f"{number:,.2f}"


def _overrides(panel: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Field name -> its overridden config (unit, decimals, axis placement, draw style)."""
    found: dict[str, dict[str, Any]] = {}
    for override in panel.get("fieldConfig", {}).get("overrides", []):
        name = override["matcher"]["options"]
        found[name] = {p["id"]: p["value"] for p in override["properties"]}
    return found


def _unit(panel: dict[str, Any]) -> str | None:
    unit: str | None = panel.get("fieldConfig", {}).get("defaults", {}).get("unit")
    return unit


def _chosen_field(panel: dict[str, Any], frame: Frame) -> str | None:
    """The field a stat or bar gauge shows: its ``/^name$/`` option, else the first numeric."""
    wanted = panel.get("options", {}).get("reduceOptions", {}).get("fields", "")
    match = re.fullmatch(r"/\^(.*)\$/", wanted or "")
    if match:
        return match.group(1)
    for i, column in enumerate(frame.columns):
        if frame.rows and _number(frame.rows[0][i]) is not None:
            return column
    return None


def _series(frame: Frame) -> dict[str, tuple[list[datetime], list[float]]]:
    """Time series from a frame: long (time, metric, value) or wide (time, a, b, ...)."""
    series: dict[str, tuple[list[datetime], list[float]]] = defaultdict(lambda: ([], []))
    columns = frame.columns
    if {"time", "metric", "value"} <= set(columns):
        t, m, v = (columns.index(c) for c in ("time", "metric", "value"))
        for row in frame.rows:
            series[str(row[m])][0].append(row[t])
            series[str(row[m])][1].append(float(row[v]))
        return dict(series)
    t = columns.index("time")
    for row in frame.rows:
        for i, column in enumerate(columns):
            number = _number(row[i])
            if i != t and number is not None:
                series[column][0].append(row[t])
                series[column][1].append(number)
    return dict(series)


def _draw_stat(
    ax: Axes, panel: dict[str, Any], frames: list[Frame], span: tuple[datetime, datetime]
) -> None:
    ax.axis("off")
    frame = frames[0] if frames else Frame([], [])
    name = _chosen_field(panel, frame)
    value = None
    if name in frame.columns and frame.rows:
        i = frame.columns.index(name)
        value = next((r[i] for r in reversed(frame.rows) if r[i] is not None), None)
    text = fmt(
        value, _unit(panel), panel.get("fieldConfig", {}).get("defaults", {}).get("decimals")
    )
    ax.text(0.5, 0.4, text or "no data", ha="center", va="center", fontsize=20, weight="bold",
            color="#1f60c4" if text else "#888888")  # fmt: skip


def _draw_timeseries(
    ax: Axes, panel: dict[str, Any], frames: list[Frame], span: tuple[datetime, datetime]
) -> None:
    overrides = _overrides(panel)
    bars = panel.get("fieldConfig", {}).get("defaults", {}).get("custom", {}).get("drawStyle")
    right: Axes | None = None
    drawn = 0
    earliest = span[0]
    for frame in frames:
        for name, (times, values) in _series(frame).items():
            config = overrides.get(name, {})
            earliest = min(earliest, *times)
            target = ax
            if config.get("custom.axisPlacement") == "right":
                right = right or ax.twinx()
                target = right
            style = config.get("custom.drawStyle", bars)
            if style == "bars":
                # A bar per window; a lone one gets a twelfth of the range.
                step = times[1] - times[0] if len(times) > 1 else (span[1] - span[0]) / 12
                width = step.total_seconds() / 86_400 * 0.8
                target.bar(times, values, width=width, align="edge", label=name, alpha=0.7)  # type: ignore[arg-type]
            elif style == "points":
                target.plot(times, values, "o", label=name, color="#e0752d")  # type: ignore[arg-type]
            else:
                target.plot(times, values, label=name, linewidth=1)  # type: ignore[arg-type]
            drawn += 1
    # The dashboard's range, as Grafana's x axis, widened to windows that start before it.
    ax.set_xlim(min(earliest, span[0]), span[1])  # type: ignore[arg-type]
    locator = mdates.AutoDateLocator()  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]
    ax.tick_params(labelsize=6)
    if right is not None:
        right.tick_params(labelsize=6)
    if 0 < drawn <= 8:
        handles, labels = ax.get_legend_handles_labels()
        if right is not None:
            more = right.get_legend_handles_labels()
            handles, labels = handles + more[0], labels + more[1]
        ax.legend(handles, labels, fontsize=6, loc="upper left", frameon=False, ncols=4)
    if not drawn:
        ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)


def _draw_table(
    ax: Axes, panel: dict[str, Any], frames: list[Frame], span: tuple[datetime, datetime]
) -> None:
    ax.axis("off")
    frame = frames[0] if frames else Frame([], [])
    if not frame.rows:
        ax.text(0.5, 0.5, "no rows", ha="center", va="center")
        return
    overrides = _overrides(panel)
    cells = [
        [
            fmt(v, overrides.get(c, {}).get("unit"), overrides.get(c, {}).get("decimals"))
            if not isinstance(v, datetime)
            else v.strftime("%H:%M:%S")
            for c, v in zip(frame.columns, row, strict=True)
        ]
        for row in frame.rows[:TABLE_ROWS]
    ]
    table = ax.table(cellText=cells, colLabels=frame.columns, loc="upper center", cellLoc="left")
    table.auto_set_font_size(False)
    table.set_fontsize(6)
    table.scale(1, 0.9)
    if len(frame.rows) > TABLE_ROWS:
        ax.text(1, 0, f"{len(frame.rows)} rows, first {TABLE_ROWS} shown", ha="right",
                va="bottom", fontsize=6, color="#666666", transform=ax.transAxes)  # fmt: skip


def _labels_and_values(panel: dict[str, Any], frame: Frame) -> tuple[list[str], list[float]]:
    name = _chosen_field(panel, frame)
    if name not in frame.columns:
        return [], []
    i = frame.columns.index(name)
    label = next((j for j, r in enumerate(frame.rows[0]) if isinstance(r, str)), 0)
    rows = frame.rows[:BARS]
    return [str(r[label]) for r in rows], [float(r[i]) for r in rows]


def _draw_bars(
    ax: Axes, panel: dict[str, Any], frames: list[Frame], span: tuple[datetime, datetime]
) -> None:
    frame = frames[0] if frames else Frame([], [])
    if panel["type"] == "geomap":
        panel = {**panel, "options": {"reduceOptions": {"fields": "/^Sessions$/"}}}
    labels, values = _labels_and_values(panel, frame) if frame.rows else ([], [])
    ax.barh(labels[::-1], values[::-1], color="#5794f2")
    ax.tick_params(labelsize=6)
    for y, v in enumerate(values[::-1]):
        ax.text(v, y, " " + fmt(v, _unit(panel)), va="center", fontsize=6)
    if panel["type"] == "geomap":
        ax.set_xlabel("sessions per country (a map in Grafana)", fontsize=6)


def _draw_pie(
    ax: Axes, panel: dict[str, Any], frames: list[Frame], span: tuple[datetime, datetime]
) -> None:
    frame = frames[0] if frames else Frame([], [])
    labels, values = _labels_and_values(panel, frame) if frame.rows else ([], [])
    ax.pie(values, labels=labels, autopct="%1.0f%%", textprops={"fontsize": 6},
           wedgeprops={"width": 0.45})  # fmt: skip


DRAW = {
    "stat": _draw_stat,
    "timeseries": _draw_timeseries,
    "table": _draw_table,
    "bargauge": _draw_bars,
    "barchart": _draw_bars,
    "geomap": _draw_bars,
    "piechart": _draw_pie,
}


def _legend(legend: str, labels: dict[str, str]) -> str:
    return _LEGEND.sub(lambda match: labels.get(match.group(1), ""), legend)


def _prometheus_frame(
    url: str, target: dict[str, Any], time_from: datetime, time_to: datetime
) -> Frame:
    """A PromQL target over the range as a long frame (time, metric, value)."""
    seconds = int((time_to - time_from).total_seconds())
    step = max(seconds // 200, 1)
    expr = target["expr"].replace("$__rate_interval", f"{4 * step}s")
    expr = expr.replace("$__range", f"{seconds}s")
    legend = target.get("legendFormat", "")
    params: dict[str, str | int | float]
    if target.get("instant"):
        path, params = "query", {"query": expr, "time": time_to.timestamp()}
    else:
        path = "query_range"
        params = {"query": expr, "start": time_from.timestamp(), "end": time_to.timestamp(),
                  "step": step}  # fmt: skip
    body = httpx.get(f"{url}/api/v1/{path}", params=params, timeout=30).json()
    rows: list[tuple[Any, ...]] = []
    for series in body.get("data", {}).get("result", []):
        name = _legend(legend, series["metric"])
        samples = series.get("values") or [series["value"]]
        rows += [(datetime.fromtimestamp(t, time_to.tzinfo), name, float(v)) for t, v in samples]
    return Frame(["time", "metric", "value"], rows)


def render_dashboard(
    path: Path,
    out_dir: Path,
    database_url: str,
    *,
    time_from: datetime,
    time_to: datetime,
    projects: Sequence[int] | None = None,
    prometheus_url: str | None = None,
) -> Rendered:
    """Draw one dashboard file into ``out_dir/<uid>.png``."""
    board = json.loads(path.read_text(encoding="utf-8"))
    panels = board["panels"]
    sql = [
        (panel["id"], GrafanaQuery.of(path.name, panel["title"], t["rawSql"], panel))
        for panel in panels
        for t in panel.get("targets", [])
        if "rawSql" in t
    ]
    results = run_queries(
        database_url, [q for _, q in sql], time_from=time_from, time_to=time_to, projects=projects
    )
    frames: dict[int, list[Frame]] = defaultdict(list)
    for (panel_id, _), result in zip(sql, results, strict=True):
        frames[panel_id].append(Frame(result.columns, result.rows))

    bottom = max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in panels)
    height = (bottom + 2) * ROW_HEIGHT
    fig = plt.figure(figsize=(FIGURE_WIDTH, height), dpi=80)
    fig.suptitle(board["title"], x=0.01, y=1 - 0.6 * ROW_HEIGHT / height, ha="left",
                 fontsize=13, weight="bold")  # fmt: skip
    rendered = Rendered(out_dir / f"{board['uid']}.png")

    def box(pos: dict[str, int]) -> tuple[float, float, float, float]:
        left, width = pos["x"] / 24, pos["w"] / 24
        top = 1 - (pos["y"] + 1.5) * ROW_HEIGHT / height
        return left, top - pos["h"] * ROW_HEIGHT / height, width, pos["h"] * ROW_HEIGHT / height

    for panel in panels:
        left, low, width, tall = box(panel["gridPos"])
        if panel["type"] == "row":
            fig.text(left + 0.005, low + tall / 2, panel["title"], fontsize=10, weight="bold",
                     color="#444444", va="center")  # fmt: skip
            continue
        frame_ax = fig.add_axes((left + 0.003, low + 0.003, width - 0.006, tall - 0.006))
        frame_ax.set_xticks([])
        frame_ax.set_yticks([])
        frame_ax.set_facecolor("#f7f8fa")
        frame_ax.set_title(panel["title"], loc="left", fontsize=8, weight="bold")
        # Horizontal bars need room on the left for their labels.
        margin = 0.2 if panel["type"] in {"bargauge", "barchart", "geomap"} else 0.07
        inner = fig.add_axes(
            (left + width * margin, low + tall * 0.14, width * (0.95 - margin), tall * 0.72)
        )
        inner.set_facecolor("#f7f8fa")
        panel_frames = frames.get(panel["id"], [])
        prom_targets = [t for t in panel.get("targets", []) if "expr" in t]
        if prom_targets and prometheus_url is not None:
            panel_frames = [
                _prometheus_frame(prometheus_url, t, time_from, time_to) for t in prom_targets
            ]
        elif prom_targets:
            inner.axis("off")
            inner.text(0.5, 0.5, "from Prometheus\n(render with --prometheus-url)",
                       ha="center", va="center", fontsize=7, color="#888888")  # fmt: skip
            rendered.panels[panel["title"]] = 0
            continue
        DRAW[panel["type"]](inner, panel, panel_frames, (time_from, time_to))
        rendered.panels[panel["title"]] = sum(len(f.rows) for f in panel_frames)
    out_dir.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    # A 256-colour palette keeps the pictures a third of their size, small enough to commit.
    with Image.open(buffer) as image:
        image.convert("RGB").quantize(256).save(rendered.path, optimize=True)
    return rendered


def render_all(
    directory: Path,
    out_dir: Path,
    database_url: str,
    *,
    time_from: datetime,
    time_to: datetime,
    projects: Sequence[int] | None = None,
    prometheus_url: str | None = None,
) -> list[Rendered]:
    """Every dashboard of ``directory`` (not the alert rules) as ``out_dir/<uid>.png``."""
    return [
        render_dashboard(
            path,
            out_dir,
            database_url,
            time_from=time_from,
            time_to=time_to,
            projects=projects,
            prometheus_url=prometheus_url,
        )
        for path in sorted(directory.glob("*.json"))
        if path.name != ALERT_RULES_FILE
    ]
