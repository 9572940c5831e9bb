"""The dashboards are built by the `dashboards` package at the repository root, which is not
installed; make it importable however pytest is started."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = str(Path(__file__).resolve().parents[2])
if REPO not in sys.path:
    sys.path.insert(0, REPO)
