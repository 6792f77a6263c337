"""Grafana dashboards and alert rules: built from code (``build``), committed to
``grafana-dashboards/``, checked in sync, and proven by running their queries (``preview``)."""

from __future__ import annotations

from pathlib import Path

from ico_analytics.dashboards.build import build_files

#: Where the built JSON is committed, relative to a checkout's root (the working directory).
DASHBOARDS_DIR = Path("grafana-dashboards")


def write(directory: Path = DASHBOARDS_DIR) -> list[str]:
    """Write every built file whose content changed, remove stale JSON; return what changed."""
    directory.mkdir(parents=True, exist_ok=True)
    built = build_files()
    changed = []
    for name, content in built.items():
        path = directory / name
        if not path.exists() or path.read_text(encoding="utf-8") != content:
            path.write_text(content, encoding="utf-8")
            changed.append(name)
    for stale in sorted(p for p in directory.glob("*.json") if p.name not in built):
        stale.unlink()
        changed.append(stale.name)
    return changed


def out_of_sync(directory: Path = DASHBOARDS_DIR) -> list[str]:
    """Each committed file that differs from what the code builds, is missing, or is stale."""
    built = build_files()
    problems = [
        f"{name}: {'differs from the build' if (directory / name).exists() else 'missing'}"
        for name, content in built.items()
        if not (directory / name).exists()
        or (directory / name).read_text(encoding="utf-8") != content
    ]
    problems += [
        f"{p.name}: not built by the code"
        for p in sorted(directory.glob("*.json"))
        if p.name not in built
    ]
    return problems
