"""A person's controls over a run: cancel and pause mid-run, a run held at triage by a pause."""

from __future__ import annotations

from collections.abc import Callable

from execute_kit import A_FULL_ORDER, World

from remediator.policy import KillSwitch


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
