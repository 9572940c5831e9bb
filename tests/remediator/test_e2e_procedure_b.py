"""Procedure B end to end on `ta-sandbox up --replicated` with the real remediator in auto mode:
Keeper metadata deleted in ZooKeeper -> Prometheus -> Alertmanager -> a B run that restarts and
(after a person's approval through the API) restores only the table whose metadata is lost,
restarts no job while ClickHouse is read-only, and escalates naming the replica. With Keeper
stopped there is no B run: triage refuses it, and the Keeper alert goes to a person."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from typing import Any

import pytest
from remediator_e2e_kit import (
    Remediator,
    am_alerts,
    approve,
    as_stack,
    env_pid,
    git_log,
    launch,
    post_alerts,
    runs,
    start_stack,
    stop_stack,
    stop_stack_remediator,
    wait,
    wait_for,
)

from sandbox.clickhouse.replicated import four_letter, replica_path, zk_cli, zookeeper_available
from sandbox.testing.remediator import alert, notification, post_webhook
from sandbox.testing.stack import exported

pytestmark = [pytest.mark.slow, pytest.mark.replicated, pytest.mark.timeout(900)]
OPEN = ("new", "triage", "retriage")


@pytest.fixture(scope="module")
def stack_b(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[dict[str, Any], Remediator]]:
    assert zookeeper_available(), "ZooKeeper (Debian package zookeeper) is needed"
    workdir = tmp_path_factory.mktemp("e2e-b") / "stack"
    try:
        status = start_stack(workdir, replicated=True)
        # the test's own remediator on the stack's port (Alertmanager delivers there), with a
        # verify deadline a test can wait out
        stop_stack_remediator(status)
        port = int(status["remediator"].rsplit(":", 1)[1])
        rem = launch(status, "remediator-b", port=port)
        yield status, rem
    finally:
        stop_stack(workdir)


def _gauge(status: dict[str, Any], name: str) -> dict[str, float]:
    samples = exported(status["exporter"], f"torghut_ta_clickhouse_replica_{name}")
    return {dict(k)["table"]: v for k, v in samples.items()}


def _runs_of(status: dict[str, Any], rem: Remediator, procedure: str) -> list[dict[str, Any]]:
    return [r for r in runs(status, rem) if r["procedure"] == procedure]


def test_keeper_stopped_no_b_run_and_the_keeper_alert_is_a_persons(stack_b) -> None:
    status, rem = stack_b
    zk = env_pid(status, "zookeeper")
    os.kill(zk, signal.SIGSTOP)
    try:
        wait(
            lambda: (
                set(_gauge(status, "keeper_unreachable").values()) == {1.0}
                or set(_gauge(status, "session_expired").values()) == {1.0}
            ),
            "the exporter sees Keeper lost",
        )
        labels = {"severity": "critical", "component": "clickhouse", "replica": "chi-0"}
        # what a B rule would send, and the Keeper alert (the shipped rules hold B back
        # while Keeper is unreachable: the remediator must refuse it all the same)
        post_alerts(
            status,
            [
                {"labels": {"alertname": "TAClickHouseKeeperUnavailable", "procedure": "none",
                            "remediation": "manual", **labels}},
                {"labels": {"alertname": "TAClickHouseReplicaReadOnly", "procedure": "B",
                            "remediation": "approval", "table": "ta_signals", **labels}},
            ],
        )  # fmt: skip
        [b] = wait(
            lambda: [r for r in _runs_of(status, rem, "B") if r["state"] not in OPEN] or None,
            "the B alert triaged",
        )
        assert b["state"] == "refused" and not b["acted"], b
        assert "SYSTEM RESTORE REPLICA is the wrong action" in b["reason"], b["reason"]
        assert "Keeper unavailable" in b["reason"], b["reason"]
        assert [s for s in b["steps"] if s["status"] != "pending"] == []
        [keeper] = am_alerts(status, "TAClickHouseKeeperUnavailable")
        assert [r["name"] for r in keeper["receivers"]] == ["null"]  # a person's route
    finally:
        os.kill(zk, signal.SIGCONT)
    wait(lambda: four_letter(status["zookeeper"]) == "imok", "ZooKeeper back")
    wait(lambda: set(_gauge(status, "keeper_unreachable").values()) == {0.0}, "Keeper reachable")


def test_lost_metadata_restart_then_approved_restore_then_escalation_naming_the_replica(
    stack_b,
) -> None:
    status, rem = stack_b
    zk_cli(status["zookeeper"], "deleteall", replica_path("ta_signals"))
    wait(lambda: _gauge(status, "metadata_lost") == {"ta_microbars": 0.0, "ta_signals": 1.0},
         "the exporter sees ta_signals' metadata lost")  # fmt: skip

    # Prometheus's rule (for: 2m) -> Alertmanager -> the remediator; the triage asks a person.
    # (The run the Keeper test's alert opened was refused, not ended: the new alert on the same
    # key re-triages it.)
    def waiting() -> dict[str, Any] | None:
        return next(
            (r for r in _runs_of(status, rem, "B") if r["state"] == "awaiting_approval"), None
        )

    run = wait(waiting, "a B run awaiting approval", timeout=420)
    planned = [(s["name"], s["target"].get("table")) for s in run["steps"]][:3]
    assert planned == [
        ("restart_replica", "torghut.ta_signals"),
        ("restore_replica", "torghut.ta_signals"),
        ("verify_writable", None),
    ]
    assert all(s["status"] == "pending" for s in run["steps"])  # nothing before the approval
    wait(lambda: am_alerts(status, "TARemediationAwaitingApproval"), "the approval request")

    approve(status, rem, run["id"], "ZooKeeper is healthy; ta_signals' znodes were deleted")
    done = wait_for(status, rem, run["id"], lambda r: r["state"] == "ended", what="the run ends")
    steps = {s["name"]: s for s in done["steps"]}
    assert steps["restart_replica"]["status"] == "done"
    assert steps["restore_replica"]["status"] == "done"
    assert steps["restore_replica"]["evidence"]["issued"] == (
        "SYSTEM RESTORE REPLICA torghut.ta_signals on chi-0"
    )
    # the restore re-created the znodes; chdb's replicas stay read-only (no interserver HTTP)
    assert "metadata" in zk_cli(status["zookeeper"], "ls", replica_path("ta_signals"))
    assert done["outcome"] == "failed" and steps["verify_writable"]["status"] == "failed"
    assert "read-only" in done["reason"] and "chi-0" in done["reason"], done["reason"]
    # no job restart (nor trading pause) while ClickHouse is read-only
    later = [s for s in done["steps"] if s["index"] > steps["verify_writable"]["index"]]
    assert all(s["status"] == "pending" for s in later), later
    assert not [c for c in git_log(status) if run["id"] in c]

    def paged() -> list[dict[str, Any]]:
        return [a for a in am_alerts(status, "TARemediationFailed")
                if a["labels"].get("run_id") == run["id"]]  # fmt: skip

    [page] = wait(paged, "TARemediationFailed in Alertmanager")
    assert page["labels"]["procedure"] == "B" and page["labels"]["severity"] == "critical"
    assert page["generatorURL"].endswith(f"/runs/{run['id']}")


def test_b_in_propose_mode_waits_for_a_person_for_every_sql_step_then_escalates(stack_b) -> None:
    """Propose mode: RESTART and RESTORE are not pull requests, so the whole plan waits for a
    person; once approved it runs as in auto and ends the same honest way."""
    status, rem = stack_b
    rem.stop()
    port = int(status["remediator"].rsplit(":", 1)[1])

    def propose(cfg: dict[str, Any]) -> None:
        cfg["remediator"]["mode"] = "propose"

    prop = launch(status, "remediator-b-propose", port=port, edit=propose)
    try:
        zk_cli(status["zookeeper"], "deleteall", replica_path("ta_signals"))
        wait(lambda: _gauge(status, "metadata_lost").get("ta_signals") == 1.0,
             "the exporter sees ta_signals' metadata lost again")  # fmt: skip
        labels = {"severity": "critical", "component": "clickhouse", "replica": "chi-0",
                  "procedure": "B", "remediation": "approval", "table": "ta_signals"}  # fmt: skip
        code, reply = post_webhook(
            as_stack(status, prop), notification(alert("TAClickHouseReplicaReadOnly", **labels))
        )
        assert code == 202 and len(reply["runs"]) == 1, (code, reply)

        def waiting() -> dict[str, Any] | None:
            return next(
                (r for r in _runs_of(status, prop, "B") if r["state"] == "awaiting_approval"),
                None,
            )

        run = wait(waiting, "a propose-mode B run awaiting approval", timeout=300)
        assert run["mode"] == "propose"
        assert [s["status"] for s in run["steps"]] == ["pending"] * len(run["steps"])
        assert not [c for c in git_log(status) if run["id"] in c]  # SQL steps open no PR
        approve(status, prop, run["id"], "checked Keeper: ta_signals' znodes are gone")
        done = wait_for(status, prop, run["id"], lambda r: r["state"] == "ended",
                        what="the propose run ends")  # fmt: skip
        steps = {s["name"]: s for s in done["steps"]}
        assert steps["restart_replica"]["status"] == "done"
        assert steps["restore_replica"]["status"] == "done"
        assert done["outcome"] == "failed" and "chi-0" in done["reason"], done["reason"]
        assert "metadata" in zk_cli(status["zookeeper"], "ls", replica_path("ta_signals"))
    finally:
        prop.stop()
