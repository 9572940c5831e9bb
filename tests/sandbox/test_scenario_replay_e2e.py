"""Game day `replay`: procedure C driven by `ta-sandbox scenario replay` on its own demo stack
with a past in Kafka (`up --demo --history-hours 3 --alert-pace fast --timings fast`): the plan
shown and left waiting without `--approve`, then planned, started, followed and rolled back with
it; the outcome asserted in the journal (the API) and the git history."""

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
    git,
    in_order,
    metrics,
    run,
    scenario,
)

pytestmark = [pytest.mark.slow, pytest.mark.gameday, pytest.mark.timeout(1800)]
STEADY_GROUP = "torghut-ta-v1"
TA = "argocd/applications/torghut/ta"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    workdir = tmp_path_factory.mktemp("gameday-replay") / "stack"
    try:
        status, _ = demo_up(
            workdir, "--alert-pace", "fast", "--timings", "fast", "--history-hours", "3"
        )
        assert status["history_hours"] == "3"
        yield status
    finally:
        down(workdir)


def test_without_approve_the_plan_waits_for_a_person(stack: dict[str, Any]) -> None:
    code, timeline, err = scenario(stack, "replay", "--timeout", "20")
    assert code == 124, (err, timeline.get("why"))
    plan = first(timeline, "plan", detail="new group")
    assert plan["group"].startswith(f"{STEADY_GROUP}-replay-"), plan
    assert plan["starting_offsets"].startswith("timestamp:"), plan
    assert first(timeline, "plan", detail="feasibility")
    waits = first(timeline, "approval", detail="waits for a person")
    journaled = run(stack, waits["run"])
    assert journaled["state"] == "proposed" and journaled["outcome"] is None, journaled
    assert f"TA_GROUP_ID: {STEADY_GROUP}" in git(stack, "show", f"main:{TA}/configmap.yaml")


def test_replay_started_then_rolled_back_to_the_steady_group(stack: dict[str, Any]) -> None:
    before = metrics(stack)
    code, timeline, err = scenario(stack, "replay", "--approve")
    assert code == 0, (err, timeline.get("why"))
    plan = first(timeline, "plan", detail="new group")
    rid, group = plan["run"], plan["group"]
    started = first(timeline, "approval", run=rid)
    assert "started by `scenario`" in started["detail"]
    events = [
        started,
        first(timeline, "step", run=rid, step="take_savepoint", status="done"),
        first(timeline, "step", run=rid, step="pause_trading", status="done"),
        first(timeline, "step", run=rid, step="start_replay", status="done"),
        first(timeline, "rollback", detail="rolled back by `scenario`"),
        first(timeline, "outcome"),
    ]
    in_order(timeline, *events)
    (back,) = ended_runs(timeline, "C-rollback")
    # a person's runs, through the API: no webhook in this timeline
    assert first(timeline, "person", run=back["run"])["procedure"] == "C-rollback"
    assert not [e for e in timeline["events"] if e["event"] == "webhook" and e["run"] == rid]
    rollback = run(stack, back["run"])
    assert rollback["outcome"] == "succeeded", (rollback["reason"], rollback["steps"])
    done = {s["name"] for s in rollback["steps"] if s["status"] == "done"}
    assert {"wait_replay_stopped", "verify_steady_offsets", "verify_job"} <= done, done
    replay = run(stack, rid)
    assert replay["outcome"] == "cancelled" and "rolled back by run" in replay["reason"], replay
    # git: the replay's group was deployed, and main is back on the steady group, last-state
    history = git(stack, "log", "-p", "--format=%H", "main", "--", f"{TA}/configmap.yaml")
    assert f"TA_GROUP_ID: {group}" in history
    assert f"TA_GROUP_ID: {STEADY_GROUP}" in git(stack, "show", f"main:{TA}/configmap.yaml")
    assert "upgradeMode: last-state" in git(stack, "show", f"main:{TA}/flinkdeployment.yaml")
    after = metrics(stack)
    assert delta(before, after, RUNS, procedure="C-rollback", outcome="succeeded") == 1
    assert delta(before, after, RUNS, procedure="C", outcome="cancelled") == 1
    assert_dashboards_have_data(stack)
