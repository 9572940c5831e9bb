"""Every rule is scoped to one install: selectors carry the install's matchers, aggregations and
joins keep the install labels, and a rule file built for other labels is valid too."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from alerts import build
from alerts.scope import Scope, split_matchers

Run = Callable[..., Any]
EXPORTER = 'job="torghut-ta-exporter"'
REMEDIATOR = 'job="torghut-ta-remediator"'
# Alertmanager's own series live in Alertmanager's install, not the remediator's.
FOREIGN = {"alertmanager_notifications_failed_total"}
# The one `on ()`: Alertmanager's failures joined with "some remediator of this selector is up".
UNSCOPED_JOIN = {"TARemediatorWebhookFailing"}
_SELECTOR = re.compile(r"\b((?:torghut_ta[_:][a-z0-9_:]+)|up|alertmanager_[a-z_]+)(\{[^}]*\})?")


def _rules() -> list[dict[str, Any]]:
    doc = yaml.safe_load(build.RULES_FILE.read_text(encoding="utf-8"))
    return [r for g in doc["groups"] for r in g["rules"]]


def _name(rule: dict[str, Any]) -> str:
    return str(rule.get("alert") or rule.get("record"))


def test_every_series_selector_carries_the_install_selector() -> None:
    for rule in _rules():
        for metric, matchers in _SELECTOR.findall(rule["expr"]):
            if metric in FOREIGN:
                continue
            wanted = (
                REMEDIATOR if rule.get("labels", {}).get("component") == "remediator" else EXPORTER
            )
            assert matchers and wanted in split_matchers(matchers[1:-1]), (
                f"{_name(rule)}: {metric}{matchers} lacks {wanted}"
            )


def _closing(text: str, start: int) -> int:
    """Index just past the parenthesis matching the one at `start`."""
    depth = 0
    for i in range(start, len(text)):
        depth += {"(": 1, ")": -1}.get(text[i], 0)
        if depth == 0:
            return i + 1
    raise AssertionError(f"unbalanced parentheses in {text!r}")


def absent_branches(expr: str) -> tuple[str, list[str]]:
    """(expr without its absent() branches, the branches). A branch is the parenthesised group
    that starts with `absent(`, or the bare absent() call: absent() keeps only the selector's
    equality labels, so its branch joins `on ()` with partners under the same selector."""
    branches = []
    while (at := expr.find("absent(")) >= 0:
        before = expr[:at].rstrip()
        start = len(before) - 1 if before.endswith("(") else at
        end = _closing(expr, start if start < at else at + len("absent"))
        branches.append(expr[start:end])
        expr = expr[:start] + "ABSENT" + expr[end:]
    return expr, branches


def test_every_join_and_aggregation_keeps_the_install_labels() -> None:
    for rule in _rules():
        expr, branches = absent_branches(" ".join(rule["expr"].split()))
        for branch in branches:
            assert re.findall(r"\b(?:on|by) \(([^)]*)\)", branch) in ([], [""], ["", ""]), branch
        for kind, labels in re.findall(r"\b(on|by) \(([^)]*)\)", expr):
            names = [n.strip() for n in labels.split(",") if n.strip()]
            if _name(rule) in UNSCOPED_JOIN and kind == "on" and not names:
                continue
            assert names[:2] == ["cluster", "namespace"], f"{_name(rule)}: {kind} ({labels}) {expr}"
        bare = re.findall(r"\b(?:max|min|sum|count|group)\((?!\))", expr)
        if _name(rule) not in UNSCOPED_JOIN:
            assert not bare, f"{_name(rule)}: aggregation without by (install labels): {expr}"


def test_recorded_series_are_read_only_after_their_rule_in_the_same_group() -> None:
    """Rules of a group run in order, groups apart: a record read from another group would be
    one evaluation late (and promtool would evaluate the groups in any order)."""
    doc = yaml.safe_load(build.RULES_FILE.read_text(encoding="utf-8"))
    recorded = {r["record"] for g in doc["groups"] for r in g["rules"] if "record" in r}
    assert recorded
    for group in doc["groups"]:
        seen: set[str] = set()
        for rule in group["rules"]:
            used = set(re.findall(r"\btorghut_ta:[a-z0-9_:]+", rule["expr"]))
            assert used <= seen, f"{_name(rule)} reads {used - seen} before or outside its group"
            if "record" in rule:
                seen.add(rule["record"])


def test_a_rule_file_for_other_install_labels_and_selectors(run_tool: Run, tmp_path: Path) -> None:
    scope = Scope(("k8s_cluster", "ns"), 'job="ta-exp", ns="prod"', 'job="ta-rem", ns="prod"')
    out = tmp_path / "scoped.rules.yml"
    assert build.main(
        ["--install-labels", "k8s_cluster,ns", "--exporter-selector", scope.exporter,
         "--remediator-selector", scope.remediator, "--out", str(out)]
    ) == 0  # fmt: skip
    text = "\n".join(
        r["expr"] for g in yaml.safe_load(out.read_text())["groups"] for r in g["rules"]
    )
    assert "cluster, namespace" not in text and EXPORTER not in text and REMEDIATOR not in text
    assert "on (k8s_cluster, ns, deployment)" in text
    assert 'absent(up{job="ta-exp", ns="prod"})' in text
    check = run_tool("promtool", "check", "rules", "--lint=all", "--lint-fatal", out)
    assert check.returncode == 0, check.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--install-labels", "clu-ster"], "not a Prometheus label name"),
        (["--exporter-selector", "job=exporter"], "is not a matcher"),
        (["--check", "--install-labels", "ns"], "no scope options"),
    ],
)
def test_bad_scope_options_are_refused_by_name(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        build.main(args)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_installs_cases_fail_without_install_labels(run_tool: Run, tmp_path: Path) -> None:
    """alerts/tests/installs.yml has teeth: the same rules joined `on ()` (no install labels)
    let one install's series decide another's alerts, and the unit tests say so."""
    alerts_dir = build.RULES_FILE.parents[1]
    (tmp_path / "rules").mkdir()
    (tmp_path / "tests").mkdir()
    (tmp_path / "rules" / build.RULES_FILE.name).write_text(build.render_rules(Scope(())))
    (tmp_path / "tests" / "installs.yml").write_text(
        (alerts_dir / "tests" / "installs.yml").read_text(encoding="utf-8")
    )
    result = run_tool("promtool", "test", "rules", "installs.yml", cwd=tmp_path / "tests")
    assert result.returncode != 0, result.output
    for case in (
        "one install's full disk decides only its own failed job",
        "one install's Keeper outage never vetoes another's Procedure B",
        "retention of a topic is read from the install's own Kafka",
        "staleness and the trading gate per install",
    ):
        assert case in result.stdout + result.stderr, result.output


def test_absent_branches_are_found() -> None:
    expr = '(a > 1 or on (cluster, namespace) b == 0) or on (cluster, namespace) ( absent(up{job="x"} == 1) and on () (max(m{job="x"}) == 1) ) or absent(up{job="x"})'
    rest, branches = absent_branches(expr)
    assert branches == [
        '( absent(up{job="x"} == 1) and on () (max(m{job="x"}) == 1) )',
        'absent(up{job="x"})',
    ]
    assert (
        rest
        == "(a > 1 or on (cluster, namespace) b == 0) or on (cluster, namespace) ABSENT or ABSENT"
    )
