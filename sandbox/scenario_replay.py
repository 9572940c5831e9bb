"""The `replay` scenario: procedure C as a person drives it through the remediator's API (the
`scenario` identity): plan a replay from two hours ago, start it (the person's approval:
`--approve`), follow its steps, and once the replay job runs (`start_replay` done) roll it back.
No alert starts anything here; the judge (`sandbox.scenarios.judge_replay`) reads the runs.

Exit codes as the other scenarios: 0 the expected outcome, 1 another, 124 timeout.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from sandbox import scenario_io as io
from sandbox.scenario_run import EXIT_OTHER, Timeline, Watch, follow, heal, wait_baseline
from sandbox.scenarios import Obs, Scenario

FROM_AGO, TO_AGO = timedelta(hours=2), timedelta(minutes=30)
MIN_HISTORY_HOURS = 2.25  # the window's start, two hours back, with room for the plan's checks


def _steady_committed(status: io.Status) -> bool:
    left = io.exporter_samples(status, "torghut_ta_kafka_partitions_without_commit")
    return bool(left) and all(v == 0 for v in left)


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _step(run: dict[str, Any], name: str) -> dict[str, Any] | None:
    return next((s for s in run.get("steps", []) if s["name"] == name), None)


def show_plan(tl: Timeline, plan: dict[str, Any]) -> None:
    """The plan's feasibility (its notes: retention, estimate, warnings) and the new group."""
    rid = plan["run"]
    begin = _step(plan, "start_replay")
    target = (begin or {}).get("target") or {}
    tl.add("plan", f"{rid} {plan['state']}: new group {target.get('group', '?')}, "
           f"starting offsets {target.get('starting_offsets', '?')}", run=rid,
           group=target.get("group"), starting_offsets=target.get("starting_offsets"))  # fmt: skip
    tl.add("plan", f"{rid} steps: {', '.join(s['name'] for s in plan['steps'])}", run=rid)
    for note in plan.get("notes", []):
        tl.add("plan", f"{rid} feasibility: {note}", run=rid)


def _rollback(status: io.Status, tl: Timeline, rid: str, why: str) -> str:
    got = io.remediator(status, "POST", f"/runs/{rid}/rollback", {"reason": why})
    tl.add("rollback", f"{rid} rolled back by `scenario`: run {got['run']}", run=got["run"])
    for note in got.get("notes", []):
        tl.add("rollback", f"{got['run']} note: {note}", run=got["run"])
    return str(got["run"])


def run(
    sc: Scenario, status: io.Status, tl: Timeline, *, timeout: float, approve: bool,
    roll_back_after: str = "start_replay",
) -> tuple[int, str]:  # fmt: skip
    """Baseline (the job RUNNING, STABLE and fresh: the plan takes a savepoint), plan, start
    with `approve`, roll back once the replay's step `roll_back_after` is done (the bench waits
    for `verify_replay_caught_up`); wait for the judge or `timeout`."""
    heal(status, tl)
    # the way back is the steady group's committed offsets: the job commits them only once a
    # checkpoint completed, so a young stack may have none yet (the run would refuse to start)
    wait_baseline("the steady group's offsets committed", lambda: _steady_committed(status), 600)
    obs, w = Obs(), Watch()
    tl.t0 = time.time()
    now = datetime.now(UTC)
    start, end = now - FROM_AGO, now - TO_AGO
    tl.add("inject", f"a person plans a replay of {_iso(start)} .. {_iso(end)}")
    try:
        plan = io.remediator(status, "POST", "/replay/plan", {
            "from": _iso(start), "to": _iso(end),
            "reason": "game day replay: a person replays two hours, then rolls back",
        })  # fmt: skip
    except RuntimeError as exc:
        tl.add("outcome", f"other: the plan was refused: {exc}", outcome="other")
        return EXIT_OTHER, f"the plan was refused: {exc}"
    rid = str(plan["run"])
    show_plan(tl, plan)
    if approve:
        io.remediator(status, "POST", f"/replay/{rid}/start", {})
        tl.add("approval", f"{rid} started by `scenario` (the person's approval)", run=rid)
    else:
        tl.add("approval", f"{rid} is proposed and waits for a person: start it "
               f"(`ta-remediator replay start {rid}`) or rerun with --approve", run=rid)  # fmt: skip
    person = _Person(status, tl, obs, rid, roll_back_after)
    try:
        return follow(status, tl, sc, obs, w, timeout=timeout, approve=approve, on_poll=person)
    finally:
        _restore(status, tl, rid, person.rollback)


class _Person:
    """Rolls the replay back once its step `after` is done (called after each observation)."""

    def __init__(self, status: io.Status, tl: Timeline, obs: Obs, rid: str, after: str) -> None:
        self.status, self.tl, self.obs, self.rid, self.after = status, tl, obs, rid, after
        self.rollback: str | None = None

    def __call__(self) -> None:
        replay = next((r for r in self.obs.runs if r["id"] == self.rid), None)
        if self.rollback is not None or replay is None or replay["outcome"] is not None:
            return
        step = _step(replay, self.after)
        if step is not None and step["status"] == "done":
            why = (
                "game day: the replay runs; roll it back"
                if self.after == "start_replay"
                else f"game day: the replay's {self.after} is done; roll it back"
            )
            self.rollback = _rollback(self.status, self.tl, self.rid, why)


def _restore(status: io.Status, tl: Timeline, rid: str, rollback: str | None) -> None:
    """A replay left running goes back to the steady state; an unstarted plan changed nothing."""
    if rollback is not None:
        return
    replay = io.remediator(status, "GET", f"/runs/{rid}")
    if replay["outcome"] is None and replay["state"] != "proposed":
        tl.add("restore", f"{rid} still runs: rolling it back")
        try:
            _rollback(status, tl, rid, "game day ended: back to the steady state")
        except RuntimeError as exc:
            tl.add("restore", f"{rid} could not be rolled back: {exc}")
    else:
        tl.add("restore", f"{rid} is {replay['state']}: nothing to undo")
