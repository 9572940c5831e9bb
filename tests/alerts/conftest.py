"""Shared fixtures for the alert tests: the rule files, their alerts, and the promtool/amtool CLIs.

Test modules reach everything through fixtures (they never import a conftest). The rules are
built by the `alerts` package at the repository root, which is not installed: it is made
importable here however pytest is started (before tests/alerts could pass for it).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
ALERTS_DIR = REPO / "alerts"
RULES_DIR = ALERTS_DIR / "rules"
UNIT_TESTS_DIR = ALERTS_DIR / "tests"
AM_DIR = ALERTS_DIR / "alertmanager"
RUNBOOKS_DIR = REPO / "docs" / "runbooks"
TOOL_TIMEOUT_S = 60


@dataclass(frozen=True)
class AlertRule:
    """One alerting rule as written in a rule file."""

    name: str
    group: str
    expr: str
    labels: dict[str, str]
    annotations: dict[str, str]
    source: Path


@dataclass(frozen=True)
class ToolResult:
    """What a CLI run returned."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return f"$ {' '.join(self.args)}\n{self.stdout}\n{self.stderr}"


def _load_yaml(path: Path) -> Any:
    with path.open(encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def rule_files() -> list[Path]:
    return sorted(RULES_DIR.glob("*.y*ml"))


def unit_test_files() -> list[Path]:
    return sorted(UNIT_TESTS_DIR.glob("*.y*ml"))


def load_alert_rules() -> list[AlertRule]:
    """Every `alert:` rule of every rule file, in file order."""
    found: list[AlertRule] = []
    for path in rule_files():
        doc = _load_yaml(path)
        for group in doc["groups"]:
            for rule in group["rules"]:
                if "alert" not in rule:
                    continue
                found.append(
                    AlertRule(
                        name=rule["alert"],
                        group=group["name"],
                        expr=rule["expr"],
                        labels={k: str(v) for k, v in (rule.get("labels") or {}).items()},
                        annotations=dict(rule.get("annotations") or {}),
                        source=path,
                    )
                )
    return found


@pytest.fixture(scope="session")
def alert_rules() -> list[AlertRule]:
    rules = load_alert_rules()
    assert rules, f"no alerting rules under {RULES_DIR}"
    return rules


@pytest.fixture(scope="session")
def unit_tests() -> dict[Path, Any]:
    """Parsed promtool unit-test files."""
    files = unit_test_files()
    assert files, f"no promtool unit tests under {UNIT_TESTS_DIR}"
    return {path: _load_yaml(path) for path in files}


def _require(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.fail(f"{tool} is not on PATH: run `make deps` (Debian prometheus/alertmanager)")
    return path


@pytest.fixture(scope="session")
def run_tool() -> Callable[..., ToolResult]:
    """Runs promtool/amtool with a timeout and returns its exit code and output."""

    def run(tool: str, *args: str | Path, cwd: Path | None = None) -> ToolResult:
        argv = [_require(tool), *(str(a) for a in args)]
        proc = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=TOOL_TIMEOUT_S,
            cwd=cwd,
            check=False,
        )
        return ToolResult(argv, proc.returncode, proc.stdout, proc.stderr)

    return run
