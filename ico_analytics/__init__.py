"""ico-analytics: real-time analytics for ICO token-sale websites."""

from pathlib import Path

__version__ = "0.1.0"

#: The repository root: schemas/, sql/ and grafana-dashboards/ are read from here.
REPO_ROOT = Path(__file__).resolve().parent.parent
