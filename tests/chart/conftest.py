"""Session fixtures of the chart tests: the helm binary and the chart rendered per scenario."""

from __future__ import annotations

import pytest

from tests.chart.chartlib import Helm, Manifest, scenarios
from tests.tools import helm_binary


@pytest.fixture(scope="session")
def helm() -> Helm:
    return Helm(helm_binary())


@pytest.fixture(scope="session")
def rendered(helm: Helm) -> dict[str, list[Manifest]]:
    """Every scenario rendered once: name -> documents."""
    return {s.name: helm.render(values=s.values, api_versions=s.api_versions) for s in scenarios()}
