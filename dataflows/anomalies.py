"""Anomalies: a project's traffic, sign-ups, revenue or visitors far from its recent past.

Input is the windows of ``window_aggregates`` (a few per project per flush, so this costs
nothing per event). Three rules, each a stateful step keyed by project, write one table:

**5-minute windows** (``series``: events, registrations, revenue_usd; ``mix_series``:
conversion_rate, country_mix). A window is judged once it is complete, i.e. the project has data
two windows later (it no longer fills in real time), against the same project's
``BASELINE_WINDOWS`` windows before it; a window without a row had no events and counts as
zero, so a project going silent is a drop. ``|z| >= threshold`` flags (``ANOMALY_Z_THRESHOLD``,
default 4; the seed's rule was 3):

- events, registrations, revenue_usd: over-dispersed counts. A session emits several events
  into a window, so events vary ~5-9 times more than a Poisson count of their mean (the
  variance-to-mean ratio, measured per project on the generator's traffic); registrations are
  close to Poisson; revenue is a sum of a Poisson number of purchases of lognormal amounts,
  whose variance-to-mean ratio is ``E[a^2] / E[a]`` ($2,900 for the generator's amounts,
  lognormal around $900 within $100-10,000, 4,028 of them measured over 50 h). So each
  metric has a dispersion ``phi``: the sample variance-to-mean ratio of the project's
  ``DISPERSION_WINDOWS`` (72, 6 h) windows before the judged one (those its history covers),
  floored at 1 for counts and at ``E[a^2] / E[a]`` for revenue (estimated from those windows'
  revenue and purchases, as ``_compound_noise`` does). ``value / phi`` is then treated as a
  Poisson count of mean ``mean / phi`` (a quasi-Poisson scale) and compared through Anscombe's
  square root, which makes a Poisson count near-normal with spread 1 even where it is small
  and skewed: ``z = 2 (sqrt(value/phi + 3/8) - sqrt(mean/phi + 3/8)) / sqrt(1 + 1/12)``, the
  last factor for the error of the 12-window mean. 12 windows estimate ``phi`` too noisily for
  a threshold that ~36,000 judgements a day must not cross by chance, hence the 6 hours, and
  these metrics are judged only once the project has ``MIN_HISTORY_WINDOWS`` (24, 2 h) of
  history. Revenue is judged only where the baseline expects ``MIN_PURCHASES`` (1) purchase a
  window: below it a single large purchase is a spike whatever the scale. On the generator's
  clean traffic (seed 11) the old rule, scale ``max(stddev, sqrt(mean), 1)``, flagged 133
  events, 21 registrations and 613 revenue windows in 50 h at 60 events/min, and 5, 1 and 11
  in 4 h at 500 events/min; this one flags none. The cost: a spike adds to ``phi`` for the 6
  hours after it, and smaller anomalies are missed (the README has the injected sizes found).
- conversion_rate: registrations per session (``unique_sessions``) against the baseline's
  pooled rate, by the two-proportion z-test with the pooled standard error; judged only where
  the window is expected to hold ``MIN_EXPECTED`` (5) sign-ups and as many sessions without,
  so a handful of sessions cannot flag.
- country_mix: page views by country (``page_views_by_country``) against the baseline
  windows' pooled shares, by a chi-square test (countries expected fewer than ``MIN_EXPECTED``
  times pooled). The page views of a session share its country, so the statistic is divided by
  the baseline's own dispersion (the mean chi-square per degree of freedom of each baseline
  window against the others, floored at 1), then turned into a z (Wilson-Hilferty); ``z >=
  threshold`` flags, if the window's total variation distance from the baseline also exceeds
  every baseline window's. Value and baseline in the row are those distances; direction
  ``shift``.

These two are judged once the project has a full baseline (12 windows) of history.

Their guards set a detection floor in traffic, whatever the anomaly's size (the README has the
sizes found per project at 500 events/min). The conversion rate needs ~15-17 sessions a window
at the generator's ~0.3 sign-ups a session to be judged at all, and ~35-40 for a complete stop
of sign-ups to reach ``|z| >= 4`` (``z ~ s sqrt(n r / (1 - r)) / sqrt(13/12)`` for a drop of a
fraction ``s`` of a rate ``r`` over ``n`` sessions; a half drop needs ~140). The country mix
needs a country expected ``MIN_EXPECTED`` times, ~15-20 page views a window; a complete shift
to one small market is found from ~35 page views, a half one from ~100. Below the floor a rule
abstains (the smallest project, ~9 sessions and ~12 page views a window at 500 events/min, is
never flagged by them): it cannot tell an anomaly from noise there, so it raises nothing.

**24-hour revenue** (``revenue_24h``, on the hourly windows): the users' "Revenue Drop" rule, as
the Grafana alert ``alerts/revenue_vs_baseline`` defines it for all projects together, per
project. Once the project has data after hour H, the revenue of the 24 hourly windows ending
with H (the row's ``window_start`` .. ``window_end``) is compared with the mean of the same 24
hours 1..``BASELINE_DAYS`` (7) days earlier, counting the periods that have windows (as the
Grafana rule does) and that the project's history covers whole (there it differs: Grafana counts
a partial first day). It flags when the revenue is below ``ANOMALY_REVENUE_DROP_RATIO`` (0.8)
times that mean and, like the other rules, beyond noise: ``z <= -threshold``, where the scale is
the larger of the baseline periods' standard deviation and the spread of a sum of Poisson
purchases with the observed amounts (``_compound_noise``). A project's day of a few dozen
purchases swings by more than 20% without any cause; a big project's does not: losing a
fraction ``f`` of a day of ``N`` purchases reaches at most ``z ~ -f sqrt(N / 2)`` with the
generator's amounts, so a project needs ~32 purchases a day for even a complete stop to flag.
Each hour judged is its own row and alert.

Late events change windows after they were judged: every changed window and the windows whose
history it is are judged again, so the stored verdicts converge to those of the final windows
whatever the arrival order. Rows (``analytics.anomalies``) are written for flagged windows and
overwrite on ``(ico_website_id, metric, window_start)``; a window flagged earlier and cleared by
late events is rewritten with ``is_anomaly = false``. A window flipping to flagged also yields an
alert for the ``alerts`` topic, keyed ``project:metric:window_start``: at least once, as a
replay after a crash may repeat the alerts of the replayed interval under the same key.

State is bounded per project: the 5-minute steps keep the windows that can still change plus
their history (``lateness`` + 6 h for ``series``, + 1 h for ``mix_series``), the revenue step 8
days of hourly (revenue, purchases) pairs. A ``series`` snapshot from before the 6 hours holds
an hour of history and points without purchases: the windows it no longer has count as silent
in the dispersion (which only makes it larger, i.e. quieter) until 6 hours have passed, and
revenue is judged on the points that carry purchases.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Generic, NamedTuple, Protocol, TypeVar

import bytewax.operators as op
from bytewax.connectors.kafka import KafkaSinkMessage
from bytewax.dataflow import Stream, operator
from bytewax.operators import StatefulBatchLogic

from dataflows.enrich import utc
from dataflows.records import TableRow
from dataflows.windows import WindowAggregateRow

ANOMALIES_TABLE = "analytics.anomalies"
WINDOW_MS = 300_000
HOUR_MS = 3_600_000
DAY_MS = 86_400_000
BASELINE_WINDOWS = 12
#: Earlier 24-hour periods whose mean is the 24-hour revenue's baseline (the Grafana rule's).
BASELINE_DAYS = 7
#: What is judged, in this order in a ``WindowPoint``, which also carries the purchases.
METRICS = ("events", "registrations", "revenue_usd")
SERIES_FIELDS = (*METRICS, "purchases")
REVENUE, PURCHASES = 2, 3
#: Windows before a judged one whose variance-to-mean ratio is the metric's dispersion (6 h),
#: and the history a project needs before its events, registrations and revenue are judged:
#: fewer windows give a dispersion too noisy for a threshold of 4.
DISPERSION_WINDOWS = 72
MIN_HISTORY_WINDOWS = 24
#: Purchases a window is expected to hold (baseline mean) for its revenue to be judged: below,
#: one large purchase is a spike of any size.
MIN_PURCHASES = 1.0
#: What the mix step judges on the same windows, in this order.
MIX_METRICS = ("conversion_rate", "country_mix")
REVENUE_24H = "revenue_24h"
#: The expected count a normal approximation needs: of sign-ups and of sessions without one in
#: a window (conversion rate), of page views in a chi-square category (country mix).
MIN_EXPECTED = 5.0
_WINDOW = timedelta(milliseconds=WINDOW_MS)
_HOUR = timedelta(milliseconds=HOUR_MS)

AlertMessage = KafkaSinkMessage[bytes | None, bytes | None]
V = TypeVar("V")


class WindowPoint(NamedTuple, Generic[V]):
    """One project's window: its start and what is judged of it."""

    project_id: int
    start_ms: int
    values: V


class MixValues(NamedTuple):
    """What the conversion rate and the country mix are judged on."""

    registrations: int
    sessions: int
    countries: dict[str, int] | None  # page views by country; None: not counted (see windows)


_NO_MIX = MixValues(0, 0, {})


def window_point(window: WindowAggregateRow) -> tuple[str, WindowPoint[tuple[float, ...]]] | None:
    """The 5-minute windows, keyed by project; the longer ones are not judged."""
    if window.window_length != _WINDOW:
        return None
    start_ms = int(window.window_start.timestamp() * 1000)
    point = (
        float(window.events),
        float(window.registrations),
        float(window.revenue_usd),
        float(window.purchases),
    )
    return str(window.ico_website_id), WindowPoint(window.ico_website_id, start_ms, point)


def mix_point(window: WindowAggregateRow) -> tuple[str, WindowPoint[MixValues]] | None:
    """The 5-minute windows' registrations, sessions and countries, keyed by project."""
    if window.window_length != _WINDOW:
        return None
    start_ms = int(window.window_start.timestamp() * 1000)
    values = MixValues(window.registrations, window.unique_sessions, window.page_views_by_country)
    return str(window.ico_website_id), WindowPoint(window.ico_website_id, start_ms, values)


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
    direction: str  # spike | drop | shift
    is_anomaly: bool


class Verdict(NamedTuple):
    """A judged window: its row, and whether it has just become flagged (an alert)."""

    row: AnomalyRow
    newly_flagged: bool


class Judgement(NamedTuple):
    """One metric of one window: the row's measures and whether they flag it."""

    value: float
    baseline_mean: float
    baseline_stddev: float
    z_score: float
    direction: str
    flag: bool


def _mean_stddev(values: list[float]) -> tuple[float, float]:
    if not values:
        return 0.0, 0.0
    mean = math.fsum(values) / len(values)
    return mean, math.sqrt(math.fsum((v - mean) ** 2 for v in values) / len(values))


def dispersion(values: list[float], floor: float) -> float:
    """The variance-to-mean ratio of ``values`` (sample variance), at least ``floor``."""
    mean = math.fsum(values) / len(values)
    if len(values) < 2 or mean <= 0:
        return floor
    variance = math.fsum((v - mean) ** 2 for v in values) / (len(values) - 1)
    return max(floor, variance / mean)


def score(value: float, baseline: list[float], phi: float) -> tuple[float, float, float]:
    """(mean, stddev, z) of ``value`` against ``baseline``, counted in units of ``phi``: the
    Anscombe square root of a Poisson count ``value / phi`` against one of mean
    ``mean / phi``, whose spread is 1, plus the baseline mean's own error."""
    mean, stddev = _mean_stddev(baseline)
    gap = math.sqrt(value / phi + 0.375) - math.sqrt(mean / phi + 0.375)
    return mean, stddev, 2 * gap / math.sqrt(1 + 1 / len(baseline))


def _amount_dispersion(points: list[tuple[float, ...]]) -> float | None:
    """``E[a^2] / E[a]`` of the purchase amounts a: a window's revenue, a sum of a Poisson
    number of purchases, has that variance-to-mean ratio. ``E[a^2]`` is estimated from the
    windows as ``_compound_noise`` does; None without purchases."""
    purchases = math.fsum(p[PURCHASES] for p in points)
    if not purchases:
        return None
    amount = math.fsum(p[REVENUE] for p in points) / purchases
    pairs = math.fsum(p[PURCHASES] * (p[PURCHASES] - 1) for p in points)
    squares = math.fsum(p[REVENUE] ** 2 for p in points)
    return max((squares - amount**2 * pairs) / purchases, amount**2) / amount


class ZRule:
    """Events, registrations and revenue against their over-dispersed noise (the module
    docstring has the statistics; a missing window is zeros)."""

    metrics: tuple[str, ...] = METRICS
    history_windows = DISPERSION_WINDOWS
    min_history = MIN_HISTORY_WINDOWS

    def __init__(self, threshold: float) -> None:
        self._threshold = threshold

    def __call__(
        self, value: tuple[float, ...] | None, history: list[tuple[float, ...] | None]
    ) -> list[Judgement]:
        zero = (0.0,) * len(SERIES_FIELDS)
        now = value or zero
        past = [h or zero for h in history]
        baseline = past[:BASELINE_WINDOWS]
        judgements = []
        for i in range(len(METRICS)):
            floor = 1.0
            if i == REVENUE:
                # Points from a snapshot taken before purchases were carried have 3 fields.
                known = [p for p in baseline if len(p) > PURCHASES]
                amounts = _amount_dispersion([p for p in past if len(p) > PURCHASES])
                expected = math.fsum(p[PURCHASES] for p in known) / len(known) if known else 0.0
                if amounts is None or expected < MIN_PURCHASES:
                    mean, stddev = _mean_stddev([p[i] for p in baseline])
                    judgements.append(Judgement(now[i], mean, stddev, 0.0, "drop", False))
                    continue
                floor = amounts
            phi = dispersion([p[i] for p in past], floor)
            mean, stddev, z = score(now[i], [p[i] for p in baseline], phi)
            direction = "spike" if z > 0 else "drop"
            judgements.append(
                Judgement(now[i], mean, stddev, z, direction, abs(z) >= self._threshold)
            )
        return judgements


def conversion_rate(value: MixValues, history: list[MixValues], threshold: float) -> Judgement:
    """Registrations per session against the baseline's, by the two-proportion z-test (pooled
    standard error). Judged only where its normal approximation holds: the window is expected
    to hold at least ``MIN_EXPECTED`` sign-ups and as many sessions without, at the pooled rate,
    so a handful of sessions cannot flag."""
    sessions = sum(h.sessions for h in history)
    registrations = sum(h.registrations for h in history)
    if not value.sessions or not sessions:
        return Judgement(0.0, 0.0, 0.0, 0.0, "drop", False)
    rate, base = value.registrations / value.sessions, registrations / sessions
    pooled = (value.registrations + registrations) / (value.sessions + sessions)
    if min(pooled, 1 - pooled) * value.sessions < MIN_EXPECTED:
        return Judgement(rate, base, 0.0, 0.0, "drop", False)
    error = math.sqrt(pooled * (1 - pooled) * (1 / value.sessions + 1 / sessions))
    z = (rate - base) / error if error else 0.0
    return Judgement(rate, base, error, z, "spike" if z > 0 else "drop", abs(z) >= threshold)


def chi_square(counts: dict[str, int], reference: dict[str, int]) -> tuple[float, int]:
    """(statistic, degrees of freedom) of ``counts`` against ``reference``'s shares.

    Countries expected fewer than ``MIN_EXPECTED`` times are pooled, with any country the
    reference lacks, into one category, merged into the smallest kept one if it is still short
    of ``MIN_EXPECTED``; df 0 means too few page views to judge.
    """
    n, total = sum(counts.values()), sum(reference.values())
    kept: list[tuple[float, int]] = []  # (expected, observed)
    other_expected, other_observed = 0.0, n
    for country, weight in sorted(reference.items(), key=lambda kv: (-kv[1], kv[0])):
        expected = n * weight / total
        if expected >= MIN_EXPECTED:
            observed = counts.get(country, 0)
            kept.append((expected, observed))
            other_observed -= observed
        else:
            other_expected += expected
    if not kept:
        return 0.0, 0
    if other_expected >= MIN_EXPECTED:
        kept.append((other_expected, other_observed))
    else:
        expected, observed = kept.pop()
        kept.append((expected + other_expected, observed + other_observed))
    return math.fsum((o - e) ** 2 / e for e, o in kept), len(kept) - 1


def _wilson_hilferty(statistic: float, df: int) -> float:
    """The standard normal quantile of a chi-square statistic with ``df`` degrees of freedom."""
    spread = 2 / (9 * df)
    return (math.pow(statistic / df, 1 / 3) - (1 - spread)) / math.sqrt(spread)


def _tvd(counts: dict[str, int], reference: dict[str, int]) -> float:
    """Total variation distance between the two count vectors' shares."""
    n, total = sum(counts.values()), sum(reference.values())
    countries = counts.keys() | reference.keys()
    return 0.5 * math.fsum(
        abs(counts.get(c, 0) / n - reference.get(c, 0) / total) for c in countries
    )


def country_mix(value: MixValues, history: list[MixValues], threshold: float) -> Judgement:
    """Page views by country against the baseline windows' pooled shares: a chi-square test
    whose statistic is divided by the baseline's own dispersion (each baseline window against
    the others; floored at 1), since a session's page views share its country. Value and
    baseline are total variation distances; not judged without counts or page views."""
    unjudged = Judgement(0.0, 0.0, 0.0, 0.0, "shift", False)
    if value.countries is None or any(h.countries is None for h in history):
        return unjudged
    counts = value.countries
    windows = [h.countries for h in history if h.countries]
    pool: dict[str, int] = {}
    for window in windows:
        for country, n in window.items():
            pool[country] = pool.get(country, 0) + n
    if not counts or not pool:
        return unjudged
    statistic, df = chi_square(counts, pool)
    if not df:
        return unjudged
    dispersions, distances = [], []
    for window in windows:
        others = {c: n - window.get(c, 0) for c, n in pool.items() if n - window.get(c, 0)}
        if others:
            distances.append(_tvd(window, others))
            own, own_df = chi_square(window, others)
            if own_df:
                dispersions.append(own / own_df)
    dispersion = max(1.0, math.fsum(dispersions) / len(dispersions)) if dispersions else 1.0
    z = _wilson_hilferty(statistic / dispersion, df)
    mean, stddev = _mean_stddev(distances)
    value_tvd = _tvd(counts, pool)
    # Few page views spread far by chance: the shift must also beat every baseline window's.
    flag = z >= threshold and value_tvd > max(distances, default=0.0)
    return Judgement(value_tvd, mean, stddev, z, "shift", flag)


class MixRule:
    """The conversion rate and the country mix (``MIX_METRICS``); a missing window is empty."""

    metrics: tuple[str, ...] = MIX_METRICS
    history_windows = BASELINE_WINDOWS
    min_history = BASELINE_WINDOWS

    def __init__(self, threshold: float) -> None:
        self._threshold = threshold

    def __call__(self, value: MixValues | None, history: list[MixValues | None]) -> list[Judgement]:
        now = value or _NO_MIX
        past = [h or _NO_MIX for h in history]
        return [
            conversion_rate(now, past, self._threshold),
            country_mix(now, past, self._threshold),
        ]


class Rule(Protocol[V]):
    """How one window of ``metrics`` is judged against the up to ``history_windows`` before it
    that the project's history covers, newest first (None: the project had no events in that
    window); a window is judged once the history covers ``min_history`` windows."""

    metrics: tuple[str, ...]
    history_windows: int
    min_history: int

    def __call__(self, value: V | None, history: list[V | None]) -> list[Judgement]: ...


@dataclass(slots=True)
class ProjectSeries(Generic[V]):
    """One project's recent windows and the verdicts standing on them."""

    project_id: int = 0
    first_start: int | None = None  # the oldest window seen: history begins there
    newest_start: int = -(2**63)
    judged_through: int = -(2**63)  # the newest window judged as complete
    points: dict[int, V] = field(default_factory=dict)
    flagged: set[tuple[int, int]] = field(default_factory=set)  # (metric index, window start)

    def copy(self) -> ProjectSeries[V]:
        return ProjectSeries(
            self.project_id,
            self.first_start,
            self.newest_start,
            self.judged_through,
            dict(self.points),
            set(self.flagged),
        )


def _flip(flagged: set[tuple[int, int]], key: tuple[int, int], row: AnomalyRow) -> Verdict | None:
    """The verdict of a judged row: None when it is not flagged and was not before."""
    was = key in flagged
    if not row.is_anomaly and not was:
        return None
    if row.is_anomaly:
        flagged.add(key)
    else:
        flagged.discard(key)
    return Verdict(row, row.is_anomaly and not was)


class AnomalyLogic(StatefulBatchLogic[WindowPoint[V], Verdict, ProjectSeries[V]]):
    """The 5-minute windows of one project, judged by ``rule``."""

    def __init__(
        self, *, changeable_windows: int, rule: Rule[V], resume: ProjectSeries[V] | None
    ) -> None:
        self._changeable_ms = changeable_windows * WINDOW_MS
        self._rule = rule
        self._state: ProjectSeries[V] = ProjectSeries() if resume is None else resume

    def on_batch(self, values: list[WindowPoint[V]]) -> tuple[list[Verdict], bool]:
        state = self._state
        state.project_id = values[0].project_id
        needed = self._rule.min_history * WINDOW_MS
        reach = self._rule.history_windows
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
        oldest = max(state.first_start + needed, complete - self._changeable_ms)
        judged = state.judged_through
        # Judged again: a changed window and those whose history it is, and the windows that
        # earlier history (a late first window) made judgeable or lengthened; then the newly
        # complete ones.
        due = {s + k * WINDOW_MS for s in changed for k in range(reach + 1)}
        if first_before is not None and state.first_start < first_before:
            due.update(
                range(state.first_start + needed, first_before + reach * WINDOW_MS, WINDOW_MS)
            )
        due = {s for s in due if s <= judged}
        due.update(range(max(judged + WINDOW_MS, oldest), complete + 1, WINDOW_MS))
        state.judged_through = max(judged, complete)
        verdicts = [v for start in sorted(due) if start >= oldest for v in self._judge(start)]
        self._evict(oldest)
        return verdicts, StatefulBatchLogic.RETAIN

    def _judge(self, start: int) -> list[Verdict]:
        state = self._state
        assert state.first_start is not None
        starts = range(
            start - WINDOW_MS, start - (self._rule.history_windows + 1) * WINDOW_MS, -WINDOW_MS
        )
        history = [state.points.get(s) for s in starts if s >= state.first_start]
        judgements = self._rule(state.points.get(start), history)
        verdicts = []
        for i, (metric, j) in enumerate(zip(self._rule.metrics, judgements, strict=True)):
            row = AnomalyRow(
                state.project_id,
                metric,
                utc(start),
                utc(start + WINDOW_MS),
                j.value,
                j.baseline_mean,
                j.baseline_stddev,
                j.z_score,
                j.direction,
                j.flag,
            )
            if (verdict := _flip(state.flagged, (i, start), row)) is not None:
                verdicts.append(verdict)
        return verdicts

    def _evict(self, oldest: int) -> None:
        """Forget verdicts on windows that can no longer change, and windows that are no longer
        in the history of one that can."""
        state = self._state
        horizon = oldest - self._rule.history_windows * WINDOW_MS
        for start in [s for s in state.points if s < horizon]:
            del state.points[start]
        state.flagged = {key for key in state.flagged if key[1] >= oldest}

    def snapshot(self) -> ProjectSeries[V]:
        return self._state.copy()


class HourPoint(NamedTuple):
    """One project's hourly window: its start, revenue in cents and purchases."""

    project_id: int
    start_ms: int
    revenue_cents: int
    purchases: int


def hour_point(window: WindowAggregateRow) -> tuple[str, HourPoint] | None:
    """The hourly windows, keyed by project."""
    if window.window_length != _HOUR:
        return None
    start_ms = int(window.window_start.timestamp() * 1000)
    cents = int(window.revenue_usd * 100)
    point = HourPoint(window.ico_website_id, start_ms, cents, window.purchases)
    return str(window.ico_website_id), point


@dataclass(slots=True)
class RevenueHistory:
    """One project's hourly revenue and purchases of the last ``BASELINE_DAYS + 1`` days, and
    the verdicts standing on them."""

    project_id: int = 0
    first_start: int | None = None
    newest_start: int = -(2**63)
    judged_through: int = -(2**63)  # the newest hour judged as complete
    hours: dict[int, tuple[int, int]] = field(default_factory=dict)  # start: (cents, purchases)
    flagged: set[tuple[int, int]] = field(default_factory=set)  # (0, judged hour)

    def copy(self) -> RevenueHistory:
        return RevenueHistory(
            self.project_id,
            self.first_start,
            self.newest_start,
            self.judged_through,
            dict(self.hours),
            set(self.flagged),
        )


class _Day(NamedTuple):
    """A project's 24 hours: revenue, purchases, and the sums of its hours' squared revenue
    and of n(n - 1) over its hours' purchase counts n."""

    cents: int
    purchases: int
    squares: int
    pairs: int
    seen: bool  # any hourly window


def _compound_noise(past: list[_Day]) -> float:
    """The standard deviation of a 24-hour revenue minus the mean of ``past`` ones, if purchases
    arrive as a Poisson process with independent amounts: a day of n purchases varies by
    ``sqrt(n E[a^2])``. ``E[a^2]`` is estimated from the hours, since an hour of n purchases has
    ``E[R^2] = n E[a^2] + n (n - 1) E[a]^2``; it is at least ``E[a]^2``."""
    purchases = sum(day.purchases for day in past)
    if not purchases:
        return 0.0
    amount = sum(day.cents for day in past) / purchases
    pairs = sum(day.pairs for day in past)
    square = max((sum(day.squares for day in past) - amount**2 * pairs) / purchases, amount**2)
    per_day = purchases / len(past)
    return math.sqrt(per_day * square * (1 + 1 / len(past)))


class RevenueLogic(StatefulBatchLogic[HourPoint, Verdict, RevenueHistory]):
    """The 24-hour revenue of one project, judged at the end of each hour (the module
    docstring has the rule)."""

    def __init__(
        self,
        *,
        changeable_hours: int,
        ratio: float,
        threshold: float,
        resume: RevenueHistory | None,
    ) -> None:
        self._changeable_ms = changeable_hours * HOUR_MS
        self._ratio = ratio
        self._threshold = threshold
        self._state = RevenueHistory() if resume is None else resume

    def on_batch(self, values: list[HourPoint]) -> tuple[list[Verdict], bool]:
        state = self._state
        state.project_id = values[0].project_id
        first_before = state.first_start
        changed = set()
        for point in values:
            start = point.start_ms
            measures = (point.revenue_cents, point.purchases)
            if state.hours.get(start) != measures:
                state.hours[start] = measures
                changed.add(start)
            if state.first_start is None or start < state.first_start:
                state.first_start = start
            state.newest_start = max(state.newest_start, start)
        assert state.first_start is not None
        complete = state.newest_start - HOUR_MS  # the project has data after it
        # The first hour with a whole day of history before its 24 hours.
        oldest = max(state.first_start + 2 * DAY_MS - HOUR_MS, complete - self._changeable_ms)
        judged = state.judged_through
        # An hour is in the 24 hours of the next 24 and in the baselines of the next 8 days.
        reach = (BASELINE_DAYS + 1) * DAY_MS
        due = {h for s in changed for h in range(s, s + reach, HOUR_MS)}
        if first_before is not None and state.first_start < first_before:
            due.update(range(state.first_start, first_before + reach, HOUR_MS))
        due = {h for h in due if h <= judged}
        due.update(range(max(judged + HOUR_MS, oldest), complete + 1, HOUR_MS))
        state.judged_through = max(judged, complete)
        verdicts = [v for hour in sorted(due) if hour >= oldest if (v := self._judge(hour))]
        horizon = oldest - (BASELINE_DAYS + 1) * DAY_MS + HOUR_MS
        for start in [s for s in state.hours if s < horizon]:
            del state.hours[start]
        state.flagged = {key for key in state.flagged if key[1] >= oldest}
        return verdicts, StatefulBatchLogic.RETAIN

    def _day(self, last_hour: int) -> _Day:
        """The 24 hours ending with ``last_hour``."""
        cents = purchases = squares = pairs = 0
        seen = False
        for hour in range(last_hour - DAY_MS + HOUR_MS, last_hour + 1, HOUR_MS):
            if (measures := self._state.hours.get(hour)) is not None:
                cents += measures[0]
                purchases += measures[1]
                squares += measures[0] ** 2
                pairs += measures[1] * (measures[1] - 1)
                seen = True
        return _Day(cents, purchases, squares, pairs, seen)

    def _judge(self, hour: int) -> Verdict | None:
        state = self._state
        value = self._day(hour).cents
        assert state.first_start is not None
        # Periods the project's history covers whole; of those, the ones with windows (as the
        # Grafana rule counts them).
        ends = [hour - d * DAY_MS for d in range(1, BASELINE_DAYS + 1)]
        days = [self._day(end) for end in ends if end + HOUR_MS - DAY_MS >= state.first_start]
        past = [day for day in days if day.seen]
        if not past:
            return None
        mean, stddev = _mean_stddev([float(day.cents) for day in past])
        scale = max(stddev, _compound_noise(past), 1.0)
        z = (value - mean) / scale
        flag = value < self._ratio * mean and z <= -self._threshold
        row = AnomalyRow(
            state.project_id,
            REVENUE_24H,
            utc(hour + HOUR_MS - DAY_MS),
            utc(hour + HOUR_MS),
            value / 100,
            mean / 100,
            stddev / 100,
            z,
            "spike" if z > 0 else "drop",
            flag,
        )
        return _flip(state.flagged, (0, hour), row)

    def snapshot(self) -> RevenueHistory:
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
    step_id: str,
    windows: Stream[WindowAggregateRow],
    *,
    lateness_seconds: int,
    threshold: float,
    revenue_drop_ratio: float,
) -> Stream[Verdict]:
    """Verdicts on each project's complete windows (see the module docstring)."""
    # A window can change until the lateness horizon passes it (two windows of slack).
    changeable = -(-lateness_seconds * 1000 // WINDOW_MS) + 2
    changeable_hours = -(-lateness_seconds * 1000 // HOUR_MS) + 2

    def build(resume: ProjectSeries[tuple[float, ...]] | None) -> AnomalyLogic[tuple[float, ...]]:
        return AnomalyLogic(changeable_windows=changeable, rule=ZRule(threshold), resume=resume)

    def build_mix(resume: ProjectSeries[MixValues] | None) -> AnomalyLogic[MixValues]:
        return AnomalyLogic(changeable_windows=changeable, rule=MixRule(threshold), resume=resume)

    def build_revenue(resume: RevenueHistory | None) -> RevenueLogic:
        return RevenueLogic(
            changeable_hours=changeable_hours,
            ratio=revenue_drop_ratio,
            threshold=threshold,
            resume=resume,
        )

    points = op.filter_map("five_minute_windows", windows, window_point)  # (project, point)
    verdicts = op.stateful_batch("series", points, build)  # (project, Verdict)
    # New steps with new ids: the ones above key the recovery state of existing deployments.
    mixes = op.filter_map("mix_windows", windows, mix_point)  # (project, point)
    mix_verdicts = op.stateful_batch("mix_series", mixes, build_mix)  # (project, Verdict)
    hours = op.filter_map("hourly_windows", windows, hour_point)  # (project, HourPoint)
    revenue = op.stateful_batch("revenue_24h", hours, build_revenue)  # (project, Verdict)
    merged = op.merge("all_verdicts", verdicts, mix_verdicts, revenue)  # (project, Verdict)
    return op.key_rm("unkey", merged)  # Verdict
