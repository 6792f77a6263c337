"""Files shipped inside the package: ``sql/`` and ``schemas/`` of the repository are mapped into
the wheel as ``ico_core.sql`` and ``ico_core.schemas`` (see ``pyproject.toml``), so an installed
wheel reads the same files a checkout does, wherever it runs from."""

from __future__ import annotations

from importlib.resources import files
from importlib.resources.abc import Traversable


def sql_file(relative: str) -> Traversable:
    """``sql/<relative>``, e.g. ``queries/stored_counts.sql``."""
    return files("ico_core.sql").joinpath(relative)


def schema_file(name: str) -> Traversable:
    """``schemas/<name>``, e.g. ``clickstream.avsc``."""
    return files("ico_core.schemas").joinpath(name)
