"""The Alertmanager config is valid and routes each alert to the remediator only when it should.

amtool resolves the real routing tree; `--verify.receivers` makes it exit non-zero on mismatch.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

AM_DIR = Path(__file__).resolve().parents[2] / "alerts" / "alertmanager"
FULL_CONFIG = AM_DIR / "alertmanager.yml"
SNIPPET = AM_DIR / "remediator-route.yml"
REMEDIATOR = "torghut-ta-remediator"
WEBHOOK_PATH = "/webhook/alertmanager"
PAGING = {"critical": "oncall-pager", "warning": "oncall-chat", "info": "oncall-chat"}
Run = Callable[..., Any]


def _load(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _routes_test(run_tool: Run, config: Path, receivers: list[str], labels: dict[str, str]):
    args = [f"{k}={v}" for k, v in sorted(labels.items())]
    return run_tool(
        "amtool",
        "config",
        "routes",
        "test",
        f"--config.file={config}",
        f"--verify.receivers={','.join(receivers)}",
        *args,
    )


def should_reach_remediator(labels: dict[str, str]) -> bool:
    """The routing contract (alerts/README.md): procedure C is started by a person only."""
    if labels["alertname"].startswith("TARemediation"):
        return False
    return labels.get("procedure") in {"A", "B"} or (
        labels["alertname"] == "TATradingOnStaleSignals"
    )


def test_full_config_passes_amtool_check(run_tool: Run) -> None:
    result = run_tool("amtool", "check-config", FULL_CONFIG)
    assert result.returncode == 0, result.output
    assert "SUCCESS" in result.stdout


def test_snippet_alone_makes_a_valid_config(run_tool: Run, tmp_path: Path) -> None:
    snippet = _load(SNIPPET)
    config = {
        "route": {"receiver": "blackhole", "routes": snippet["route"]["routes"]},
        "receivers": [{"name": "blackhole"}, *snippet["receivers"]],
    }
    path = tmp_path / "alertmanager.yml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    result = run_tool("amtool", "check-config", path)
    assert result.returncode == 0, result.output


def test_full_config_embeds_the_snippet_unchanged() -> None:
    snippet, full = _load(SNIPPET), _load(FULL_CONFIG)
    n = len(snippet["route"]["routes"])
    assert full["route"]["routes"][:n] == snippet["route"]["routes"], "snippet routes must be first"
    (receiver,) = snippet["receivers"]
    assert receiver in full["receivers"]


def test_remediator_receiver_is_an_authenticated_resolving_webhook() -> None:
    snippet = _load(SNIPPET)
    (receiver,) = snippet["receivers"]
    assert receiver["name"] == REMEDIATOR
    (hook,) = receiver["webhook_configs"]
    assert hook["url"].endswith(WEBHOOK_PATH)
    assert hook["send_resolved"] is True
    auth = hook["http_config"]["authorization"]
    assert auth["type"] == "Bearer"
    assert auth["credentials_file"].startswith("/")
    assert "credentials" not in auth, "never inline the token"
    for route in snippet["route"]["routes"]:
        assert route["receiver"] == REMEDIATOR
        assert route["continue"] is True, "normal paging must still happen"


def test_every_rule_routes_as_its_labels_say(run_tool: Run, alert_rules: list[Any]) -> None:
    for rule in alert_rules:
        labels = {"alertname": rule.name, **rule.labels}
        expected = [REMEDIATOR] if should_reach_remediator(labels) else []
        expected.append(PAGING[labels["severity"]])
        result = _routes_test(run_tool, FULL_CONFIG, expected, labels)
        assert result.returncode == 0, f"{rule.name} {rule.labels}:\n{result.output}"


@pytest.mark.parametrize(
    ("labels", "receivers"),
    [
        (
            {"alertname": "Anything", "procedure": "A", "severity": "critical"},
            [REMEDIATOR, "oncall-pager"],
        ),
        (
            {"alertname": "Anything", "procedure": "B", "severity": "warning"},
            [REMEDIATOR, "oncall-chat"],
        ),
        # Procedure C (replay) is started by a person, never by an alert.
        ({"alertname": "Anything", "procedure": "C", "severity": "warning"}, ["oncall-chat"]),
        ({"alertname": "Anything", "procedure": "C", "severity": "critical"}, ["oncall-pager"]),
        ({"alertname": "Anything", "procedure": "none", "severity": "critical"}, ["oncall-pager"]),
        (
            {"alertname": "TATradingOnStaleSignals", "procedure": "none", "severity": "critical"},
            [REMEDIATOR, "oncall-pager"],
        ),
        ({"alertname": "Anything", "severity": "critical"}, ["oncall-pager"]),
        ({"alertname": "Anything", "procedure": "AB", "severity": "critical"}, ["oncall-pager"]),
        # What the remediator posts back must never loop into it.
        (
            {"alertname": "TARemediationFailed", "procedure": "A", "severity": "critical"},
            ["oncall-pager"],
        ),
        ({"alertname": "NoSeverity", "procedure": "B"}, [REMEDIATOR, "oncall-chat"]),
        ({"alertname": "NoSeverity", "procedure": "C"}, ["oncall-chat"]),
    ],
    ids=[
        "procedure-A",
        "procedure-B",
        "procedure-C-warning",
        "procedure-C-critical",
        "procedure-none",
        "trading-gate",
        "no-procedure",
        "not-a-procedure",
        "no-loop",
        "default",
        "default-C",
    ],
)
def test_route_cases(run_tool: Run, labels: dict[str, str], receivers: list[str]) -> None:
    result = _routes_test(run_tool, FULL_CONFIG, receivers, labels)
    assert result.returncode == 0, result.output


def test_snippet_never_routes_procedure_c_to_the_remediator(run_tool: Run, tmp_path: Path) -> None:
    """The snippet alone (what the chart's NOTES print) keeps procedure C away from the webhook."""
    snippet = _load(SNIPPET)
    config = {
        "route": {"receiver": "blackhole", "routes": snippet["route"]["routes"]},
        "receivers": [{"name": "blackhole"}, *snippet["receivers"]],
    }
    path = tmp_path / "alertmanager.yml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    labels = {"alertname": "Anything", "procedure": "C", "severity": "critical"}
    assert _routes_test(run_tool, path, ["blackhole"], labels).returncode == 0
    labels["procedure"] = "A"
    assert _routes_test(run_tool, path, [REMEDIATOR], labels).returncode == 0


def test_verify_receivers_rejects_a_wrong_expectation(run_tool: Run) -> None:
    """The routing checks have teeth: a procedure=none alert cannot be claimed by the remediator."""
    labels = {"alertname": "TAKafkaConsumerLagHigh", "procedure": "none", "severity": "warning"}
    result = _routes_test(run_tool, FULL_CONFIG, [REMEDIATOR, "oncall-chat"], labels)
    assert result.returncode != 0, result.output


@pytest.mark.parametrize(
    ("alert", "receiver"),
    [
        ("failed", "oncall-pager"),
        ("awaiting", "oncall-chat"),
        ("succeeded", "oncall-chat"),
    ],
)
def test_the_remediators_own_alerts_reach_people_never_itself(
    run_tool: Run, alert: str, receiver: str
) -> None:
    """The labels the remediator posts (remediator/actuators/alertmanager.py), procedure A or B
    included, route by severity to a person and never back to the remediator."""
    from remediator.actuators import alertmanager as am

    url = "http://remediator:8080/runs/r-1"
    built = {
        "failed": am.remediation_failed("r-1", "A", "torghut/torghut-ta", "why", url),
        "awaiting": am.awaiting_approval("r-1", "B", "torghut/torghut-ta", "restore", url),
        "succeeded": am.resolved_by_remediation("r-1", "A", "torghut/torghut-ta", "ok", url),
    }[alert]
    result = _routes_test(run_tool, FULL_CONFIG, [receiver], dict(built.labels))
    assert result.returncode == 0, result.output
