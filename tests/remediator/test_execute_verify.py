"""Verification: its deadline, on the monotonic clock whatever the wall clock does, and a cancel
while polling."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from execute_kit import World
from remediator_kit import NOW

from remediator.execute import VerifyResult
from remediator.journal import Run
from remediator.journal_acting import StepRecord


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
