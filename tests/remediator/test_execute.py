"""The executor through the engine, with a recording fake `Actuators` (the real actuators are
tested against the sandbox in their own modules): the modes, the procedures' plans acted in
order and verified, and the pure decisions. Retries, restarts, approvals, controls,
verification and resolution have their own test_execute_* modules; the world is execute_kit's."""

from __future__ import annotations

from collections.abc import Callable

from execute_kit import A_FULL_ORDER, World
from remediator_kit import facts, verdict

from remediator.execute import VerifyResult, needs_approval, next_move, plan_digest
from remediator.journal import Run
from remediator.plan import Plan, Step


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
