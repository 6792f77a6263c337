"""The Prometheus endpoint every long-running command serves its metrics on."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, start_http_server


def serve_registry(port: int, address: str) -> CollectorRegistry:
    """A registry of its own, served on ``address:port`` from a thread (``METRICS_BIND_ADDRESS``
    is loopback unless a pod opens it to Prometheus)."""
    registry = CollectorRegistry()
    start_http_server(port, addr=address, registry=registry)
    return registry
