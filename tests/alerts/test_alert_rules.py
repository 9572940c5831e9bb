"""The rule files pass promtool's checks and unit tests, and promtool catches broken copies."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from alerts import build, thresholds

ALERTS_DIR = Path(__file__).resolve().parents[2] / "alerts"
UNIT_TEST_FILES = sorted((ALERTS_DIR / "tests").glob("*.yml"))
Run = Callable[..., Any]


def test_rule_files_pass_check_with_all_lints(run_tool: Run) -> None:
    files = sorted((ALERTS_DIR / "rules").glob("*.yml"))
    assert files, "no rule files"
    result = run_tool("promtool", "check", "rules", "--lint=all", "--lint-fatal", *files)
    assert result.returncode == 0, result.output
    assert "SUCCESS" in result.stdout


@pytest.mark.parametrize("test_file", UNIT_TEST_FILES, ids=lambda p: p.name)
def test_promtool_unit_tests_pass(run_tool: Run, test_file: Path) -> None:
    result = run_tool("promtool", "test", "rules", test_file.name, cwd=test_file.parent)
    assert result.returncode == 0, result.output
    assert "SUCCESS" in result.stdout


def test_rule_file_is_generated_from_its_definition() -> None:
    """The committed rule file is exactly what alerts/*.py and alerts/thresholds.yaml render."""
    assert not build.is_stale(), "run: python -m alerts.build (make rules)"


def test_drift_check_catches_a_hand_edit(tmp_path: Path) -> None:
    edited = tmp_path / "torghut-ta.rules.yml"
    edited.write_text(build.RULES_FILE.read_text(encoding="utf-8").replace("> 300", "> 301", 1))
    assert build.is_stale(edited)
    assert build.is_stale(tmp_path / "missing.yml")
    assert build.main(["--check"]) == 0


def _copy_alerts(tmp_path: Path) -> Path:
    """A private copy of alerts/rules + alerts/tests (the tests refer to ../rules/...)."""
    copy = tmp_path / "alerts"
    shutil.copytree(ALERTS_DIR / "rules", copy / "rules")
    shutil.copytree(ALERTS_DIR / "tests", copy / "tests")
    return copy


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} must occur exactly once in {path}"
    path.write_text(text.replace(old, new), encoding="utf-8")


@pytest.mark.parametrize(
    ("old", "new", "why"),
    [
        (
            'torghut_ta_clickhouse_replica_readonly{job="torghut-ta-exporter"} == 1',
            'torghut_ta_clickhouse_replica_readonly{job="torghut-ta-exporter"} ==',
            "PromQL",
        ),
        (
            "      - alert: TAKafkaConsumerLagHigh\n",
            "      - alert TAKafkaConsumerLagHigh\n",
            "YAML",
        ),
        ("for: 10m\n", "for: ten minutes\n", "duration"),
    ],
    ids=["promql", "yaml", "duration"],
)
def test_a_broken_rule_file_fails_check_and_unit_tests(
    run_tool: Run, tmp_path: Path, old: str, new: str, why: str
) -> None:
    copy = _copy_alerts(tmp_path)
    broken = next((copy / "rules").glob("*.yml"))
    if old not in broken.read_text(encoding="utf-8"):
        pytest.fail(f"fixture text for the {why} break is gone from {broken.name}: update the test")
    text = broken.read_text(encoding="utf-8")
    broken.write_text(text.replace(old, new, 1), encoding="utf-8")

    check = run_tool("promtool", "check", "rules", "--lint=all", broken)
    assert check.returncode != 0, f"{why} error not caught:\n{check.output}"

    unit = run_tool("promtool", "test", "rules", "kafka.yml", cwd=copy / "tests")
    assert unit.returncode != 0, f"{why} error not caught by the unit tests:\n{unit.output}"


def test_unit_tests_catch_a_moved_threshold(run_tool: Run, tmp_path: Path) -> None:
    """The boundary cases are real: staleness 300 s -> 299 s in the thresholds makes the 300 s
    case fire (the rules rebuilt from the changed thresholds, as `make rules` would)."""
    copy = _copy_alerts(tmp_path)
    rules = next((copy / "rules").glob("*.yml"))
    moved = thresholds.current().model_copy(update={"signals_stale_seconds": 299})
    rules.write_text(build.render_rules(thresholds=moved), encoding="utf-8")
    assert "> 299\n" in rules.read_text(encoding="utf-8")
    result = run_tool("promtool", "test", "rules", "freshness.yml", cwd=copy / "tests")
    assert result.returncode != 0, result.output
    assert "ta_microbars" in result.stdout + result.stderr, result.output


def test_unit_tests_catch_a_market_hours_guard_removed(run_tool: Run, tmp_path: Path) -> None:
    copy = _copy_alerts(tmp_path)
    rules = next((copy / "rules").glob("*.yml"))
    _edit(
        rules,
        '(torghut_ta_market_open{job="torghut-ta-exporter"} == 0)\n        for: 2m\n'
        "        labels:\n          severity: critical\n          component: signals\n",
        '(torghut_ta_market_open{job="torghut-ta-exporter"} == 5)\n        for: 2m\n'
        "        labels:\n          severity: critical\n          component: signals\n",
    )
    result = run_tool("promtool", "test", "rules", "freshness.yml", cwd=copy / "tests")
    assert result.returncode != 0, result.output
    assert "outside market hours" in result.stdout + result.stderr, result.output
