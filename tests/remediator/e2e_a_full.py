"""Procedure A-full in auto mode, the scenario and what it must leave behind: shared by the
fast stack's test and the realistic-timings one."""

from __future__ import annotations

from typing import Any

from e2e_a_setup import full_disk_and_failed_job
from e2e_alerting import ended, fire, prometheus_alert
from e2e_clickhouse import MIB, days, free_a_little, insert_old_day, partitions
from e2e_cluster import events, flinkdeployment, steady
from e2e_gitops import file_at_main, run_commits

from sandbox.testing.remediator import RUNS, STEPS, metric, metrics
from sandbox.util import poll_until

A_FULL = ["pause_trading", "suspend_job", "drop_partition", "drop_partition", "resume_job",
          "verify_job", "verify_freshness", "verify_api"]  # fmt: skip


def _one_line_changes(commits: list[dict[str, Any]]) -> dict[str, list[str]]:
    return {c["step"]: c["lines"] for c in commits}


def a_full_auto(stack: dict[str, Any], *, timeout: float = 600) -> None:
    """A-full in auto mode from a RUNNING job to a succeeded run, asserted in the journal, git,
    the FlinkDeployment and its Events, ClickHouse and the remediator's /metrics. The caller
    removes the other tenant's file and resolves the alerts."""
    steady(stack, timeout=timeout)
    old, kept, today = days(8, 7), days(1)[0], days(0)[0]  # once: the run may pass midnight
    for day in old:
        insert_old_day(stack, day, 100_000)
    insert_old_day(stack, kept, 10_000)
    nonce = flinkdeployment(stack)["spec"].get("restartNonce") or 0
    before = metrics(stack)
    full_disk_and_failed_job(stack)
    free_a_little(stack, 2 * MIB)  # else DROP PARTITION itself fails (the last test)
    # the shipped rule matches this state in the stack's real Prometheus (it would fire after
    # its `for: 2m`; the test posts the alerts to Alertmanager instead of waiting)
    poll_until(
        lambda: prometheus_alert(stack, "TAFlinkJobFailed", procedure="A"),
        timeout=timeout, interval=2.0, what="TAFlinkJobFailed (procedure A) in Prometheus",
    )  # fmt: skip

    run_id = fire(stack, "TAFlinkJobFailed", "TAClickHouseDiskPressure")
    run = ended(stack, run_id, timeout=timeout)

    # the journal: every step in order, done, with its evidence
    assert run["outcome"] == "succeeded", run
    assert [s["name"] for s in run["steps"]] == A_FULL, run["steps"]
    assert all(s["status"] == "done" for s in run["steps"]), run["steps"]
    by_name = {s["name"]: s for s in run["steps"]}
    for name in ("pause_trading", "suspend_job", "resume_job"):
        evidence = by_name[name]["evidence"]
        assert evidence["changed"] == "true" and evidence["pr_url"], (name, evidence)
        assert evidence["synced"] == evidence["merged_sha"], (name, evidence)
    # the drops ran only once the operator reported the job suspended (its writes stopped)
    assert by_name["suspend_job"]["evidence"]["job"].endswith("lifecycle SUSPENDED"), by_name
    assert by_name["resume_job"]["evidence"]["job"].startswith("spec running"), by_name
    assert [s["target"]["partition"] for s in run["steps"] if s["name"] == "drop_partition"] == [
        str(d) for d in old
    ]
    assert "trading stays paused" in run["reason"], run["reason"]

    # git: one commit per GitOps step, each touching only its own lines
    commits = run_commits(stack, run_id)
    assert [c["files"] for c in commits] == [
        ["argocd/applications/torghut/knative-service.yaml"],
        ["argocd/applications/torghut/ta/flinkdeployment.yaml"],
        ["argocd/applications/torghut/ta/flinkdeployment.yaml"],
    ], commits  # fmt: skip
    changes = _one_line_changes(commits)
    assert list(changes) == ["pause_trading", "suspend_job", "resume_job"], changes
    assert [ln.replace(" ", "") for ln in changes["pause_trading"]] == [
        '-value:"true"', '+value:"false"'
    ], changes  # fmt: skip
    assert [ln.replace(" ", "") for ln in changes["suspend_job"]] == [
        "-state:running", "+state:suspended"
    ], changes  # fmt: skip
    resumed = sorted(ln.replace(" ", "") for ln in changes["resume_job"])
    assert "-state:suspended" in resumed and "+state:running" in resumed, resumed
    assert f"+restartNonce:{nonce + 1}" in resumed and len(resumed) in (3, 4), resumed
    assert 'value: "false"' in file_at_main(stack, "knative-service.yaml")  # still paused

    # the cluster: the job restarted through the nonce, RUNNING again; Events on it
    fd = flinkdeployment(stack)
    assert fd["spec"]["job"]["state"] == "running" and fd["spec"]["restartNonce"] == nonce + 1
    assert (fd["status"]["jobStatus"]["state"], fd["status"]["lifecycleState"]) == (
        "RUNNING", "STABLE"
    )  # fmt: skip
    reasons = [e["reason"] for e in events(stack) if run_id in (e["message"] or "")]
    assert sorted(reasons) == [  # the journal has the order; the Events list has none
        "TARemediationDropPartition", "TARemediationDropPartition", "TARemediationPauseTrading",
        "TARemediationResumeJob", "TARemediationSuspendJob",
    ], reasons  # fmt: skip

    # ClickHouse: the old days gone, the keep window kept
    after = partitions(stack)
    assert not {str(d) for d in old} & set(after), after
    assert {str(kept), str(today)} <= set(after), after

    now = metrics(stack)
    assert (
        metric(now, RUNS, procedure="A", outcome="succeeded")
        - metric(before, RUNS, procedure="A", outcome="succeeded")
        == 1
    )
    for step in set(A_FULL):
        labels = {"procedure": "A", "step": step, "outcome": "done"}
        assert metric(now, STEPS, **labels) - metric(before, STEPS, **labels) == A_FULL.count(
            step
        ), step
