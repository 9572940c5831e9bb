"""Procedure A-full in propose mode on a whole sandbox stack: the run asks a person to approve
its ClickHouse steps (`POST /runs/{id}/approve`, the operator's token), opens a pull request
for each GitOps step and waits; the test merges each one as its reviewer through the GitHub
stand-in's API, and the run carries on to the end. (Alerts are posted to the stack's
Alertmanager: see test_e2e_procedure_a.py.)"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from e2e_a_setup import LIMIT_MIB, OVERRIDES, full_disk_and_failed_job
from e2e_alerting import ended, fire, resolve_all
from e2e_clickhouse import MIB, days, filler, free_a_little, insert_old_day, partitions
from e2e_cluster import flinkdeployment, start_stack, steady
from e2e_gitops import file_at_main, merge, open_pulls, run_commits

from sandbox import stack as sandbox_stack
from sandbox.testing.remediator import call, wait_run
from sandbox.util import poll_until

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    workdir = tmp_path_factory.mktemp("procedure-a-propose") / "stack"
    try:
        info = start_stack(workdir, mode="propose", overrides=OVERRIDES, disk_limit_mib=LIMIT_MIB)
        steady(info)
        yield info
    finally:
        sandbox_stack.down(workdir, log=lambda _m: None)


def test_a_full_in_propose_mode_waits_for_an_approval_and_each_merged_pull_request(
    stack: dict[str, Any],
) -> None:
    old = days(8, 7)
    for day in old:
        insert_old_day(stack, day, 100_000)
    nonce = flinkdeployment(stack)["spec"].get("restartNonce") or 0
    full_disk_and_failed_job(stack)
    free_a_little(stack, 2 * MIB)
    try:
        run_id = fire(stack, "TAFlinkJobFailed", "TAClickHouseDiskPressure")

        # the ClickHouse steps need a person first; nothing has changed yet
        waiting = wait_run(
            stack, run_id, lambda r: r["state"] == "awaiting_approval" or r["outcome"],
            what="the run to ask for an approval",
        )  # fmt: skip
        assert waiting["state"] == "awaiting_approval", waiting
        assert open_pulls(stack, run_id) == [] and run_commits(stack, run_id) == []
        assert {str(d) for d in old} <= set(partitions(stack))
        status, body = call(
            stack, "POST", f"/runs/{run_id}/approve",
            body={"reason": "old days, disk full: drop them"},
        )  # fmt: skip
        assert status == 200 and body["verdict"] == "approved", (status, body)

        # each GitOps step is a pull request the run waits on until a person merges it
        merged: list[str] = []

        def review() -> dict[str, Any] | None:
            for pull in open_pulls(stack, run_id):
                merged.append(pull["head"]["ref"].rsplit("/", 1)[-1])
                merge(stack, pull)
            status, run = call(stack, "GET", f"/runs/{run_id}")
            assert status == 200, run
            return run if run["outcome"] is not None else None

        run = poll_until(review, timeout=900, interval=2.0, what="the run to end")
        run = ended(stack, run_id)
    finally:
        filler(stack).unlink(missing_ok=True)
        resolve_all(stack)

    assert run["outcome"] == "succeeded", run
    assert merged == ["pause_trading", "suspend_job", "resume_job"], merged
    assert all(s["status"] == "done" for s in run["steps"]), run["steps"]
    for step in run["steps"]:
        if step["name"] in ("pause_trading", "suspend_job", "resume_job"):
            assert step["evidence"]["pr_url"] and step["evidence"]["merged_sha"], step
    assert [c["step"] for c in run_commits(stack, run_id)] == merged
    approvals = run["approvals"]
    assert approvals[-1]["verdict"] == "approved" and approvals[-1]["decided_by"], approvals
    assert not {str(d) for d in old} & set(partitions(stack))
    fd = flinkdeployment(stack)
    assert fd["spec"]["job"]["state"] == "running" and fd["spec"]["restartNonce"] == nonce + 1
    assert 'value: "false"' in file_at_main(stack, "knative-service.yaml")
