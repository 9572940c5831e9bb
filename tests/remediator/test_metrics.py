"""The remediator's metrics: every series whose labels are known in advance exists at 0 from the
start, so the dashboard's panels and `increase()` read 0 instead of nothing."""

from __future__ import annotations

import ast
from pathlib import Path

from prometheus_client import generate_latest

from remediator import procedures
from remediator.config import PROCEDURES
from remediator.metrics import STEPS, RemediatorMetrics


def _planned_step_names() -> set[str]:
    """The name of every Step the planners can build (read from their source)."""
    tree = ast.parse(Path(procedures.__file__).read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Step":
            first = node.args[0]
            assert isinstance(first, ast.Constant), ast.dump(first)
            names.add(first.value)
    return names


def test_seeded_steps_are_the_planners_steps() -> None:
    assert set(STEPS) == set(PROCEDURES)
    assert {s for steps in STEPS.values() for s in steps} == _planned_step_names()


def test_known_series_exist_at_zero_before_anything_happened() -> None:
    text = generate_latest(RemediatorMetrics().registry).decode()
    for line in (
        'torghut_ta_remediation_runs_total{outcome="failed",procedure="A"} 0.0',
        'torghut_ta_remediation_runs_total{outcome="observed",procedure="trading_gate"} 0.0',
        'torghut_ta_remediation_steps_total{outcome="done",procedure="A",step="drop_partition"} 0.0',
        'torghut_ta_remediation_steps_total{outcome="failed",procedure="B",step="restore_replica"} 0.0',
        'torghut_ta_remediation_gate_blocks_total{gate="mode"} 0.0',
        "torghut_ta_remediation_in_progress 0.0",
        'torghut_ta_remediation_approvals_total{verdict="expired"} 0.0',
        'torghut_ta_remediation_escalations_total{procedure="B"} 0.0',
        'torghut_ta_remediation_step_retries_total{procedure="A",step="suspend_job"} 0.0',
    ):
        assert line in text, line
    # a step never planned for a procedure gets no series
    assert 'procedure="B",step="drop_partition"' not in text
