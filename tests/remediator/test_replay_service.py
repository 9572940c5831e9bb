"""Person-started runs through the journal and the executor (fake actuators, fake facts): plan,
start, the refusals (nothing changed), rollback, bad input."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from remediator_kit import NOW, facts, remediator_data

from remediator import config
from remediator.actuators import Fence
from remediator.config import parse_remediator_config
from remediator.engine import Engine, Sources
from remediator.execute import VerifyResult
from remediator.facts import Facts
from remediator.journal import Journal, Run
from remediator.journal_acting import ApprovalRecord, StepRecord
from remediator.metrics import RemediatorMetrics
from remediator.policy import KillSwitch
from remediator.replay_plan import ReplayFacts, TableFact
from remediator.replay_service import Refused, ReplayService
from remediator.replay_sources import Gathered
from remediator.replay_times import ReplayInputError, Window, iso

HOUR = 3600.0
SAVEPOINT = "s3://torghut-flink/savepoints/torghut-ta/savepoint-abcdef-0123456789ab"
STEADY = ReplayFacts(
    now=NOW,
    steady_group="torghut-ta-v1",
    starting_offsets="earliest",
    upgrade_mode="last-state",
    image="registry/torghut-ta@sha256:" + "a" * 64,
    input_topics=("torghut.trades.v1",),
    earliest={"torghut.trades.v1": NOW - 7 * 24 * HOUR},
    window_records=1000,
    recent_rate=10.0,
    steady_committed={"torghut.trades.v1:0": 500},
    output_tables={"ta_signals": TableFact("ReplacingMergeTree(ingest_ts)", 30 * 86400.0)},
    trading_enabled=True,
    market_open=True,
    job_state="RUNNING",
)


class Fake:
    def __init__(self) -> None:
        self.acts: list[str] = []
        self.pages: list[str] = []

    async def act(self, step: StepRecord, *, run: Run, key: str, fence: Fence) -> dict[str, str]:
        self.acts.append(f"{run.procedure}:{step.name}")
        if step.name == "record_steady_state":
            return {"committed": '{"torghut.trades.v1:0": 500}'}
        if step.name == "silence_replay_alerts":
            return {"silence_ids": "s-1"}
        if step.name == "take_savepoint":
            return {"location": SAVEPOINT}
        return {"done": step.name}

    async def already_done(self, step: StepRecord, *, run: Run) -> bool | None:
        return False

    async def verify(self, step: StepRecord, *, run: Run) -> VerifyResult:
        self.acts.append(f"{run.procedure}:{step.name}")
        return VerifyResult(True, "ok")

    async def escalate(self, run: Run, reason: str) -> None:
        self.pages.append(reason)

    async def request_approval(self, run: Run, approval: ApprovalRecord, summary: str) -> None:
        raise AssertionError("a person-started run asks no approval")

    async def succeeded(self, run: Run, summary: str) -> None:
        pass

    async def resume_trading(self, *, who: str, reason: str, fence: Fence) -> dict[str, str]:
        raise AssertionError("never by a run")


class World:
    def __init__(self, mode: str, tmp: Path) -> None:
        self.cfg = parse_remediator_config(remediator_data(tmp, mode=mode))
        self.journal = Journal(tmp / "journal.sqlite3", clock=lambda: NOW)
        self.fake = Fake()
        self.replay_facts = STEADY
        self.gathers = 0

        async def read_facts() -> Facts:
            return facts()

        async def annotation() -> KillSwitch:
            return KillSwitch("annotation", False, "not set")

        async def gather(cfg: Any, window: Window, **kw: Any) -> Gathered:
            self.gathers += 1
            return Gathered(
                dataclasses.replace(self.replay_facts, active_replay=kw["active_replay"])
            )

        self.engine = Engine(
            self.cfg,
            self.journal,
            Sources(read_facts, annotation),
            RemediatorMetrics(),
            actuators=self.fake,
            fence=lambda: None,
            sleep=lambda s: asyncio.sleep(0),
        )
        self.service = ReplayService(self.engine, gather_facts=gather)

    async def drive(self, run_id: str) -> Run:
        await self.engine.step(run_id)
        await self.engine.settle()
        run = self.journal.run(run_id)
        assert run is not None
        return run

    async def plan(self, hours_ago: float = 2, **kw: Any) -> Run:
        return await self.service.plan(
            start=iso(NOW - hours_ago * HOUR),
            end=kw.pop("end", None),
            reason=kw.pop("reason", "bad signals since 06:00"),
            who="alice",
            known_good=kw.pop("known_good", False),
        )


@pytest.fixture
async def make(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Callable[..., World]]:
    monkeypatch.setattr(config, "ACTING_NEEDS", {})
    made: list[World] = []

    def world(mode: str = "auto") -> World:
        w = World(mode, tmp_path)
        made.append(w)
        return w

    yield world
    for w in made:
        await w.engine.stop()
        w.journal.close()


async def test_plan_then_start_runs_every_step_in_order(make: Callable[..., World]) -> None:
    w = make()
    plan = await w.plan()
    assert plan.state == "proposed" and plan.procedure == "C" and plan.open
    assert w.journal.audit_log(plan.id)[0]["who"] == "alice"
    # a plan changes nothing and no sweep or alert logic ends it
    assert await w.drive(plan.id) == w.journal.run(plan.id)
    assert w.fake.acts == []
    await w.service.start(plan.id, who="bob")
    run = await w.drive(plan.id)
    assert run.outcome == "succeeded", run.reason
    assert w.fake.acts == [
        "C:record_steady_state",
        "C:pause_trading",
        "C:silence_replay_alerts",
        "C:start_replay",
        "C:verify_replay_caught_up",
        "C:verify_rewritten",
        "C:return_to_steady",
        "C:restore_last_state",
        "C:verify_steady_offsets",
        "C:verify_job",
        "C:verify_freshness",
        "C:expire_silences",
    ]
    assert "trading stays paused until a person resumes it" in run.reason


async def test_a_second_replay_is_refused_while_one_runs(make: Callable[..., World]) -> None:
    w = make()
    first, second = await w.plan(), await w.plan(3)
    await w.service.start(first.id, who="alice")
    with pytest.raises(Refused, match=f"already in progress \\(run {first.id}\\)"):
        await w.service.start(second.id, who="alice")
    with pytest.raises(Refused, match="already in progress"):
        await w.plan(4)
    [refused] = [r for r in w.journal.runs() if r.outcome == "refused"]
    assert "already in progress" in refused.reason
    still = w.journal.run(second.id)
    assert still is not None and still.state == "proposed"


async def test_a_plan_whose_state_changed_must_be_made_again(make: Callable[..., World]) -> None:
    w = make()
    plan = await w.plan()
    w.replay_facts = dataclasses.replace(STEADY, steady_group="torghut-ta-v2")
    with pytest.raises(Refused, match=r"state changed since plan .* re-plan required") as err:
        await w.service.start(plan.id, who="alice")
    assert "torghut-ta-v1" in str(err.value) and "torghut-ta-v2" in str(err.value)
    w.replay_facts = dataclasses.replace(STEADY, trading_enabled=False)  # pause step goes away
    with pytest.raises(Refused, match="re-plan required"):
        await w.service.start(plan.id, who="alice")
    run = w.journal.run(plan.id)
    assert run is not None and run.state == "proposed" and w.fake.acts == []


async def test_older_than_retention_is_refused_and_journaled(make: Callable[..., World]) -> None:
    w = make()
    with pytest.raises(Refused, match="older than the earliest retained record") as err:
        await w.plan(hours_ago=8 * 24)
    run = w.journal.run(str(err.value.run))
    assert run is not None and run.outcome == "refused" and not run.steps


async def test_observe_mode_plans_but_never_starts(make: Callable[..., World]) -> None:
    w = make("observe")
    plan = await w.plan()
    with pytest.raises(Refused, match="does not act \\(observe mode\\)"):
        await w.service.start(plan.id, who="alice")


@pytest.mark.parametrize(
    ("kw", "field", "fragment"),
    [
        ({"reason": " "}, "reason", "a reason is required"),
        ({"hours_ago": -1}, "from", "is in the future"),
        ({"end": iso(NOW - 3 * HOUR)}, "to", "is not after --from"),
        ({"end": "2027-01-15T05:00:00 CET"}, "to", "time zone 'CET' is not accepted"),
        ({"end": "soon"}, "to", "is not a time"),
    ],
)
async def test_bad_input_changes_nothing(
    make: Callable[..., World], kw: dict[str, Any], field: str, fragment: str
) -> None:
    w = make()
    before = w.journal.counts()
    with pytest.raises(ReplayInputError) as err:
        await w.plan(**kw)
    assert err.value.field == field and fragment in str(err.value)
    assert w.journal.counts() == before and w.gathers == 0


async def test_rollback_refusals(make: Callable[..., World]) -> None:
    w = make()
    with pytest.raises(Refused) as err:
        await w.service.rollback("run-nope", who="alice", reason="x")
    assert err.value.status == 404
    plan = await w.plan()
    with pytest.raises(Refused, match="changed nothing a rollback would undo"):
        await w.service.rollback(plan.id, who="alice", reason="x")
    with pytest.raises(ReplayInputError, match="reason"):
        await w.service.rollback(plan.id, who="alice", reason="")
    with pytest.raises(Refused) as unknown:
        await w.service.start("run-nope", who="alice")
    assert unknown.value.status == 404


async def test_rollback_stops_the_replay_without_a_page_and_returns(
    make: Callable[..., World],
) -> None:
    w = make()
    plan = await w.plan()
    await w.service.start(plan.id, who="alice")
    # the replay acted up to its start, then is stopped (as if mid-way)
    for index in range(4):  # record, pause, silence, start
        rec = w.journal.step_acting(plan.id, index)
        evidence = await w.fake.act(
            rec, run=w.journal.run(plan.id), key=rec.key, fence=lambda: None
        )  # type: ignore[arg-type]
        w.journal.step_end(plan.id, index, "done", "done", evidence)
    w.fake.acts.clear()
    rollback = await w.service.rollback(plan.id, who="carol", reason="wrong window")
    assert rollback.procedure == "C-rollback"
    with pytest.raises(Refused, match=r"already being rolled back|in progress"):
        await w.service.rollback(plan.id, who="carol", reason="again")
    replay = await w.drive(plan.id)
    assert replay.outcome == "cancelled" and w.fake.pages == []
    done = await w.drive(rollback.id)
    assert done.outcome == "succeeded", done.reason
    assert w.fake.acts == [
        "C-rollback:wait_replay_stopped",
        "C-rollback:return_to_steady",
        "C-rollback:restore_last_state",
        "C-rollback:verify_steady_offsets",
        "C-rollback:verify_job",
        "C-rollback:verify_freshness",
        "C-rollback:expire_silences",
    ]
    back = next(s for s in done.steps if s.name == "return_to_steady")
    assert back.target["group"] == "torghut-ta-v1" and back.target["image"] == STEADY.image
    assert next(s for s in done.steps if s.name == "expire_silences").target["silence_ids"] == "s-1"


async def test_a_healthy_job_is_savepointed_and_the_rollback_names_the_savepoint(
    make: Callable[..., World],
) -> None:
    w = make()
    w.replay_facts = dataclasses.replace(STEADY, lifecycle="STABLE")
    plan = await w.plan()
    await w.service.start(plan.id, who="alice")
    for index in range(5):  # record, savepoint, pause, silence, start
        rec = w.journal.step_acting(plan.id, index)
        evidence = await w.fake.act(
            rec, run=w.journal.run(plan.id), key=rec.key, fence=lambda: None
        )  # type: ignore[arg-type]
        w.journal.step_end(plan.id, index, "done", "done", evidence)
    assert w.fake.acts[:3] == ["C:record_steady_state", "C:take_savepoint", "C:pause_trading"]
    rollback = await w.service.rollback(plan.id, who="carol", reason="wrong window")
    assert rollback.plan is not None
    notes = rollback.plan["plan"]["notes"]
    assert any(SAVEPOINT in n and "initialSavepointPath" in n for n in notes), notes
    assert "take_savepoint" not in [s.name for s in rollback.steps]  # never restored by a run


async def test_without_a_savepoint_the_rollback_says_so(make: Callable[..., World]) -> None:
    w = make()
    plan = await w.plan()
    assert "take_savepoint" not in [s.name for s in plan.steps]
    assert plan.plan is not None
    assert any(
        n.startswith("no savepoint: the job is not healthy") for n in plan.plan["plan"]["notes"]
    )
    await w.service.start(plan.id, who="alice")
    for index in range(4):
        rec = w.journal.step_acting(plan.id, index)
        evidence = await w.fake.act(
            rec, run=w.journal.run(plan.id), key=rec.key, fence=lambda: None
        )  # type: ignore[arg-type]
        w.journal.step_end(plan.id, index, "done", "done", evidence)
    rollback = await w.service.rollback(plan.id, who="carol", reason="wrong window")
    assert rollback.plan is not None
    assert any("no savepoint was taken" in n for n in rollback.plan["plan"]["notes"])


async def test_no_alert_keeps_a_plan_open_and_the_sweep_leaves_it(
    make: Callable[..., World],
) -> None:
    w = make()
    plan = await w.plan()
    ended = await w.engine.sweep(now=NOW + 30 * 86400)  # far past alerts_silent_after
    assert plan.id not in ended
    run = w.journal.run(plan.id)
    assert run is not None and run.open and run.state == "proposed"


async def test_a_group_id_is_checked(make: Callable[..., World]) -> None:
    w = make()
    start = iso(NOW - 2 * HOUR)
    with pytest.raises(Refused, match="equals the steady-state group"):
        await w.service.plan(
            start=start, end=None, reason="x", who="alice", known_good=False,
            group="torghut-ta-v1",
        )  # fmt: skip
    with pytest.raises(ReplayInputError, match="group_id"):
        await w.service.plan(
            start=start, end=None, reason="x", who="alice", known_good=False, group="a b"
        )
    run = await w.service.plan(
        start=start, end=None, reason="x", who="alice", known_good=False, group="ta-replay-7"
    )
    begin = next(s for s in run.steps if s.name == "start_replay")
    assert begin.target["group"] == "ta-replay-7"


async def test_a_plan_not_started_is_cancelled_and_cannot_start(
    make: Callable[..., World],
) -> None:
    w = make()
    plan = await w.plan()
    assert w.journal.request_cancel(plan.id, who="alice", reason="not needed", executing=False) == (
        "cancelled"
    )
    with pytest.raises(Refused, match="already ended \\(cancelled\\)"):
        await w.service.start(plan.id, who="alice")
    assert w.fake.acts == []
