"""The executor through the engine, with a recording fake `Actuators` (the real actuators are
tested against the sandbox in their own modules): order, modes, retries, failing safe, restarts
after an idempotency key, approvals, cancel, pause, the Lease, resolution."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from remediator_kit import (
    NOW,
    Crash,
    FakeActuators,
    day_partition,
    facts,
    remediator_data,
    verdict,
)

from remediator import config
from remediator.actuators import ActuationError, NotLeader
from remediator.config import RemediatorConfig, parse_remediator_config
from remediator.engine import Engine, Sources
from remediator.execute import VerifyResult, needs_approval, next_move, plan_digest
from remediator.facts import DAY, Facts
from remediator.intake import Target, Trigger
from remediator.journal import Journal, Run
from remediator.journal_acting import StepRecord
from remediator.metrics import RemediatorMetrics
from remediator.plan import Plan, Step
from remediator.policy import KillSwitch

A_FULL = facts(
    verdicts={"clickhouse-disk": verdict("clickhouse-disk", "down", "A", "r1 default: 1% free")},
    job_state="FAILED",
    lifecycle="FAILED",
    partitions=(day_partition(9), day_partition(8)),
)
# the 9-day-old partition is older than what Kafka still holds: dropping it needs a person
A_UNREPLAYABLE = facts(
    verdicts=A_FULL.verdicts,
    job_state="FAILED",
    lifecycle="FAILED",
    partitions=A_FULL.partitions,
    replay_window_start=NOW - 8.5 * DAY,
)
A_FULL_ORDER = [
    "pause_trading",
    "suspend_job",
    "drop_partition",
    "drop_partition",
    "resume_job",
]


class World:
    """One remediator process: journal, engine with fake sources and actuators, a fake clock
    that the executor's sleeps advance (no real waiting)."""

    def __init__(self, cfg: RemediatorConfig, path: Path, clock: list[float]) -> None:
        self.cfg = cfg
        self.clock = clock
        self.journal = Journal(path, clock=lambda: clock[0])
        self.facts: Facts = A_FULL
        self.annotation = KillSwitch("annotation", False, "not set")
        self.fake = FakeActuators()
        self.leader = True
        self.metrics = RemediatorMetrics()

        async def read_facts() -> Facts:
            return self.facts

        async def read_annotation() -> KillSwitch:
            return self.annotation

        async def sleep(seconds: float) -> None:
            self.clock[0] += seconds
            await asyncio.sleep(0)

        def fence() -> None:
            if not self.leader:
                raise NotLeader("the Lease is held by remediator-2")

        self.engine = Engine(
            cfg,
            self.journal,
            Sources(read_facts, read_annotation),
            self.metrics,
            actuators=self.fake,
            fence=fence,
            sleep=sleep,
            monotonic=lambda: self.clock[0],
        )

    def fire(self, fingerprint: str = "f1", status: str = "firing", procedure: str = "A") -> str:
        trig = Trigger(procedure, Target("torghut", "torghut-ta"), "TAX", fingerprint, status, {})  # type: ignore[arg-type]
        attached = self.journal.attach(trig, mode=self.cfg.remediator.mode)
        assert attached is not None
        return attached.run_id

    async def step(self, run_id: str) -> Run:
        await self.engine.step(run_id)
        await self.engine.settle()
        run = self.journal.run(run_id)
        assert run is not None
        return run

    def metric(self, name: str, **labels: str) -> float:
        return self.metrics.registry.get_sample_value(name, labels) or 0.0


@pytest.fixture
async def world(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Callable[..., World]]:
    monkeypatch.setattr(config, "ACTING_NEEDS", {})  # the actuators' sections are faked here
    clock = [NOW]
    made: list[World] = []

    def make(mode: str = "auto", **section: Any) -> World:
        cfg = parse_remediator_config(remediator_data(tmp_path, mode=mode, **section))
        w = World(cfg, tmp_path / "journal.sqlite3", clock)
        made.append(w)
        return w

    yield make
    for w in made:
        await w.engine.stop()
        w.journal.close()


async def test_observe_mode_calls_no_actuator_and_journals_the_plan(
    world: Callable[..., World],
) -> None:
    w = world("observe")
    run = await w.step(w.fire())
    assert w.fake.calls == []
    assert run.state == "observed" and run.steps == () and not run.acted
    assert run.plan is not None and run.plan["plan"]["shape"] == "A-full"


async def test_a_full_in_auto_mode_acts_in_order_verifies_and_keeps_trading_paused(
    world: Callable[..., World],
) -> None:
    w = world()
    run = await w.step(w.fire())
    assert w.fake.acts() == A_FULL_ORDER
    assert [c[1] for c in w.fake.of("verify")] == ["verify_job", "verify_freshness"]
    assert run.outcome == "succeeded" and run.acted
    assert "trading stays paused until a person resumes it" in run.reason
    assert all(s.status == "done" for s in run.steps)
    assert run.steps[1].evidence == {"pr_url": "https://github.test/pull/1", "diff": "-a\n+b"}
    # each actuation got the idempotency key journaled for it
    assert [c[2] for c in w.fake.of("act")][:2] == [
        f"{run.id}/0/pause_trading",
        f"{run.id}/1/suspend_job",
    ]
    assert len(w.fake.of("succeeded")) == 1 and w.fake.of("escalate") == []
    assert (
        w.metric(
            "torghut_ta_remediation_steps_total",
            procedure="A",
            step="drop_partition",
            outcome="done",
        )
        == 2
    )
    assert w.metric("torghut_ta_remediation_runs_total", procedure="A", outcome="succeeded") == 1


async def test_propose_mode_waits_for_a_person_before_changes_that_are_not_pull_requests(
    world: Callable[..., World],
) -> None:
    w = world("propose")
    run_id = w.fire()
    run = await w.step(run_id)
    assert run.state == "awaiting_approval" and w.fake.acts() == []
    [(_, step, summary)] = w.fake.of("request_approval")
    assert step == "*" and summary.count("drop_partition") == 2
    assert [s.status for s in run.steps] == ["pending"] * 7  # the plan a person approves
    w.journal.decide_approval(run_id, "approved", who="alice", reason="checked the partitions")
    run = await w.step(run_id)
    assert w.fake.acts() == A_FULL_ORDER and run.outcome == "succeeded"
    assert ("approval", "pass") in [(d.gate, d.verdict) for d in run.decisions]


async def test_a_retryable_error_is_retried_with_backoff_then_succeeds(
    world: Callable[..., World],
) -> None:
    w = world()
    w.fake.errors["suspend_job"] = [ActuationError("conflict", retryable=True, code="409")]
    start = w.clock[0]
    run = await w.step(w.fire())
    assert w.fake.acts()[:3] == ["pause_trading", "suspend_job", "suspend_job"]
    assert run.outcome == "succeeded" and run.steps[1].attempts == 2
    assert w.clock[0] - start >= w.cfg.remediator.policy.retry_backoff
    assert (
        w.metric("torghut_ta_remediation_step_retries_total", procedure="A", step="suspend_job")
        == 1
    )


async def test_retries_are_bounded_then_the_run_fails_safe(world: Callable[..., World]) -> None:
    w = world()
    w.fake.errors["resume_job"] = [ActuationError("500", retryable=True, code="500")] * 10
    run = await w.step(w.fire())
    assert w.fake.acts().count("resume_job") == w.cfg.remediator.policy.step_attempts == 3
    assert run.outcome == "failed" and "3 attempts exhausted" in run.reason
    assert "the job this run suspended stays suspended" in run.reason
    assert "resume_job failed, but its git change may already be merged" in run.reason


async def test_a_step_that_fails_after_retries_names_every_attempt_in_its_reason_and_page(
    world: Callable[..., World],
) -> None:
    """The fault matrix's clickhouse-stopped-in-drop: the first attempt's DROP reached a server
    that stopped under it (effect unknown), the retries died at connect. The page must not say
    only the last: a person reading "connect timed out" would think nothing was sent."""
    w = world()
    sent = "ClickHouse r1: ALTER TABLE `torghut`.`ta_microbars` DROP PARTITION ID '20261118'"
    w.fake.errors["drop_partition"] = [
        ActuationError(f"{sent}: timed out", retryable=True, code="network"),
        ActuationError("ClickHouse r1: connect: timed out", retryable=True, code="network"),
        ActuationError("ClickHouse r1: connect: timed out", retryable=True, code="network"),
    ]
    run = await w.step(w.fire())
    drop = next(s for s in run.steps if s.name == "drop_partition")
    assert drop.status == "failed" and drop.attempts == 3, drop
    assert drop.detail.startswith(
        "drop_partition failed (network, 3 attempts exhausted): ClickHouse r1: connect: timed out"
        f" (before it: attempt 1 failed (network): {sent}: timed out; attempt 2 failed"
    ), drop.detail
    assert run.outcome == "failed" and f"{sent}: timed out" in run.reason, run.reason
    pages = [c[1] for c in w.fake.calls if c[0] == "escalate"]
    assert len(pages) == 1 and f"{sent}: timed out" in pages[0], pages


async def test_an_escalating_error_fails_safe_the_job_stays_suspended_and_a_person_is_paged(
    world: Callable[..., World],
) -> None:
    w = world()
    w.fake.errors["drop_partition"] = [
        ActuationError("Code: 243. Cannot reserve space", escalate=True, code="243")
    ]
    run = await w.step(w.fire())
    assert w.fake.acts() == ["pause_trading", "suspend_job", "drop_partition"]
    assert run.outcome == "failed" and [s.status for s in run.steps][:4] == [
        "done",
        "done",
        "failed",
        "pending",
    ]
    [(_, reason)] = w.fake.of("escalate")
    assert "243" in reason and "the job this run suspended stays suspended" in reason
    assert "trading stays paused" in reason
    assert w.metric("torghut_ta_remediation_escalations_total", procedure="A") == 1


async def test_a_crash_after_the_idempotency_key_resumes_without_repeating_the_actuation(
    world: Callable[..., World],
) -> None:
    first = world()
    first.fake.errors["suspend_job"] = [Crash()]
    run_id = first.fire()
    crashed = await first.step(run_id)
    assert crashed.open and crashed.steps[1].status == "acting" and crashed.acted
    await first.engine.stop()
    first.journal.close()
    again = world()  # the restarted process, on the same journal
    again.fake.done_answer = True  # the real state shows the job suspended
    run = await again.step(run_id)
    assert again.fake.of("already_done") == [("already_done", "suspend_job")]
    assert "suspend_job" not in again.fake.acts() and again.fake.acts()[0] == "drop_partition"
    assert run.outcome == "succeeded" and "not repeated" in run.steps[1].detail


async def test_a_restart_that_cannot_tell_the_real_state_fails_safe_and_escalates(
    world: Callable[..., World],
) -> None:
    first = world()
    first.fake.errors["drop_partition"] = [Crash()]
    run_id = first.fire()
    await first.step(run_id)
    await first.engine.stop()
    again = world()
    again.fake.done_answer = None
    run = await again.step(run_id)
    assert again.fake.acts() == [] and run.outcome == "failed"
    assert "cannot be told" in run.reason and len(again.fake.of("escalate")) == 1


async def test_a_restart_that_finds_the_step_not_done_acts_again(
    world: Callable[..., World],
) -> None:
    first = world()
    first.fake.errors["suspend_job"] = [Crash()]
    run_id = first.fire()
    await first.step(run_id)
    await first.engine.stop()
    again = world()
    again.fake.done_answer = False
    run = await again.step(run_id)
    assert again.fake.acts()[0] == "suspend_job" and run.outcome == "succeeded"
    assert run.steps[1].attempts == 2


async def test_an_approval_lets_the_run_act_after_re_reading_the_facts(
    world: Callable[..., World],
) -> None:
    w = world()
    w.facts = A_UNREPLAYABLE
    run_id = w.fire()
    run = await w.step(run_id)
    assert run.state == "awaiting_approval" and w.fake.acts() == []
    [(_, step, summary)] = w.fake.of("request_approval")
    assert step == "2" and "Kafka cannot replay" in summary  # one step: its index
    assert w.metric("torghut_ta_remediation_pending_approvals") == 1
    w.journal.decide_approval(run_id, "approved", who="alice", reason="backups checked")
    run = await w.step(run_id)
    assert w.fake.acts() == A_FULL_ORDER and run.outcome == "succeeded"
    assert w.metric("torghut_ta_remediation_approvals_total", verdict="approved") == 1


async def test_a_plan_that_changed_after_the_approval_needs_a_new_one(
    world: Callable[..., World],
) -> None:
    w = world()
    w.facts = A_UNREPLAYABLE
    run_id = w.fire()
    await w.step(run_id)
    w.journal.decide_approval(run_id, "approved", who="alice", reason="ok")
    # meanwhile a merge grew the old partition: what alice approved is not what would run
    bigger = (day_partition(9, size=5000), day_partition(8))
    w.facts = Facts(**{**A_UNREPLAYABLE.__dict__, "partitions": bigger})
    run = await w.step(run_id)
    assert w.fake.acts() == [] and run.state == "awaiting_approval"
    assert [a.verdict for a in run.approvals] == ["approved", None]
    assert any("the plan changed since alice approved it" in d.reason for d in run.decisions)
    assert len(w.fake.of("request_approval")) == 2


async def test_a_denied_approval_ends_the_run_without_acting(world: Callable[..., World]) -> None:
    w = world()
    w.facts = A_UNREPLAYABLE
    run_id = w.fire()
    await w.step(run_id)
    w.journal.decide_approval(run_id, "denied", who="bob", reason="restore from backup instead")
    run = await w.step(run_id)
    assert w.fake.acts() == [] and run.outcome == "denied"
    assert "denied by bob: restore from backup instead" in run.reason


async def test_an_unanswered_approval_expires_and_the_run_ends(world: Callable[..., World]) -> None:
    w = world()
    w.facts = A_UNREPLAYABLE
    run_id = w.fire()
    await w.step(run_id)
    w.clock[0] += w.cfg.remediator.policy.approval_ttl - 1
    assert (await w.step(run_id)).state == "awaiting_approval"
    w.clock[0] += 2
    run = await w.step(run_id)
    assert w.fake.acts() == [] and run.outcome == "expired"
    assert run.approvals[-1].verdict == "expired"
    assert w.metric("torghut_ta_remediation_approvals_total", verdict="expired") == 1


async def test_cancel_mid_run_stops_before_the_next_step_and_escalates(
    world: Callable[..., World],
) -> None:
    w = world()
    run_id = w.fire()
    w.fake.hooks["suspend_job"] = lambda: (
        w.journal.request_cancel(run_id, who="alice", reason="doing it by hand", executing=True)
        and None
    )
    run = await w.step(run_id)
    assert w.fake.acts() == ["pause_trading", "suspend_job"]
    assert run.outcome == "cancelled" and "cancelled by alice: doing it by hand" in run.reason
    [(_, reason)] = w.fake.of("escalate")
    assert "the job this run suspended stays suspended" in reason


async def test_a_pause_mid_run_stops_before_the_next_step_and_resume_carries_on(
    world: Callable[..., World],
) -> None:
    w = world()
    run_id = w.fire()
    w.fake.hooks["suspend_job"] = lambda: w.journal.set_control(
        "paused", "true", who="alice", reason="looking"
    )
    run = await w.step(run_id)
    assert w.fake.acts() == ["pause_trading", "suspend_job"] and run.open
    assert run.state == "paused" and "stopped before drop_partition" in run.reason
    assert ("kill_switch_api", "block") in [(d.gate, d.verdict) for d in run.decisions]
    assert w.metric("torghut_ta_remediation_paused") == 1
    assert w.metric("torghut_ta_remediation_gate_blocks_total", gate="kill_switch_api") == 1
    w.annotation = KillSwitch("annotation", None, "403 reading the FlinkDeployment")
    w.journal.set_control("paused", "false", who="alice", reason="done looking")
    run = await w.step(run_id)
    assert run.state == "paused" and "unreadable: counts as paused" in run.reason
    w.annotation = KillSwitch("annotation", False, "not set")
    run = await w.step(run_id)
    assert w.fake.acts() == A_FULL_ORDER and run.outcome == "succeeded"
    assert w.metric("torghut_ta_remediation_paused") == 0


async def test_a_run_held_at_triage_by_a_pause_is_planned_afresh_once_every_switch_is_off(
    world: Callable[..., World],
) -> None:
    w = world()
    w.journal.set_control("paused", "true", who="alice", reason="deploying")
    run_id = w.fire()
    run = await w.step(run_id)
    assert run.state == "blocked" and "kill_switch_api" in run.reason and w.fake.acts() == []
    decided = len(run.decisions)
    assert await w.engine.sweep() == []  # the sweep looks at it again and leaves it
    await w.engine.settle()
    run = await w.step(run_id)  # still paused: not triaged again, nothing new journaled
    assert run.state == "blocked" and len(run.decisions) == decided
    w.journal.set_control("paused", "false", who="alice", reason="deployed")
    w.annotation = KillSwitch("annotation", None, "403 reading the FlinkDeployment")
    run = await w.step(run_id)  # a switch that cannot be read still holds it
    assert run.state == "blocked" and len(run.decisions) == decided
    w.annotation = KillSwitch("annotation", False, "not set")
    run = await w.step(run_id)
    assert w.fake.acts() == A_FULL_ORDER and run.outcome == "succeeded"


async def test_losing_the_lease_stops_the_step_and_the_next_leader_re_reads_it(
    world: Callable[..., World],
) -> None:
    w = world()
    run_id = w.fire()
    w.fake.hooks["suspend_job"] = lambda: setattr(w, "leader", False)
    run = await w.step(run_id)
    assert run.open and run.state == "acting" and w.fake.of("escalate") == []
    assert run.steps[1].status == "acting"  # the fence stopped it: not failed, not done
    assert [d.gate for d in run.decisions].count("lease") == 1
    await w.step(run_id)  # still not the leader: nothing acts, the block is not journaled again
    assert [d.gate for d in w.journal.run(run_id).decisions].count("lease") == 1  # type: ignore[union-attr]
    w.leader = True
    w.fake.done_answer = False
    run = await w.step(run_id)
    assert w.fake.acts() == ["pause_trading", "suspend_job", *A_FULL_ORDER[1:]]
    assert run.outcome == "succeeded"


async def test_alerts_resolved_before_acting_end_the_run_with_nothing_done(
    world: Callable[..., World],
) -> None:
    w = world()
    w.facts = A_UNREPLAYABLE
    run_id = w.fire()
    await w.step(run_id)
    w.fire(status="resolved")
    run = await w.step(run_id)
    assert w.fake.acts() == [] and run.outcome == "resolved"
    assert "before anything was done" in run.reason


async def test_alerts_resolved_after_acting_do_not_abort_the_run(
    world: Callable[..., World],
) -> None:
    w = world()
    run_id = w.fire()
    w.fake.hooks["suspend_job"] = lambda: w.fire(status="resolved") and None
    run = await w.step(run_id)
    assert w.fake.acts() == A_FULL_ORDER and run.outcome == "succeeded"


async def test_verification_past_its_deadline_fails_safe_and_escalates(
    world: Callable[..., World],
) -> None:
    w = world()
    w.fake.verify_answers["verify_freshness"] = [
        VerifyResult(None, "ClickHouse unreachable"),
        VerifyResult(False, "max(event_ts) not advancing"),
    ]
    start = w.clock[0]
    run = await w.step(w.fire())
    assert run.outcome == "failed" and "verify_freshness not verified within 600s" in run.reason
    assert "max(event_ts) not advancing" in run.reason
    assert w.clock[0] - start >= 600
    polls = len([c for c in w.fake.of("verify") if c[1] == "verify_freshness"])
    assert polls == 600 // 15 + 1
    assert len(w.fake.of("escalate")) == 1


def _jumping_clock(w: World, jump: float, ok_at: int | None) -> list[float]:
    """Real time passes on the wall and the monotonic clock alike; at the first freshness poll
    the wall clock alone jumps by `jump` seconds (NTP stepping it). Returns the polls' times."""
    executor = w.engine.executor
    assert executor is not None
    mono = [0.0]

    async def sleep(seconds: float) -> None:
        mono[0] += seconds
        w.clock[0] += seconds
        await asyncio.sleep(0)

    executor.monotonic, executor.sleep = (lambda: mono[0]), sleep
    verify, polls = w.fake.verify, []

    async def jumping(step: StepRecord, *, run: Run) -> VerifyResult:
        if step.name != "verify_freshness":
            return await verify(step, run=run)
        polls.append(mono[0])
        if len(polls) == 1:
            w.clock[0] += jump
        ok = True if ok_at is not None and len(polls) >= ok_at else None
        return VerifyResult(ok, "max(event_ts) advancing?")

    w.fake.verify = jumping  # type: ignore[method-assign]
    return polls


async def test_a_wall_clock_jump_forward_while_verifying_does_not_end_the_wait(
    world: Callable[..., World],
) -> None:
    w = world()
    polls = _jumping_clock(w, +3600, ok_at=3)
    run = await w.step(w.fire())
    assert run.outcome == "succeeded" and len(polls) == 3, run.reason


async def test_a_wall_clock_jump_back_while_verifying_does_not_stretch_the_wait(
    world: Callable[..., World],
) -> None:
    w = world()
    polls = _jumping_clock(w, -7200, ok_at=None)
    run = await w.step(w.fire())
    assert run.outcome == "failed" and "not verified within 600s" in run.reason
    assert len(polls) == 600 // 15 + 1 and polls[-1] - polls[0] == 600


async def test_a_page_that_cannot_be_posted_keeps_the_run_open_until_it_is(
    world: Callable[..., World],
) -> None:
    w = world()
    w.fake.errors["resume_job"] = [ActuationError("422 invalid", escalate=True, code="422")]
    w.fake.errors["escalate"] = [ActuationError("Alertmanager 503", retryable=True)]
    run_id = w.fire()
    run = await w.step(run_id)
    assert run.open and "the page could not be posted" in run.reason
    assert w.fake.acts().count("resume_job") == 1
    run = await w.step(run_id)  # the sweep drives it again: it pages, then ends
    assert run.outcome == "failed" and len(w.fake.of("escalate")) == 2
    assert w.fake.acts().count("resume_job") == 1  # nothing was acted again
    assert w.metric("torghut_ta_remediation_escalations_total", procedure="A") == 1


async def test_a_run_that_acted_is_never_presumed_resolved_when_its_alerts_go_silent(
    world: Callable[..., World],
) -> None:
    w = world()
    w.fake.hooks["suspend_job"] = lambda: w.journal.set_control(
        "paused", "true", who="alice", reason="looking"
    )
    run_id = w.fire()
    run = await w.step(run_id)
    assert run.acted and run.state == "paused"  # the job it suspended stays suspended
    silent = w.cfg.remediator.policy.alerts_silent_after
    # Alertmanager down for hours, or the wall clock stepped ahead: only the executor ends it
    assert await w.engine.sweep(now=w.clock[0] + silent + 3600) == []
    run = w.journal.run(run_id)
    assert run is not None and run.open and run.outcome is None
    never_acted = w.fire("f9", procedure="B")
    assert await w.engine.sweep(now=w.clock[0] + silent + 3600) == [never_acted]


async def test_procedure_b_restores_after_approval_and_escalates_while_still_read_only(
    world: Callable[..., World],
) -> None:
    w = world()
    w.facts = facts(
        verdicts={"clickhouse-replicas": verdict("clickhouse-replicas", "down", "B", "r1 lost")},
        readonly=(("r1", "ta_signals"),),
        metadata_lost=(("r1", "ta_signals"),),
    )
    run_id = w.fire(procedure="B")
    run = await w.step(run_id)
    assert run.state == "awaiting_approval" and w.fake.acts() == []
    w.journal.decide_approval(run_id, "approved", who="alice", reason="keeper is back")
    # the sandbox's honest outcome: the restore is issued, the replica stays read-only
    w.fake.verify_answers["verify_writable"] = [VerifyResult(False, "r1 ta_signals read-only")]
    run = await w.step(run_id)
    assert w.fake.acts() == ["restart_replica", "restore_replica"]
    assert run.outcome == "failed" and "r1 ta_signals read-only" in run.reason
    [(_, reason)] = w.fake.of("escalate")
    assert "verify_writable not verified" in reason


async def test_the_trading_gate_pauses_trading_and_verifies_it(world: Callable[..., World]) -> None:
    w = world()
    w.facts = facts(verdicts={"freshness": verdict("freshness", "down", summary="stale 20m")})
    run_id = w.fire(procedure="trading_gate")
    run = await w.step(run_id)
    assert w.fake.acts() == ["pause_trading"] and run.outcome == "succeeded"
    assert [c[1] for c in w.fake.of("verify")] == ["verify_trading_paused"]


async def test_a_cancel_while_verifying_stops_the_polling(world: Callable[..., World]) -> None:
    w = world()
    run_id = w.fire()
    answers = iter([False, False])

    async def verify(step: StepRecord, *, run: Run) -> VerifyResult:
        if next(answers, None) is None:
            w.journal.request_cancel(run_id, who="alice", reason="enough", executing=True)
        return VerifyResult(False, "not yet")

    w.fake.verify = verify  # type: ignore[method-assign]
    run = await w.step(run_id)
    assert run.outcome == "cancelled" and run.steps[5].status == "acting"
    assert w.clock[0] - NOW < w.cfg.remediator.policy.verify_timeout


async def test_an_acting_run_found_by_an_observe_mode_process_ends_failed_for_a_person(
    world: Callable[..., World],
) -> None:
    first = world()
    first.fake.errors["suspend_job"] = [Crash()]
    run_id = first.fire()
    await first.step(run_id)
    await first.engine.stop()
    observer = world("observe")
    run = await observer.step(run_id)
    assert run.outcome == "failed" and "cannot finish this run" in run.reason
    assert observer.fake.calls == []


def test_pure_decisions() -> None:
    plan = Plan(
        "A",
        "A-full",
        (
            Step("suspend_job", "reversible", "w"),
            Step("drop_partition", "destructive", "w", {"partition": "p1"}),
            Step("verify_job", "verify", "w"),
        ),
    )
    assert needs_approval(plan, "auto") == []
    assert needs_approval(plan, "propose") == [1]
    other = Plan("A", "A-full", (Step("drop_partition", "destructive", "x", {"partition": "p2"}),))
    assert plan_digest(plan.steps) != plan_digest(other.steps)
    same_targets = Plan(
        "A", "A-full", tuple(Step(s.name, s.kind, "other prose", s.target) for s in plan.steps)
    )
    assert plan_digest(plan.steps) == plan_digest(same_targets.steps)
    empty = Run("r", "k", "A", "t", "auto", "acting", None, "", None, False, 0, 0, None)
    assert next_move(empty).move == "resolved"  # no alert firing and nothing acted
