"""The chart stays strictly valid offline for every Kubernetes minor release from 1.33 to the
newest whose schemas kubernetes-validate ships (1.37), rendered by helm 3 and by helm 4.

`make test` validates with helm 3 for 1.33 only; helm 4 is built here, with the cluster's
binaries (the session fixture), so this matrix lives in `make e2e`. Rendering is offline: the
cluster is not asked anything.
"""

from __future__ import annotations

import pytest

from tests.chart.chartlib import Helm, scenarios
from tests.chart.schemas import validation_errors
from tests.cluster.kube import BIN

KUBE_VERSIONS = ["1.33.0", "1.34.0", "1.35.0", "1.36.0", "1.37.0"]


@pytest.mark.parametrize("kube_version", KUBE_VERSIONS)
@pytest.mark.parametrize("helm", ["helm", "helm4"])
def test_every_scenario_validates_strictly(cluster: None, helm: str, kube_version: str) -> None:
    renderer = Helm(BIN / helm, kube_version=kube_version)
    errors: list[str] = []
    kinds: set[str] = set()
    for scenario in scenarios():
        docs = renderer.render(values=scenario.values, api_versions=scenario.api_versions)
        kinds |= {doc["kind"] for doc in docs}
        errors += [f"{scenario.name}: {e}" for e in validation_errors(docs, kube_version)]
    assert errors == []
    # Strimzi's, Prometheus Operator's and the core kinds were all among what was checked.
    assert {"StatefulSet", "CronJob", "NetworkPolicy", "Kafka", "PodMonitor"} <= kinds
