"""The executor's retries and failing safe: backoff, bounded attempts, escalating errors, and a
page that cannot be posted."""

from __future__ import annotations

from collections.abc import Callable

from execute_kit import World

from remediator.actuators import ActuationError


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
