"""Approvals: one lets the run act on re-read facts; a changed plan, a denial and an unanswered
request do not."""

from __future__ import annotations

from collections.abc import Callable

from execute_kit import A_FULL_ORDER, World
from remediator_kit import A_UNREPLAYABLE, day_partition

from remediator.facts import Facts


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
