"""`--alert-pace fast`: the shipped rules with durations scaled, still valid for promtool."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from sandbox.alert_pace import fast_rules, paced_rule_files

RULES = sorted((Path(__file__).resolve().parents[2] / "alerts" / "rules").glob("*.yml"))


def _by_alert(doc: dict) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for group in doc["groups"]:
        for rule in group["rules"]:
            out.setdefault(rule.get("alert", rule.get("record")), []).append(rule)
    return out


def test_real_is_the_shipped_files(tmp_path: Path) -> None:
    assert paced_rule_files(RULES, "real", tmp_path) == RULES
    assert not list(tmp_path.iterdir())


def test_fast_scales_for_and_age_bounds_and_keeps_everything_else(tmp_path: Path) -> None:
    shipped = yaml.safe_load(RULES[0].read_text())
    fast = _by_alert(fast_rules(shipped))
    real = _by_alert(shipped)
    assert fast.keys() == real.keys()
    assert [r["for"] for r in fast["TAFlinkJobFailed"]] == ["24s", "24s"]  # 2m / 5
    assert [r["for"] for r in fast["TAClickHouseDiskPressure"]] == ["60s", "60s"]  # 5m / 5
    stale = fast["TATradingOnStaleSignals"]
    assert 'trading_signal_age_seconds{job="torghut-ta-exporter"}) > 60' in stale[0]["expr"]
    assert ") > 30" in stale[1]["expr"]  # 120 s / 5 = 24, floored at 30
    assert "> 300" not in stale[0]["expr"] and "> 120" not in stale[1]["expr"]
    table_age = fast["TASignalsStale"][0]["expr"]
    assert "table_signal_age_seconds" in table_age and "> 60" in table_age
    for name, rules in real.items():
        for r, f in zip(rules, fast[name], strict=True):
            assert f.get("labels") == r.get("labels"), name
            assert f.get("annotations") == r.get("annotations"), name
    disk = fast["TAClickHouseDiskPressure"][0]["expr"]
    assert disk == real["TAClickHouseDiskPressure"][0]["expr"]  # no age in it: unchanged


def test_fast_rule_files_pass_promtool(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool (Debian package prometheus) is needed"
    files = paced_rule_files(RULES, "fast", tmp_path)
    done = subprocess.run(
        [promtool, "check", "rules", *map(str, files)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_unknown_pace_and_odd_durations_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="alert pace 'slow'"):
        paced_rule_files(RULES, "slow", tmp_path)
    doc = {"groups": [{"name": "g", "rules": [{"alert": "X", "expr": "1", "for": "1m30s"}]}]}
    with pytest.raises(ValueError, match=r"for: 1m30s"):
        fast_rules(doc)
