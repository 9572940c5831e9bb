"""The pure manifest edits on the sandbox's manifests (shaped like production's): comments,
quoting and layout survive, only the edited lines differ, and a repeated edit changes nothing."""

from __future__ import annotations

import difflib

import pytest

from remediator.actuators.gitops import set_env, set_job_state
from sandbox.gitops import render_manifests

FD = render_manifests()["ta/flinkdeployment.yaml"]
KSVC = render_manifests()["knative-service.yaml"]
CM = render_manifests()["ta/configmap.yaml"]


def changed_lines(old: str, new: str) -> list[str]:
    return [
        line
        for line in difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="", n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]


def test_suspend_and_bump_touch_only_the_state_and_nonce_lines() -> None:
    new = set_job_state(FD, "suspended", bump_nonce=True)
    assert changed_lines(FD, new) == [
        "-  restartNonce: 1",
        "+  restartNonce: 2",
        "-    state: running",
        "+    state: suspended",
    ]
    assert "# Bump this integer to restart the job" in new and "# running | suspended" in new
    restarted = set_job_state(new, "running", bump_nonce=True)
    assert changed_lines(new, restarted) == [
        "-  restartNonce: 2",
        "+  restartNonce: 3",
        "-    state: suspended",
        "+    state: running",
    ]


def test_a_state_already_set_without_bump_returns_the_same_text() -> None:
    assert set_job_state(FD, "running", bump_nonce=False) is FD


def test_set_env_keeps_the_quotes_and_changes_one_line() -> None:
    new = set_env(KSVC, "TRADING_ENABLED", "false")
    assert changed_lines(KSVC, new) == [
        '-              value: "true"',
        '+              value: "false"',
    ]
    assert set_env(new, "TRADING_ENABLED", "false") is new  # idempotent
    assert new.startswith("# Torghut trading service. TRADING_ENABLED is the trading kill switch")


def test_set_env_adds_a_missing_variable_to_the_first_container() -> None:
    new = set_env(KSVC, "TA_EXTRA", "1")
    assert changed_lines(KSVC, new) == [
        "+            - name: TA_EXTRA",
        "+              value: '1'",
    ]


def test_set_env_on_the_flink_pod_template() -> None:
    new = set_env(FD, "TA_KAFKA_DELIVERY_GUARANTEE", "EXACTLY_ONCE")
    assert changed_lines(FD, new) == [
        "-              value: AT_LEAST_ONCE",
        "+              value: EXACTLY_ONCE",
    ]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda: set_job_state(CM, "suspended", bump_nonce=False), "expected kind FlinkDeployment"),
        (lambda: set_job_state(FD, "paused", bump_nonce=False), "job state must be one of"),
        (lambda: set_env(CM, "X", "1"), "cannot set env on kind 'ConfigMap'"),
        (lambda: set_env(FD, "TA_CLICKHOUSE_PASSWORD", "x"), "comes from valueFrom"),
        (lambda: set_job_state("- a list\n", "running", bump_nonce=False), "one YAML mapping"),
        (
            lambda: set_job_state(FD.replace("restartNonce: 1", "restartNonce: x"), "running",
                                  bump_nonce=True),
            "spec.restartNonce is not an integer",
        ),
    ],
)  # fmt: skip
def test_bad_documents_are_refused_with_the_reason(edit: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        edit()  # type: ignore[operator]
