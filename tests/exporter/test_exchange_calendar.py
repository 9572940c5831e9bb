"""`ta-exporter calendar` prints the `market` block from exchange_calendars, as the config wants it."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import exchange_calendars as xc  # the `calendar` extra; part of the test dependencies
import pandas as pd
import yaml

from exporter.config import parse_config
from exporter.exitcodes import UNAVAILABLE, USAGE
from exporter.probes.market import market_state
from tests.exporter.conftest import minimal_config

REPO = Path(__file__).parents[2]
NY = ZoneInfo("America/New_York")


def _run(*args: str, code: str | None = None) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "exporter.cli", *args]
    if code is not None:
        cmd = [sys.executable, "-c", code, *args]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)


def _library_2026() -> tuple[set[date], dict[date, time]]:
    cal = xc.get_calendar("XNYS", start="2025-12-01", end="2027-01-31")
    sessions = set(cal.sessions_in_range("2026-01-02", "2026-12-31").date)
    weekdays = set(pd.bdate_range("2026-01-01", "2026-12-31").date)
    early = {
        d.date(): cal.session_close(d).tz_convert("America/New_York").time()
        for d in cal.early_closes
        if d.year == 2026
    }
    return weekdays - sessions, {d: t.replace(tzinfo=None) for d, t in early.items()}


def test_xnys_2026_matches_the_library_and_loads_as_config() -> None:
    proc = _run("calendar", "--exchange", "XNYS", "--year", "2026")
    assert proc.returncode == 0, proc.stderr
    market = yaml.safe_load(proc.stdout)["market"]
    holidays, early = _library_2026()
    assert set(market["holidays"]) == holidays
    assert {d: datetime.strptime(t, "%H:%M").time() for d, t in market["early_closes"].items()} == (
        early
    )
    assert date(2026, 11, 26) in holidays  # Thanksgiving
    assert early[date(2026, 11, 27)] == time(13, 0)  # the day after closes at 13:00
    assert '2026-11-27: "13:00"' in proc.stdout  # quoted, as the config requires

    cfg = parse_config(minimal_config(market=market)).market
    at = lambda d, h, m: datetime(2026, 11, d, h, m, tzinfo=NY).timestamp()  # noqa: E731
    assert not market_state(cfg, at(26, 11, 0)).open
    assert market_state(cfg, at(27, 12, 59)).open
    assert not market_state(cfg, at(27, 13, 0)).open


def test_without_the_library_it_says_how_to_install_it() -> None:
    blocked = (
        "import sys; sys.modules['exchange_calendars'] = None; sys.argv[0] = 'ta-exporter'; "
        "from exporter.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    proc = _run("calendar", "--year", "2027", code=blocked)
    assert proc.returncode == UNAVAILABLE == 69
    assert "pip install 'torghut-ta-ops[calendar]'" in proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""


def test_an_unknown_exchange_is_a_usage_error() -> None:
    proc = _run("calendar", "--exchange", "XNOPE", "--year", "2026")
    assert proc.returncode == USAGE == 64
    assert "--exchange: unknown exchange 'XNOPE'" in proc.stderr
