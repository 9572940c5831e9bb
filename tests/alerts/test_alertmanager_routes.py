"""The Alertmanager configs are valid: the example routes to people only, the example with the
remediator snippet merged in routes each alert to the remediator only when it should, and the
inhibitions never silence what the remediator or the trading desk must receive.

amtool resolves the real routing tree; `--verify.receivers` makes it exit non-zero on mismatch.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from am_lib import EXAMPLE, INSTALL_LABELS, REMEDIATOR, SNIPPET, load, matches, with_remediator
from am_lib import write as write_config

WEBHOOK_PATH = "/webhook/alertmanager"
PAGING = {"critical": "oncall-pager", "warning": "oncall-chat", "info": "oncall-chat"}
Run = Callable[..., Any]


def _load(path: Path) -> dict[str, Any]:
    return load(path)


@pytest.fixture(scope="module")
def full_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """alertmanager.yml with remediator-route.yml merged in as its comments say."""
    merged = with_remediator(load(EXAMPLE), load(SNIPPET))
    return write_config(merged, tmp_path_factory.mktemp("am") / "alertmanager.yml")


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


@pytest.mark.parametrize("which", ["example", "with-remediator"])
def test_configs_pass_amtool_check(run_tool: Run, full_config: Path, which: str) -> None:
    result = run_tool("amtool", "check-config", EXAMPLE if which == "example" else full_config)
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


def test_example_config_never_routes_to_a_remediator(run_tool: Run, alert_rules: list[Any]) -> None:
    """The remediator may not be deployed: the example reaches people only."""
    example = _load(EXAMPLE)
    assert REMEDIATOR not in {r["name"] for r in example["receivers"]}
    assert WEBHOOK_PATH not in EXAMPLE.read_text(encoding="utf-8")
    for rule in alert_rules:
        labels = {"alertname": rule.name, **rule.labels}
        result = _routes_test(run_tool, EXAMPLE, [PAGING[labels["severity"]]], labels)
        assert result.returncode == 0, f"{rule.name} {rule.labels}:\n{result.output}"


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


def test_every_rule_routes_as_its_labels_say(
    run_tool: Run, full_config: Path, alert_rules: list[Any]
) -> None:
    for rule in alert_rules:
        labels = {"alertname": rule.name, **rule.labels}
        expected = [REMEDIATOR] if should_reach_remediator(labels) else []
        expected.append(PAGING[labels["severity"]])
        result = _routes_test(run_tool, full_config, expected, labels)
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
def test_route_cases(
    run_tool: Run, full_config: Path, labels: dict[str, str], receivers: list[str]
) -> None:
    result = _routes_test(run_tool, full_config, receivers, labels)
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


def test_verify_receivers_rejects_a_wrong_expectation(run_tool: Run, full_config: Path) -> None:
    """The routing checks have teeth: a procedure=none alert cannot be claimed by the remediator."""
    labels = {"alertname": "TAKafkaConsumerLagHigh", "procedure": "none", "severity": "warning"}
    result = _routes_test(run_tool, full_config, [REMEDIATOR, "oncall-chat"], labels)
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
    run_tool: Run, full_config: Path, alert: str, receiver: str
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
    result = _routes_test(run_tool, full_config, [receiver], dict(built.labels))
    assert result.returncode == 0, result.output


def test_notifications_are_grouped_by_the_install() -> None:
    """One incident, one page: the people's routes group an install's alerts together."""
    example = _load(EXAMPLE)
    assert example["route"]["group_by"] == INSTALL_LABELS
    for route in example["route"]["routes"]:
        assert "group_by" not in route, "inherit the install grouping"


def _rule_label_sets(alert_rules: list[Any]) -> list[dict[str, str]]:
    return [{"alertname": r.name, **r.labels} for r in alert_rules]


def test_inhibitions_never_silence_the_remediator_or_the_trading_desk(
    alert_rules: list[Any],
) -> None:
    """An inhibited alert reaches no receiver: no target may be an alert the remediator acts on,
    nor TATradingOnStaleSignals (the trading gate's trigger and the desk's page)."""
    rules = _load(EXAMPLE)["inhibit_rules"]
    assert rules
    label_sets = _rule_label_sets(alert_rules)
    targets = set()
    for rule in rules:
        assert rule["equal"] == INSTALL_LABELS, "inhibit only within one install"
        for labels in label_sets:
            if matches(rule["target_matchers"], labels):
                targets.add(labels["alertname"])
                assert not should_reach_remediator(labels), f"{labels} would be inhibited"
                assert labels["alertname"] != "TATradingOnStaleSignals"
                assert labels["procedure"] == "none"
            # an alert never inhibits itself into silence
            assert not (
                matches(rule["source_matchers"], labels)
                and matches(rule["target_matchers"], labels)
            ), labels
    trading = {"alertname": "TATradingOnStaleSignals", "severity": "critical", "procedure": "none"}
    assert not any(matches(r["target_matchers"], trading) for r in rules)
    assert targets == {
        "TASignalsStale",
        "TAKafkaConsumerLagHigh",
        "TAFlinkJobNotRunning",
        "TAExporterProbeFailing",
        "TASignalsUnknown",
    }


@pytest.mark.parametrize(
    ("source", "target", "inhibited"),
    [
        ("TAClickHouseDiskPressure:critical", "TASignalsStale", True),
        ("TAClickHouseDiskPressure:warning", "TASignalsStale", False),  # only a prediction
        ("TAFlinkJobFailed:critical", "TAKafkaConsumerLagHigh", True),
        ("TAClickHouseReplicaReadOnly:critical", "TASignalsStale", True),
        ("TAClickHouseKeeperUnavailable:critical", "TAFlinkJobNotRunning", True),
        ("TAExporterDown:critical", "TASignalsUnknown", True),
        ("TAFlinkJobFailed:critical", "TATradingOnStaleSignals", False),
        ("TAClickHouseDiskPressure:critical", "TAKafkaUnconsumedDataExpiring", False),
        ("TASignalsStale:critical", "TAKafkaConsumerLagHigh", False),
    ],
)
def test_inhibition_cases(source: str, target: str, inhibited: bool) -> None:
    name, severity = source.split(":")
    src = {"alertname": name, "severity": severity, "namespace": "x"}
    tgt = {"alertname": target, "severity": "critical", "procedure": "none", "namespace": "x"}
    rules = _load(EXAMPLE)["inhibit_rules"]

    def inhibits(a: dict[str, str], b: dict[str, str]) -> bool:
        return any(
            matches(r["source_matchers"], a)
            and matches(r["target_matchers"], b)
            and all(a.get(k, "") == b.get(k, "") for k in r["equal"])
            for r in rules
        )

    assert inhibits(src, tgt) is inhibited
    assert not inhibits(src, {**tgt, "namespace": "y"}), "another install is never inhibited"
