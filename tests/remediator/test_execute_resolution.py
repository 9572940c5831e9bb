"""Alerts resolving around a run: before acting, after acting, and going silent after acting."""

from __future__ import annotations

from collections.abc import Callable

from execute_kit import A_FULL_ORDER, World
from remediator_kit import A_UNREPLAYABLE


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
