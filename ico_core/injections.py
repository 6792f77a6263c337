"""Anomalies the generator can inject, so tests and demos can show they are detected.

``GENERATOR_ANOMALIES`` (and ``ico-analytics generate --anomalies``) is a comma-separated list of
``project:kind:start:size``, e.g. ``3:revenue_drop:2026-12-01T10:00:1.0,7:traffic_spike:
2026-12-01T12:00:3``; ``start`` is an ISO date-time, UTC unless it carries an offset. What each
kind does to the project's sessions starting in ``[start, start + duration)``:

- ``traffic_spike``: ``size`` more sessions per session (3: four times the traffic), 15 minutes.
- ``conversion_drop``: new visitors sign up ``size`` less often (1: never), for an hour.
- ``revenue_drop``: a buyer gives up the purchase with probability ``size``, to the end of the
  run (the 24-hour revenue rule judges a lasting fall).
- ``country_shift``: a new visitor comes from ``SHIFT_COUNTRY`` with probability ``size``, for an
  hour.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Final, NamedTuple

from ico_core.errors import ConfigError


class AnomalyKind(StrEnum):
    TRAFFIC_SPIKE = "traffic_spike"
    CONVERSION_DROP = "conversion_drop"
    REVENUE_DROP = "revenue_drop"
    COUNTRY_SHIFT = "country_shift"


#: How long each kind lasts from its start (None: to the end of the run).
DURATION_MS: Final[dict[AnomalyKind, int | None]] = {
    AnomalyKind.TRAFFIC_SPIKE: 15 * 60_000,
    AnomalyKind.CONVERSION_DROP: 3_600_000,
    AnomalyKind.REVENUE_DROP: None,
    AnomalyKind.COUNTRY_SHIFT: 3_600_000,
}
#: Where the visitors of a country shift come from: a small market, so the shift is visible.
SHIFT_COUNTRY: Final = "NG"


class Injection(NamedTuple):
    """One injected anomaly: the project it hits, what, from when, and how strongly."""

    project: int
    kind: AnomalyKind
    start_ms: int
    size: float

    def active(self, project: int, ms: int) -> bool:
        """Whether a session of ``project`` starting at ``ms`` is affected."""
        duration = DURATION_MS[self.kind]
        return (
            project == self.project
            and ms >= self.start_ms
            and (duration is None or ms < self.start_ms + duration)
        )


def parse_injections(text: str) -> tuple[Injection, ...]:
    """``project:kind:start:size,...`` (see the module docstring); empty text is none."""
    injections = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        fields = item.split(":")
        if len(fields) < 4:
            raise ConfigError(f"anomaly {item!r} is not project:kind:start:size")
        project, kind, start, size = fields[0], fields[1], ":".join(fields[2:-1]), fields[-1]
        try:
            when = datetime.fromisoformat(start)
            injection = Injection(
                int(project),
                AnomalyKind(kind),
                int((when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp() * 1000),
                float(size),
            )
        except ValueError as e:
            raise ConfigError(f"anomaly {item!r}: {e}") from e
        limit = None if injection.kind is AnomalyKind.TRAFFIC_SPIKE else 1.0
        if injection.size <= 0 or (limit is not None and injection.size > limit):
            raise ConfigError(
                f"anomaly {item!r}: size must be > 0" + ("" if limit is None else " and <= 1")
            )
        injections.append(injection)
    return tuple(injections)
