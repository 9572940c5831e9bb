"""`helm lint --strict` over the value sets: no errors and no warnings."""

from __future__ import annotations

import helm_python as helm
import pytest

SETS = [
    "default",
    "network-policy",
    "remediator-enabled",
    "custom-names",
    "no-secrets",
    "production",
    "production-remediator",
    "production-auto",
]


@pytest.mark.parametrize("value_set", SETS)
def test_lint_strict_is_clean(kit, value_set: str) -> None:
    report = helm.lint(
        str(kit.chart_dir),
        kit.value_sets[value_set],
        strict=True,
        namespace=kit.namespace,
        kube_version="v1.30.0",
    )
    problems = [m for m in report["messages"] if m["severity"] >= 2]
    assert report["total_charts_linted"] == 1
    assert not problems, problems
    assert not report["errors"], report["errors"]


def test_lint_reports_a_broken_value(kit) -> None:
    # Lint is only worth running if it can fail: a wrong type must surface as an error.
    report = helm.lint(str(kit.chart_dir), {"exporter": {"port": "http"}}, strict=True)
    assert any("/exporter/port" in e for e in report["errors"]), report
