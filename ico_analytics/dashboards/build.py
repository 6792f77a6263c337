"""The Grafana dashboards and alert rules, built with grafana-foundation-sdk.

Each SQL panel's query is a named query in ``sql/queries/dashboards/<dashboard>/<name>.sql``
with Grafana's macros (``$__timeFilter``) and the ``$project`` variable; PromQL panels read the
Prometheus data source. ``build_files()`` renders the JSON files that ``ico-analytics dashboards
build`` writes to ``grafana-dashboards/`` and the chart provisions.
"""

from __future__ import annotations

import json

from grafana_foundation_sdk.builders import dashboard
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import dashboard as model

from ico_analytics.dashboards.alerts import alert_provisioning, alert_rules
from ico_analytics.dashboards.boards import ALL
from ico_analytics.dashboards.panels import DATASOURCE_UID, PROMETHEUS_UID

__all__ = ["ALERT_RULES_FILE", "DATASOURCE_UID", "PROMETHEUS_UID", "build_files", "dashboards"]

ALERT_RULES_FILE = "alert-rules.json"


def _render(obj: object) -> str:
    return json.dumps(obj, cls=JSONEncoder, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _numbered(builder: dashboard.Dashboard) -> model.Dashboard:
    """The dashboard with stable panel ids in layout order (links and alerts refer to them)."""
    built = builder.build()
    for number, panel in enumerate(built.panels or [], start=1):
        panel.id_val = number
    return built


def dashboards() -> list[model.Dashboard]:
    return [_numbered(make()) for make in ALL]


def build_files() -> dict[str, str]:
    """File name -> content of everything in ``grafana-dashboards/``."""
    files = {f"{d.uid}.json": _render(d) for d in dashboards()}
    files[ALERT_RULES_FILE] = _render(alert_provisioning(alert_rules()))
    return files
