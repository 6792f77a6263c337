"""`make e2e`: a real single-node Kubernetes cluster on this machine (see README.md here).

The session fixture installs the Debian packages, builds or reuses the binaries and images, starts
the cluster and stops it at the end, whatever happened. These tests are collected only when
ICO_E2E=1 (set by `make e2e`): `make test` must not start a cluster.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Iterator

import pytest

from tests.cluster.kube import Namespace, component_rss_mb, kubectl, record, run, script

collect_ignore_glob = [] if os.environ.get("ICO_E2E") == "1" else ["test_*.py"]

_numbers = itertools.count(1)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A test marked ``one_helm`` exercises what does not go through helm (e.g. the
    ``cluster`` command on the API server): it runs on the helm 3 release only, which keeps a
    cold ``make e2e`` inside its budget."""
    keep, drop = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        helm = callspec.params.get("release") if callspec else None
        (drop if item.get_closest_marker("one_helm") and helm == "helm4" else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture(scope="session")
def cluster() -> Iterator[None]:
    timings: dict[str, float] = {}
    timings["packages_s"] = script("install-packages.sh", timeout=900)
    timings["build_s"] = script("build.sh", timeout=3000)
    timings["images_s"] = script("images.sh", timeout=1800)
    script("stop-cluster.sh", timeout=120)  # leftovers of an interrupted run
    try:
        timings["start_s"] = script("start-cluster.sh", timeout=600)
        record(event="cluster-up", **{k: round(v, 1) for k, v in timings.items()})
        yield
        record(event="cluster-rss-mb", **component_rss_mb())
    finally:
        start = time.monotonic()
        script("stop-cluster.sh", timeout=180)
        record(event="cluster-stopped", stop_s=round(time.monotonic() - start, 1))


@pytest.fixture
def namespace(cluster: None) -> Iterator[Namespace]:
    ns = Namespace(f"e2e-{os.getpid()}-{next(_numbers)}")
    kubectl("create", "namespace", ns.name)
    yield ns
    run(["kubectl", "delete", "namespace", ns.name, "--wait=false"], timeout=60, check=False)
