"""The executor: carries out one run's journaled steps after its gates passed.

Plan-then-act: what to do next is a pure function of the journaled run (`next_move`); the loop
only carries it out, and every change goes through the injected `Actuators`. Before every step
the kill switches and the leader Lease are checked again; each actuation's idempotency key is
written (`acting`) before it, so a restart re-reads the real state (`already_done`) instead of
repeating it. Anything unexpected fails safe: the run stops where it is (a job it suspended
stays suspended, trading stays paused), is journaled, and a person is paged (`escalate`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeVar

from remediator.actuators import ActuationError, Fence, NotLeader, Opened
from remediator.config import RemediatorConfig
from remediator.execute_rules import (
    GITOPS_STEPS,
    NextMove,
    backoff,
    left_safe,
    needs_approval,
    next_move,
    plan_digest,
)
from remediator.journal import Journal, Run
from remediator.journal_acting import ApprovalRecord, StepRecord
from remediator.metrics import RemediatorMetrics
from remediator.plan import Plan
from remediator.policy import KillSwitch

ROLLBACK_CANCEL = "rolled back by run "

__all__ = [
    "GITOPS_STEPS",
    "Actuators",
    "Executor",
    "NextMove",
    "VerifyResult",
    "needs_approval",
    "next_move",
    "plan_digest",
]
log = logging.getLogger("remediator.execute")
T = TypeVar("T")


@dataclass(frozen=True)
class VerifyResult:
    ok: bool | None  # None: could not tell (counts as "not yet")
    detail: str


class Actuators(Protocol):
    """Everything the executor does to the world; the wiring is `remediator.actuate`."""

    async def act(self, step: StepRecord, *, run: Run, key: str, fence: Fence) -> dict[str, str]:
        """Carry out one step; evidence (PR link, diff, commit) for the journal."""
        ...

    async def already_done(self, step: StepRecord, *, run: Run) -> bool | None:
        """Re-read the real state after a restart found the step `acting`; None: cannot tell."""
        ...

    async def verify(self, step: StepRecord, *, run: Run) -> VerifyResult: ...

    async def escalate(self, run: Run, reason: str) -> None:
        """Page a person (TARemediationFailed)."""
        ...

    async def request_approval(self, run: Run, approval: ApprovalRecord, summary: str) -> None:
        """Ask a person (TARemediationAwaitingApproval)."""
        ...

    async def succeeded(self, run: Run, summary: str) -> None:
        """Tell people the incident was resolved by remediation."""
        ...

    async def resume_trading(
        self, *, who: str, reason: str, fence: Fence, opened: Opened | None = None
    ) -> dict[str, str]:
        """A person's decision: TRADING_ENABLED=true through GitOps. Never called by a run.
        `opened` is told the pull request as soon as it exists (propose mode)."""
        ...


# --- the loop ----------------------------------------------------------------------------------


class Executor:
    def __init__(
        self,
        cfg: RemediatorConfig,
        journal: Journal,
        actuators: Actuators,
        metrics: RemediatorMetrics,
        *,
        fence: Fence,
        switches: Callable[[], Awaitable[tuple[KillSwitch, ...]]],
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cfg = cfg
        self.journal = journal
        self.actuators = actuators
        self.metrics = metrics
        self.fence = fence
        self.switches = switches
        self.sleep = sleep
        self.monotonic = monotonic

    async def _j(self, fn: Callable[..., T], *args: Any, **kw: Any) -> T:
        return await asyncio.to_thread(fn, *args, **kw)

    async def _decide(self, run: Run, gate: str, verdict: str, reason: str) -> None:
        await self._j(self.journal.decide, run.id, gate, verdict, reason)
        if verdict == "block":
            self.metrics.gate_blocks.labels(gate=gate).inc()

    # --- approvals -----------------------------------------------------------------------

    async def begin(self, run: Run, plan: Plan, record: dict[str, Any]) -> bool:
        """After the gates passed: journal the steps, then either ask for the approval the plan
        needs (False: the run waits) or go (True: call `drive`)."""
        await self._j(self.journal.set_steps, run.id, plan.steps)
        need = needs_approval(plan, self.cfg.remediator.mode)
        digest = plan_digest(plan.steps)
        approvals = run.approvals
        latest = approvals[-1] if approvals else None
        if need and (latest is None or latest.verdict != "approved"):
            await self._ask(run, plan, need, digest)
            return False
        if need and latest is not None and latest.plan_digest != digest:
            await self._decide(
                run,
                "approval",
                "block",
                f"the plan changed since {latest.decided_by} approved it: the approval does not "
                "carry over, a new one is requested",
            )
            await self._ask(run, plan, need, digest)
            return False
        if need and latest is not None:
            await self._decide(
                run,
                "approval",
                "pass",
                f"approved by {latest.decided_by} ({latest.reason}); the plan re-read after the "
                "approval is the one approved",
            )
        await self._j(
            self.journal.update_run,
            run.id,
            state="acting",
            reason="every gate passed: acting",
            plan=record,
        )
        return True

    async def _ask(self, run: Run, plan: Plan, need: list[int], digest: str) -> None:
        ttl = self.cfg.remediator.policy.approval_ttl
        step = str(need[0]) if len(need) == 1 else "*"
        approval = await self._j(
            self.journal.request_approval, run.id, step=step, plan_digest=digest, ttl=ttl
        )
        summary = "; ".join(
            f"{plan.steps[i].name} {'/'.join(plan.steps[i].target.values())}: "
            f"{plan.steps[i].approval_reason or plan.steps[i].why}"
            for i in need
        )
        reason = f"awaiting a person's approval (expires in {ttl:.0f}s) for: {summary}"
        await self._decide(run, "approval", "approval", reason)
        await self._j(self.journal.update_run, run.id, state="awaiting_approval", reason=reason)
        try:
            await self.actuators.request_approval(run, approval, summary)
        except Exception as exc:  # the request is journaled and visible in the API regardless
            log.exception("run %s: the approval request could not be posted", run.id)
            await self._decide(run, "approval_notice", "block", f"not posted: {exc}")

    async def check_approval(self, run: Run) -> Literal["wait", "approved", "ended"]:
        """A run awaiting approval: still waiting, approved (re-plan it), or ended (denied or
        expired: nothing more is done)."""
        latest = run.approvals[-1] if run.approvals else None
        if latest is not None and latest.pending and self.journal.clock() >= latest.expires_at:
            latest = await self._j(
                self.journal.decide_approval, run.id, "denied", who="remediator", reason=""
            )
        if latest is None or latest.pending:
            return "wait"
        if latest.verdict == "approved":
            self.metrics.approvals.labels(verdict="approved").inc()
            return "approved"
        verdict = "expired" if latest.verdict == "expired" else "denied"
        self.metrics.approvals.labels(verdict=verdict).inc()
        by = "" if verdict == "expired" else f" by {latest.decided_by}: {latest.reason}"
        reason = f"approval {verdict}{by}; nothing more is done ({left_safe(run)})"
        await self._decide(run, "approval", "block", reason)
        await self._end(run, verdict, reason)
        return "ended"

    # --- driving the steps -----------------------------------------------------------------

    async def drive(self, run_id: str) -> None:
        """Carry the run's steps out until it ends, waits, or must stop."""
        while True:
            run = await self._j(self.journal.run, run_id)
            if run is None or not run.open:
                return
            nxt = next_move(run)
            if nxt.move == "cancel":
                # a person's rollback stops the replay it rolls back: no page for that
                rollback = ROLLBACK_CANCEL in str(run.cancel_requested)
                await self._fail_safe(
                    run, "cancelled", str(run.cancel_requested), page=run.acted and not rollback
                )
                return
            if nxt.move == "resolved":
                await self._end(
                    run, "resolved", "every alert resolved before the run acted: nothing done"
                )
                return
            if nxt.move == "succeeded":
                await self._succeed(run)
                return
            step = nxt.step
            assert step is not None
            if nxt.move == "failed":
                await self._fail_safe(run, "failed", f"step {step.name} failed: {step.detail}")
                return
            if not await self._may_act(run, step):
                return
            if nxt.move == "verify":
                if not await self._verify(run, step):
                    return
                continue
            if nxt.move == "recover":
                found = await self._recover(run, step)
                if found == "stop":
                    return
                if found == "done":
                    continue
            if not await self._act(run, step):
                return

    async def _may_act(self, run: Run, step: StepRecord) -> bool:
        """Kill switches and the Lease, re-checked before every step."""
        on = [s for s in await self.switches() if s.on is not False]
        if on:
            reason = "; ".join(
                f"kill switch {s.source}: {s.detail or 'paused'}"
                + (" (unreadable: counts as paused)" if s.on is None else "")
                for s in on
            )
            reason = f"stopped before {step.name}: {reason}; {left_safe(run)}"
            for s in on:
                await self._decide(run, f"kill_switch_{s.source}", "block", reason)
            await self._j(self.journal.update_run, run.id, state="paused", reason=reason)
            self.metrics.paused.set(1)
            return False
        self.metrics.paused.set(0)
        try:
            self.fence()
        except NotLeader as exc:
            await self._not_leader(run, step, exc)
            return False
        if run.state != "acting":
            await self._j(self.journal.update_run, run.id, state="acting", reason="acting")
        return True

    async def _not_leader(self, run: Run, step: StepRecord, exc: Exception) -> None:
        reason = f"stopped before {step.name}: not the leader ({exc}); the run stays open"
        last = await self._j(self.journal.last_decision, run.id)
        if last is None or last[0] != "lease":  # once per stop, not once per sweep
            await self._decide(run, "lease", "block", reason)
        await self._j(self.journal.update_run, run.id, reason=reason)

    async def _recover(self, run: Run, step: StepRecord) -> Literal["done", "act", "stop"]:
        """A step found `acting` (the process stopped mid-actuation): ask the real state."""
        try:
            done = await self.actuators.already_done(step, run=run)
        except Exception as exc:
            log.exception("run %s: already_done(%s) failed", run.id, step.name)
            done = None
            detail = f"{type(exc).__name__}: {exc}"
        else:
            detail = ""
        if done is True:
            await self._j(
                self.journal.step_end,
                run.id,
                step.index,
                "done",
                "found done after a restart (the real state was re-read; not repeated)",
            )
            self._count(run, step, "done")
            return "done"
        if done is False:
            await self._decide(
                run, "recovery", "pass", f"{step.name} was not done before the restart: acting"
            )
            return "act"
        reason = (
            f"{step.name} was in progress when the remediator stopped and its real state cannot "
            f"be told{': ' + detail if detail else ''}; not repeated"
        )
        await self._j(self.journal.step_end, run.id, step.index, "failed", reason)
        self._count(run, step, "failed")
        await self._fail_safe(run, "failed", reason)
        return "stop"

    async def _act(self, run: Run, step: StepRecord) -> bool:
        pol = self.cfg.remediator.policy
        # every failed attempt's error reaches the final reason (and the page): a retry that dies
        # at connect must not hide that an earlier attempt sent the statement (effect unknown)
        earlier: list[str] = []
        while True:
            rec = await self._j(self.journal.step_acting, run.id, step.index)  # key first
            try:
                evidence = await self.actuators.act(rec, run=run, key=rec.key, fence=self.fence)
            except NotLeader as exc:
                await self._not_leader(run, step, exc)
                return False
            except ActuationError as exc:
                if exc.retryable and not exc.escalate and rec.attempts < pol.step_attempts:
                    detail = f"attempt {rec.attempts} failed ({exc.code or 'error'}): {exc}"
                    earlier.append(detail)
                    await self._j(self.journal.step_end, run.id, step.index, "acting", detail)
                    self.metrics.step_retries.labels(procedure=run.procedure, step=step.name).inc()
                    await self.sleep(backoff(pol.retry_backoff, rec.attempts))
                    continue
                why = (
                    "a person must act"
                    if exc.escalate
                    else (
                        f"{rec.attempts} attempt(s), not retryable"
                        if not exc.retryable
                        else f"{rec.attempts} attempts exhausted"
                    )
                )
                reason = f"{step.name} failed ({exc.code or 'error'}, {why}): {exc}"
                if earlier:
                    reason += f" (before it: {'; '.join(earlier)})"
                return await self._step_failed(run, step, reason)
            except Exception as exc:  # an actuator bug: its effect is unknown
                log.exception("run %s: %s raised", run.id, step.name)
                reason = f"{step.name} raised {type(exc).__name__}: {exc} (effect unknown)"
                return await self._step_failed(run, step, reason)
            await self._j(self.journal.step_end, run.id, step.index, "done", "done", dict(evidence))
            self._count(run, step, "done")
            return True

    async def _step_failed(self, run: Run, step: StepRecord, reason: str) -> bool:
        await self._j(self.journal.step_end, run.id, step.index, "failed", reason)
        self._count(run, step, "failed")
        fresh = await self._j(self.journal.run, run.id)
        await self._fail_safe(fresh or run, "failed", reason)
        return False

    async def _verify(self, run: Run, step: StepRecord) -> bool:
        pol = self.cfg.remediator.policy
        rec = await self._j(self.journal.step_acting, run.id, step.index)
        timeout = float(step.target.get("timeout") or pol.verify_timeout)
        # the journal's wall-clock start carries the deadline over a restart; within this
        # process the rest is timed on the monotonic clock, so a wall-clock jump while verifying
        # neither ends the wait early nor stretches it
        left = (rec.started_at or self.journal.clock()) + timeout - self.journal.clock()
        deadline = self.monotonic() + min(max(left, 0.0), timeout)
        while True:
            try:
                result = await self.actuators.verify(rec, run=run)
            except Exception as exc:
                result = VerifyResult(None, f"could not check: {type(exc).__name__}: {exc}")
            if result.ok is True:
                await self._j(self.journal.step_end, run.id, step.index, "done", result.detail)
                self._count(run, step, "done")
                return True
            now = self.monotonic()
            if now >= deadline:
                reason = f"{step.name} not verified within {timeout:.0f}s: {result.detail}"
                return await self._step_failed(run, step, reason)
            await self._j(
                self.journal.step_end, run.id, step.index, "acting", f"not yet: {result.detail}"
            )
            fresh = await self._j(self.journal.run, run.id)
            if fresh is None or not fresh.open or fresh.cancel_requested:
                return True  # the loop re-decides: cancelled while verifying
            await self.sleep(max(0.0, min(pol.verify_every, deadline - now)))

    # --- ends ----------------------------------------------------------------------------

    def _count(self, run: Run, step: StepRecord, outcome: str) -> None:
        self.metrics.steps.labels(procedure=run.procedure, step=step.name, outcome=outcome).inc()

    async def _end(self, run: Run, outcome: str, reason: str) -> None:
        await self._j(self.journal.update_run, run.id, outcome=outcome, reason=reason)
        self.metrics.runs.labels(procedure=run.procedure, outcome=outcome).inc()
        log.info("run %s ended: %s (%s)", run.id, outcome, reason)

    async def _fail_safe(self, run: Run, outcome: str, reason: str, *, page: bool = True) -> None:
        """Stop where the run is, page a person, then end it. A page that could not be posted
        keeps the run open (the sweep drives it again, and it pages again): a failure is never
        ended silently. A crash in between pages again on restart rather than never."""
        full = f"{reason}; {left_safe(run)}"
        if page:
            try:
                await self.actuators.escalate(run, full)
            except Exception as exc:
                log.exception("run %s: the escalation could not be posted", run.id)
                note = f"the page could not be posted ({type(exc).__name__}: {exc}); retried"
                await self._decide(run, "escalation", "block", note)
                await self._j(self.journal.update_run, run.id, reason=f"{full}; {note}")
                return
            self.metrics.escalations.labels(procedure=run.procedure).inc()
        await self._decide(run, "fail_safe", "block", full)
        await self._end(run, outcome, full)

    async def _succeed(self, run: Run) -> None:
        names = ", ".join(s.name for s in run.steps)
        summary = f"{run.procedure} on {run.target}: {names} done and verified"
        if any(s.name == "pause_trading" and s.status == "done" for s in run.steps):
            summary += "; trading stays paused until a person resumes it"
        try:
            await self.actuators.succeeded(run, summary)
        except Exception:
            log.exception("run %s: the resolved notice could not be posted", run.id)
        await self._end(run, "succeeded", summary)
