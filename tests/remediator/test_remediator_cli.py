"""Until the remediator lands, its command says so plainly, acts on nothing and exits 69."""

from __future__ import annotations

import subprocess
import sys

from exporter.exitcodes import UNAVAILABLE


def test_ta_remediator_reports_it_is_not_available_and_exits_69() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "remediator.cli", "serve", "--config", "x.yaml"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == UNAVAILABLE == 69
    assert "not available in this release" in proc.stderr
    assert proc.stdout == ""
