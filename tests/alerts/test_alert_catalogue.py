"""Every alert of the contract (docs/runbooks/README.md) exists, is labelled and annotated alike, uses only
contract metrics, has a runbook page, and is fired and not fired by a promtool unit test."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from exporter.metrics import CATALOGUE
from remediator.metrics import CATALOGUE as REMEDIATOR_CATALOGUE

REPO = Path(__file__).resolve().parents[2]
RUNBOOKS = REPO / "docs" / "runbooks"
RUNBOOK_BASE = "https://github.com/torghut/torghut-ta-ops/blob/main/docs/runbooks"
DASHBOARDS = {
    "https://grafana.example.com/d/torghut-ta-overview",
    "https://grafana.example.com/d/torghut-ta-remediation",
}
# The alert names are a contract; docs/runbooks/README.md lists them (test below).
CONTRACT_ALERTS = {
    "TAFlinkJobFailed",
    "TAFlinkJobNotRunning",
    "TASignalsStale",
    "TASignalsUnknown",
    "TAClickHouseKeeperUnavailable",
    "TATradingOnStaleSignals",
    "TAClickHouseDiskPressure",
    "TAClickHouseReplicaReadOnly",
    "TAFlinkCheckpointStale",
    "TACheckpointStorageDown",
    "TAKafkaConsumerLagHigh",
    "TAKafkaUnconsumedDataExpiring",
    "TAExporterProbeFailing",
    "TAExporterDown",
    "TARemediatorDown",
    "TARemediatorWebhookFailing",
}
# Posted by the remediator itself (remediator/actuators/alertmanager.py), never computed by a
# rule: one source per alert name, so one failure pages once. They have runbook pages too.
POSTED_ALERTS = {"TARemediationFailed", "TARemediationAwaitingApproval"}
REMEDIATOR_METRICS = set(REMEDIATOR_CATALOGUE)
ALLOWED_LABELS = {
    "severity": {"critical", "warning", "info"},
    "procedure": {"A", "B", "C", "none"},
    "remediation": {"auto", "approval", "manual"},
}
ANNOTATIONS = ("summary", "description", "runbook_url", "dashboard_url")


def test_rules_implement_exactly_the_contract_alerts(alert_rules: list[Any]) -> None:
    assert {r.name for r in alert_rules} == CONTRACT_ALERTS
    assert not {r.name for r in alert_rules} & POSTED_ALERTS


def test_contract_list_matches_the_runbook_index() -> None:
    text = (RUNBOOKS / "README.md").read_text(encoding="utf-8")
    named = set(re.findall(r"^\| \[(TA[A-Za-z]+)\]\(\1\.md\) \|", text, re.M))
    assert named == CONTRACT_ALERTS | POSTED_ALERTS


def test_posted_alerts_follow_the_label_and_annotation_contract() -> None:
    from remediator.actuators import alertmanager as am

    url = "http://remediator:8080/runs/r-1"
    built = [
        am.remediation_failed("r-1", "A", "torghut/torghut-ta", "step failed", url),
        am.awaiting_approval("r-1", "B", "torghut/torghut-ta", "restore_replica", url),
    ]
    assert {a.labels["alertname"] for a in built} == POSTED_ALERTS
    for alert in built:
        name = alert.labels["alertname"]
        assert alert.labels["severity"] in ALLOWED_LABELS["severity"]
        assert alert.labels["remediation"] in ALLOWED_LABELS["remediation"]
        assert alert.labels["component"] == "remediator"
        assert alert.annotations["runbook_url"] == f"{RUNBOOK_BASE}/{name}.md"
        assert alert.annotations["dashboard_url"] in DASHBOARDS
        assert alert.annotations["summary"] and alert.annotations["description"]
        assert alert.generator_url == url
        # never routed back to the remediator (alerts/alertmanager: alertname!~"TARemediation.*")
        assert name.startswith("TARemediation")


def test_every_rule_has_the_required_labels(alert_rules: list[Any]) -> None:
    for rule in alert_rules:
        for label, allowed in ALLOWED_LABELS.items():
            assert rule.labels.get(label) in allowed, f"{rule.name}: {label}={rule.labels}"
        assert rule.labels.get("component"), f"{rule.name}: no component"


def test_every_rule_has_the_required_annotations(alert_rules: list[Any]) -> None:
    for rule in alert_rules:
        for key in ANNOTATIONS:
            assert str(rule.annotations.get(key, "")).strip(), f"{rule.name}: no {key}"
        assert "{{" in rule.annotations["description"], f"{rule.name}: description has no values"
        assert rule.annotations["runbook_url"] == f"{RUNBOOK_BASE}/{rule.name}.md"
        assert rule.annotations["dashboard_url"] in DASHBOARDS


def test_rules_of_one_alert_differ_only_where_they_must(alert_rules: list[Any]) -> None:
    """Same-named rules (TAFlinkJobFailed) need distinct label sets, or they would collide."""
    seen: dict[str, list[dict[str, str]]] = {}
    for rule in alert_rules:
        seen.setdefault(rule.name, []).append(rule.labels)
    for name, label_sets in seen.items():
        distinct = {tuple(sorted(ls.items())) for ls in label_sets}
        assert len(distinct) == len(label_sets), f"{name}: two rules with the same labels"


def test_rules_use_only_contract_metrics(alert_rules: list[Any]) -> None:
    known = set(CATALOGUE) | REMEDIATOR_METRICS
    for rule in alert_rules:
        text = rule.expr + " ".join(str(v) for v in rule.annotations.values())
        used = set(re.findall(r"\btorghut_ta_[a-z0-9_]+", text))
        assert used or "up{" in rule.expr, f"{rule.name}: uses no metric of the contract"
        assert used <= known, f"{rule.name}: unknown {used - known}"


def test_staleness_alerts_are_quiet_only_when_the_market_is_known_closed(
    alert_rules: list[Any],
) -> None:
    """Outside market hours stale data is expected; an unknown session counts as open."""
    ages = ("last_event_timestamp_seconds", "torghut_ta:table_signal_age_seconds",
            "torghut_ta:trading_signal_age_seconds")  # fmt: skip
    guard = (
        'unless on (cluster, namespace)\n(torghut_ta_market_open{job="torghut-ta-exporter"} == 0)'
    )
    staleness = [r for r in alert_rules if any(a in r.expr for a in ages)]
    assert {r.name for r in staleness} == {"TASignalsStale", "TATradingOnStaleSignals"}
    for rule in staleness:
        assert guard in "\n".join(line.strip() for line in rule.expr.splitlines()), rule.name


def test_every_alert_has_a_runbook_page(alert_rules: list[Any]) -> None:
    for name in {r.name for r in alert_rules} | POSTED_ALERTS:
        page = RUNBOOKS / f"{name}.md"
        assert page.is_file(), f"missing {page}"
        text = page.read_text(encoding="utf-8")
        assert text.startswith(f"# {name}"), f"{page}: title must be the alert name"
        # the sections, the by-hand steps and the shared pause page: tests/docs/test_runbooks.py


def test_no_runbook_page_without_an_alert() -> None:
    pages = {p.stem for p in RUNBOOKS.glob("TA*.md")}
    assert pages <= CONTRACT_ALERTS | POSTED_ALERTS, pages - CONTRACT_ALERTS - POSTED_ALERTS


def _alert_cases(unit_tests: dict[Path, Any]) -> list[dict[str, Any]]:
    return [
        case
        for doc in unit_tests.values()
        for group in doc["tests"]
        for case in group.get("alert_rule_test") or []
    ]


def test_every_rule_is_fired_and_not_fired_by_a_unit_test(
    alert_rules: list[Any], unit_tests: dict[Path, Any]
) -> None:
    cases = _alert_cases(unit_tests)
    for rule in alert_rules:
        mine = [c for c in cases if c["alertname"] == rule.name]
        assert any(not c.get("exp_alerts") for c in mine), f"{rule.name}: no not-firing case"
        fired = [a for c in mine for a in c.get("exp_alerts") or []]
        matching = [
            a
            for a in fired
            if {k: str(v) for k, v in a["exp_labels"].items()}.items() >= rule.labels.items()
        ]
        assert matching, f"{rule.name} {rule.labels}: no unit test fires this rule"
        assert any(a.get("exp_annotations") for a in matching), (
            f"{rule.name} {rule.labels}: no unit test checks the rendered annotations"
        )
