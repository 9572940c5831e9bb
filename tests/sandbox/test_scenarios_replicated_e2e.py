"""Game days on a replicated demo stack (`ta-sandbox up --demo --replicated --alert-pace fast
--timings fast`): a Keeper outage (no B run acts, the Keeper alert goes to a person) and lost
replica metadata (procedure B, its RESTORE approved by `--approve` as the `scenario` identity,
escalating because chdb's replica stays read-only), each through the real Prometheus ->
Alertmanager -> webhook path, run as a user runs `ta-sandbox scenario`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from gameday_kit import (
    RUNS,
    assert_dashboards_have_data,
    delta,
    demo_up,
    down,
    ended_runs,
    first,
    metrics,
    run,
    scenario,
)

from sandbox.clickhouse.replicated import replica_path, zk_cli, zookeeper_available

pytestmark = [
    pytest.mark.slow,
    pytest.mark.gameday,
    pytest.mark.replicated,
    pytest.mark.timeout(1800),
]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    assert zookeeper_available(), "ZooKeeper (Debian package zookeeper) is needed"
    workdir = tmp_path_factory.mktemp("gameday-replicated") / "stack"
    try:
        status, _ = demo_up(workdir, "--replicated", "--alert-pace", "fast", "--timings", "fast")
        yield status
    finally:
        down(workdir)


def test_keeper_outage_no_b_run_and_a_person_is_paged(stack: dict[str, Any]) -> None:
    before = metrics(stack)
    code, timeline, err = scenario(stack, "keeper-outage")
    assert code == 0, (err, timeline.get("why"))
    firing = first(timeline, "alert", name="TAClickHouseKeeperUnavailable", state="firing")
    routed = first(timeline, "routed", name="TAClickHouseKeeperUnavailable")
    assert routed["receivers"] == ["null"], routed  # a person's route
    assert firing["at"] <= routed["at"]  # Alertmanager holds it once Prometheus fires it
    assert not [e for e in timeline["events"] if e["event"] == "step"]  # nothing acted
    assert not ended_runs(timeline, "B")
    after = metrics(stack)
    assert not [k for k in after if k[0] == RUNS and ("procedure", "B") in k[1]
                and after[k] != before.get(k, 0.0)]  # fmt: skip


def test_replica_metadata_lost_procedure_b_escalates_naming_the_replica(
    stack: dict[str, Any],
) -> None:
    before = metrics(stack)
    code, timeline, err = scenario(stack, "replica-readonly", "--approve")
    assert code == 0, (err, timeline.get("why"))
    (ended,) = ended_runs(timeline, "B")
    journaled = run(stack, ended["run"])
    assert journaled["outcome"] == "failed"
    assert "read-only" in journaled["reason"] and "chi-0" in journaled["reason"]
    steps = {s["name"]: s for s in journaled["steps"]}
    assert steps["restart_replica"]["status"] == "done"
    assert steps["restore_replica"]["evidence"]["issued"] == (
        "SYSTEM RESTORE REPLICA torghut.ta_signals on chi-0"
    )
    (approval,) = journaled["approvals"]
    assert approval["decided_by"] == "scenario" and approval["verdict"] == "approved", approval
    first(timeline, "approval", detail="approved by `scenario`")
    assert "metadata" in zk_cli(stack["zookeeper"], "ls", replica_path("ta_signals"))
    paged = first(timeline, "routed", name="TARemediationFailed")
    assert paged["receivers"] == ["null"], paged
    after = metrics(stack)
    assert delta(before, after, RUNS, procedure="B", outcome="failed") == 1
    assert delta(before, after, "torghut_ta_remediation_escalations_total", procedure="B") >= 1
    # after both scenarios (the Keeper's sent the remediator nothing, so its webhook panel was
    # empty until this one): every panel that can have data on a stack that never wrote a row
    assert_dashboards_have_data(stack)
