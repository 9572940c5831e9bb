"""A restarted or new leader process resuming a run: after an idempotency key, when the real
state cannot be told, when the step was not done, after losing the Lease, in observe mode."""

from __future__ import annotations

from collections.abc import Callable

from execute_kit import A_FULL_ORDER, World
from remediator_kit import Crash

from remediator.journal import Run


async def crashed_in(world: Callable[..., World], step: str) -> Run:
    """A process that died while `step` acted (the idempotency key journaled, no outcome)."""
    first = world()
    first.fake.errors[step] = [Crash()]
    run = await first.step(first.fire())
    await first.engine.stop()
    first.journal.close()
    return run


async def test_a_crash_after_the_idempotency_key_resumes_without_repeating_the_actuation(
    world: Callable[..., World],
) -> None:
    crashed = await crashed_in(world, "suspend_job")
    run_id = crashed.id
    assert crashed.open and crashed.steps[1].status == "acting" and crashed.acted
    again = world()  # the restarted process, on the same journal
    again.fake.done_answer = True  # the real state shows the job suspended
    run = await again.step(run_id)
    assert again.fake.of("already_done") == [("already_done", "suspend_job")]
    assert "suspend_job" not in again.fake.acts() and again.fake.acts()[0] == "drop_partition"
    assert run.outcome == "succeeded" and "not repeated" in run.steps[1].detail


async def test_a_restart_that_cannot_tell_the_real_state_fails_safe_and_escalates(
    world: Callable[..., World],
) -> None:
    run_id = (await crashed_in(world, "drop_partition")).id
    again = world()
    again.fake.done_answer = None
    run = await again.step(run_id)
    assert again.fake.acts() == [] and run.outcome == "failed"
    assert "cannot be told" in run.reason and len(again.fake.of("escalate")) == 1


async def test_a_restart_that_finds_the_step_not_done_acts_again(
    world: Callable[..., World],
) -> None:
    run_id = (await crashed_in(world, "suspend_job")).id
    again = world()
    again.fake.done_answer = False
    run = await again.step(run_id)
    assert again.fake.acts()[0] == "suspend_job" and run.outcome == "succeeded"
    assert run.steps[1].attempts == 2


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


async def test_an_acting_run_found_by_an_observe_mode_process_ends_failed_for_a_person(
    world: Callable[..., World],
) -> None:
    run_id = (await crashed_in(world, "suspend_job")).id
    observer = world("observe")
    run = await observer.step(run_id)
    assert run.outcome == "failed" and "cannot finish this run" in run.reason
    assert observer.fake.calls == []
