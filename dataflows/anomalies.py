"""Anomalies: a project's 5-minute traffic, registrations or revenue far from its recent past.

Input is the 5-minute windows of ``window_aggregates`` (a few per project per flush, so this costs
nothing per event). A window is judged once it is complete, i.e. the project has data two
windows later (it no longer fills in real time), against the same project's
``BASELINE_WINDOWS`` windows before it; a window without a row had no events and counts as zero,
so a project going silent is a drop. The score is a z-score whose scale has the noise floor of
a Poisson count, ``max(stddev, sqrt(mean), 1)``, so a quiet project is not flagged for one
event; ``|z| >= threshold`` flags the window (``ANOMALY_Z_THRESHOLD``, default 4; the seed's
rule was 3). A project is judged only once it has a full baseline of history.

Late events change windows after they were judged: every changed window and the windows whose
baseline it is are judged again, so the stored verdicts converge to those of the final windows
whatever the arrival order. Rows (``analytics.anomalies``) are written for flagged windows and
overwrite on ``(ico_website_id, metric, window_start)``; a window flagged earlier and cleared by
late events is rewritten with ``is_anomaly = false``. A window flipping to flagged also yields an
alert for the ``alerts`` topic, keyed ``project:metric:window_start``: at least once, as a
replay after a crash may repeat the alerts of the replayed interval under the same key.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import NamedTuple

import bytewax.operators as op
from bytewax.connectors.kafka import KafkaSinkMessage
from bytewax.dataflow import Stream, operator
from bytewax.operators import StatefulBatchLogic

from dataflows.enrich import utc
from dataflows.records import TableRow
from dataflows.windows import WindowAggregateRow

ANOMALIES_TABLE = "analytics.anomalies"
WINDOW_MS = 300_000
BASELINE_WINDOWS = 12
#: What is judged, in this order in a ``WindowPoint``.
METRICS = ("events", "registrations", "revenue_usd")
_WINDOW = timedelta(milliseconds=WINDOW_MS)

AlertMessage = KafkaSinkMessage[bytes | None, bytes | None]


class WindowPoint(NamedTuple):
    """One project's 5-minute window: its start and the judged metrics."""

    project_id: int
    start_ms: int
    values: tuple[float, ...]  # per METRICS


def window_point(window: WindowAggregateRow) -> tuple[str, WindowPoint] | None:
    """The 5-minute windows, keyed by project; the longer ones are not judged."""
    if window.window_length != _WINDOW:
        return None
    start_ms = int(window.window_start.timestamp() * 1000)
    point = (float(window.events), float(window.registrations), float(window.revenue_usd))
    return str(window.ico_website_id), WindowPoint(window.ico_website_id, start_ms, point)


class AnomalyRow(NamedTuple):
    """A row of ``analytics.anomalies``."""

    ico_website_id: int
    metric: str
    window_start: datetime
    window_end: datetime
    value: float
    baseline_mean: float
    baseline_stddev: float
    z_score: float
    direction: str  # spike | drop
    is_anomaly: bool


class Verdict(NamedTuple):
    """A judged window: its row, and whether it has just become flagged (an alert)."""

    row: AnomalyRow
    newly_flagged: bool


def score(value: float, baseline: list[float]) -> tuple[float, float, float]:
    """(mean, stddev, z) of ``value`` against ``baseline``, with the Poisson noise floor."""
    mean = math.fsum(baseline) / len(baseline)
    stddev = math.sqrt(math.fsum((b - mean) ** 2 for b in baseline) / len(baseline))
    scale = max(stddev, math.sqrt(abs(mean)), 1.0)
    return mean, stddev, (value - mean) / scale


@dataclass(slots=True)
class ProjectSeries:
    """One project's recent 5-minute windows and the verdicts standing on them."""

    project_id: int = 0
    first_start: int | None = None  # the oldest window seen: history begins there
    newest_start: int = -(2**63)
    judged_through: int = -(2**63)  # the newest window judged as complete
    points: dict[int, tuple[float, ...]] = field(default_factory=dict)
    flagged: set[tuple[int, int]] = field(default_factory=set)  # (metric index, window start)

    def copy(self) -> ProjectSeries:
        return ProjectSeries(
            self.project_id,
            self.first_start,
            self.newest_start,
            self.judged_through,
            dict(self.points),
            set(self.flagged),
        )


class AnomalyLogic(StatefulBatchLogic[WindowPoint, Verdict, ProjectSeries]):
    """The windows of one project."""

    def __init__(
        self, *, changeable_windows: int, threshold: float, resume: ProjectSeries | None
    ) -> None:
        self._changeable_ms = changeable_windows * WINDOW_MS
        self._threshold = threshold
        self._state = ProjectSeries() if resume is None else resume

    def on_batch(self, values: list[WindowPoint]) -> tuple[list[Verdict], bool]:
        state = self._state
        state.project_id = values[0].project_id
        history = BASELINE_WINDOWS * WINDOW_MS
        first_before = state.first_start
        changed = set()
        for point in values:
            start = point.start_ms
            if state.points.get(start) != point.values:
                state.points[start] = point.values
                changed.add(start)
            if state.first_start is None or start < state.first_start:
                state.first_start = start
            state.newest_start = max(state.newest_start, start)
        assert state.first_start is not None
        complete = state.newest_start - 2 * WINDOW_MS  # the newest window that is complete
        # Windows older than this can no longer change (their events would be too late).
        oldest = max(state.first_start + history, complete - self._changeable_ms)
        judged = state.judged_through
        # Judged again: a changed window and those whose baseline it is, and the windows that
        # earlier history (a late first window) made judgeable; then the newly complete ones.
        due = {s + k * WINDOW_MS for s in changed for k in range(BASELINE_WINDOWS + 1)}
        if first_before is not None and state.first_start < first_before:
            due.update(range(state.first_start + history, first_before + history, WINDOW_MS))
        due = {s for s in due if s <= judged}
        due.update(range(max(judged + WINDOW_MS, oldest), complete + 1, WINDOW_MS))
        state.judged_through = max(judged, complete)
        verdicts = [v for start in sorted(due) if start >= oldest for v in self._judge(start)]
        self._evict(oldest)
        return verdicts, StatefulBatchLogic.RETAIN

    def _judge(self, start: int) -> list[Verdict]:
        state = self._state
        zero = (0.0,) * len(METRICS)
        value = state.points.get(start, zero)
        history = [
            state.points.get(start - k * WINDOW_MS, zero) for k in range(1, BASELINE_WINDOWS + 1)
        ]
        verdicts = []
        for i, metric in enumerate(METRICS):
            mean, stddev, z = score(value[i], [h[i] for h in history])
            flag = abs(z) >= self._threshold
            was = (i, start) in state.flagged
            if not flag and not was:
                continue
            if flag:
                state.flagged.add((i, start))
            else:
                state.flagged.discard((i, start))
            row = AnomalyRow(
                state.project_id,
                metric,
                utc(start),
                utc(start + WINDOW_MS),
                value[i],
                mean,
                stddev,
                z,
                "spike" if z > 0 else "drop",
                flag,
            )
            verdicts.append(Verdict(row, flag and not was))
        return verdicts

    def _evict(self, oldest: int) -> None:
        """Forget verdicts on windows that can no longer change, and windows that are no longer
        in the baseline of one that can."""
        state = self._state
        horizon = oldest - BASELINE_WINDOWS * WINDOW_MS
        for start in [s for s in state.points if s < horizon]:
            del state.points[start]
        state.flagged = {key for key in state.flagged if key[1] >= oldest}

    def snapshot(self) -> ProjectSeries:
        return self._state.copy()


def anomaly_row(verdict: Verdict) -> TableRow:
    return ANOMALIES_TABLE, verdict.row


def alert_message(verdict: Verdict) -> AlertMessage | None:
    """The alert of a window that has just become flagged; None for the others."""
    if not verdict.newly_flagged:
        return None
    row = verdict.row
    start = row.window_start.isoformat()
    body = {
        "type": "anomaly",
        "ico_website_id": row.ico_website_id,
        "metric": row.metric,
        "direction": row.direction,
        "window_start": start,
        "window_end": row.window_end.isoformat(),
        "value": row.value,
        "baseline_mean": row.baseline_mean,
        "baseline_stddev": row.baseline_stddev,
        "z_score": row.z_score,
    }
    key = f"{row.ico_website_id}:{row.metric}:{start}"
    return KafkaSinkMessage(key.encode(), json.dumps(body, separators=(",", ":")).encode())


@operator
def detect_anomalies(
    step_id: str, windows: Stream[WindowAggregateRow], *, lateness_seconds: int, threshold: float
) -> Stream[Verdict]:
    """Verdicts on each project's complete 5-minute windows (see the module docstring)."""
    # A window can change until the lateness horizon passes it (two windows of slack).
    changeable = -(-lateness_seconds * 1000 // WINDOW_MS) + 2

    def build(resume: ProjectSeries | None) -> AnomalyLogic:
        return AnomalyLogic(changeable_windows=changeable, threshold=threshold, resume=resume)

    points = op.filter_map("five_minute_windows", windows, window_point)  # (project, point)
    verdicts = op.stateful_batch("series", points, build)  # (project, Verdict)
    return op.key_rm("unkey", verdicts)  # Verdict
