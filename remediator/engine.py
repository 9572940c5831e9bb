"""Runs the journal's open runs: triage with fresh facts, plan, gates, then act or stop.

In observe mode (the default) a run ends in a journaled plan and the gates' verdicts; nothing
outside the journal changes (the actuators are never called). In propose and auto mode a run
whose gates passed is handed to the executor (`remediator.execute`), each run in its own task.
A run stays open while its alerts fire, so the re-sends Alertmanager makes never start a second
one; when a new alert joins the incident the run is triaged again, and an approval re-triages it
(fresh facts, a new plan). Everything lives in the journal: a restart picks the open runs up.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from remediator import policy, procedures
from remediator.actuators import Fence, NotLeader
from remediator.config import READ_ONLY_MODES, RemediatorConfig
from remediator.execute import Actuators, Executor
from remediator.facts import Facts
from remediator.journal import Journal, Run
from remediator.metrics import RemediatorMetrics
from remediator.policy import KillSwitch
from remediator.replay_plan import PERSON_STARTED

log = logging.getLogger("remediator.engine")

# "triage" and "planned" too: a process that died there left it so; triage only reads, and a
# planned run has not started a step
NEEDS_TRIAGE = frozenset({"new", "triage", "retriage", "planned"})
PAUSE_CONTROL = "paused"
# states the executor carries on from (a restart, a resume, a cancel)
DRIVING = frozenset({"acting", "paused"})
# open runs the sweep looks at again: a pause lifted, an approval expired, a leader regained
RESUMABLE = frozenset({"acting", "paused", "awaiting_approval"})


def no_lease() -> None:
    """The fence of a build without the leader Lease: it may plan but never act."""
    raise NotLeader("this remediator has no leader Lease configured, so it never acts")


@dataclass(frozen=True)
class Sources:
    facts: Callable[[], Awaitable[Facts]]
    annotation: Callable[[], Awaitable[KillSwitch]]


class Engine:
    def __init__(
        self,
        cfg: RemediatorConfig,
        journal: Journal,
        sources: Sources,
        metrics: RemediatorMetrics,
        *,
        actuators: Actuators | None = None,
        fence: Fence = no_lease,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cfg = cfg
        self.journal = journal
        self.sources = sources
        self.metrics = metrics
        self.actuators = actuators
        self.fence = fence
        self.executor: Executor | None = None
        if actuators is not None and cfg.remediator.mode not in READ_ONLY_MODES:
            self.executor = Executor(
                cfg,
                journal,
                actuators,
                metrics,
                fence=fence,
                switches=self._switches,
                sleep=sleep,
                monotonic=monotonic,
            )
        self._executing: dict[str, asyncio.Task[None]] = {}
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._queued: set[str] = set()
        self._task: asyncio.Task[None] | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self.idle = asyncio.Event()
        self.idle.set()

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        for run in self.journal.runs(open_only=True, limit=10_000):
            self.notify(run.id)  # a restart resumes every open run from the journal
        self._task = asyncio.create_task(self._work(), name="remediator-engine")
        self._sweeper = asyncio.create_task(self._sweep_forever(), name="remediator-sweep")

    async def stop(self) -> None:
        for task in (self._task, self._sweeper, *self._executing.values()):
            if task is not None:
                task.cancel()
                try:
                    await task
                except asyncio.CancelledError:
                    pass

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(min(60.0, self.cfg.remediator.policy.alerts_silent_after / 4))
            try:
                await self.sweep()
            except Exception:
                log.exception("sweep failed; retried at the next interval")

    async def sweep(self, now: float | None = None) -> list[str]:
        """End open runs whose alerts Alertmanager stopped re-sending (a resolve we missed while
        down is never sent again); returns the runs it ended."""
        now = self.journal.clock() if now is None else now
        silent_after = self.cfg.remediator.policy.alerts_silent_after
        ended = []
        for run in await asyncio.to_thread(self.journal.runs, open_only=True, limit=10_000):
            if run.procedure in PERSON_STARTED:  # no alert keeps a replay or rollback open
                if run.state in RESUMABLE:
                    self.notify(run.id)
                continue
            last = max((a.last_seen for a in run.alerts), default=run.created_at)
            # a run that acted ends only through its executor (succeeded, or failed safe and
            # paged): presuming it resolved mid-procedure (Alertmanager down, a wall-clock jump)
            # would leave a suspended job without anyone told
            if now - last > silent_after and not run.acted and run.id not in self._executing:
                reason = (
                    f"no notification for its alerts in {now - last:.0f}s (Alertmanager re-sends "
                    f"firing alerts every repeat_interval): presumed resolved"
                )
                await asyncio.to_thread(
                    self.journal.update_run, run.id, outcome="resolved", reason=reason
                )
                self.metrics.runs.labels(procedure=run.procedure, outcome="resolved").inc()
                ended.append(run.id)
            elif run.state in RESUMABLE or _blocked_by_switch(run):
                self.notify(run.id)
        return ended

    def notify(self, run_id: str) -> None:
        if run_id not in self._queued:
            self._queued.add(run_id)
            self.idle.clear()
            self._queue.put_nowait(run_id)

    async def _work(self) -> None:
        while True:
            run_id = await self._queue.get()
            self._queued.discard(run_id)
            try:
                await self.step(run_id)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception(
                    "run %s: unexpected error; it stays open and is retried on restart", run_id
                )
            finally:
                self._maybe_idle()
        # not reached

    def _maybe_idle(self) -> None:
        if self._queue.empty() and not self._executing:
            self.idle.set()

    def executing(self, run_id: str) -> bool:
        return run_id in self._executing

    async def settle(self) -> None:
        """Wait for the runs being executed to stop (ended, waiting or stopped)."""
        while self._executing:
            await asyncio.gather(*self._executing.values(), return_exceptions=True)

    def _drive(self, run_id: str) -> None:
        if self.executor is None or run_id in self._executing:
            return
        task = asyncio.create_task(self.executor.drive(run_id), name=f"remediator-run-{run_id}")
        self._executing[run_id] = task
        self.idle.clear()

        def done(t: asyncio.Task[None]) -> None:
            self._executing.pop(run_id, None)
            if not t.cancelled() and t.exception() is not None:
                log.error("run %s: the executor failed", run_id, exc_info=t.exception())
            self._maybe_idle()

        task.add_done_callback(done)

    # --- one pass over one run -----------------------------------------------------------------

    async def step(self, run_id: str) -> None:
        run = await asyncio.to_thread(self.journal.run, run_id)
        if run is None or not run.open or run_id in self._executing:
            return
        if run.cancel_requested or run.state in DRIVING:
            if self.executor is None:
                await self._orphaned(run)
            else:
                self._drive(run.id)
        elif run.procedure in PERSON_STARTED:
            pass  # a plan waits for `replay start`; only a person starts it
        elif not run.firing:
            await self._close(run)
        elif run.state in NEEDS_TRIAGE:
            await self._triage(run)
        elif _blocked_by_switch(run) and self.executor is not None:
            # a pause held this incident at triage: once every switch is off, plan it afresh
            if all(s.on is False for s in await self._switches()):
                await self._triage(run)
        elif run.state == "awaiting_approval" and self.executor is not None:
            if await self.executor.check_approval(run) == "approved":
                await self._triage(run)  # fresh facts, a new plan: the approval must still fit
        runs = await asyncio.to_thread(self.journal.runs, open_only=True, limit=10_000)
        self.metrics.in_progress.set(len(runs))
        self.metrics.pending_approvals.set(sum(r.state == "awaiting_approval" for r in runs))

    async def _orphaned(self, run: Run) -> None:
        """A run that was acting, found by a remediator that cannot act (observe mode now)."""
        reason = (
            "the remediator now runs without actuators (observe mode) and cannot finish this run; "
            "a person must: see its steps"
        )
        await self._decide(run, [policy.Gate("actuators", "block", reason)])
        await asyncio.to_thread(self.journal.update_run, run.id, outcome="failed", reason=reason)
        self.metrics.runs.labels(procedure=run.procedure, outcome="failed").inc()

    async def _close(self, run: Run) -> None:
        outcome = {"observed": "observed", "refused": "refused", "escalated": "escalated"}.get(
            run.state, "resolved"
        )
        reason = "every alert of the incident resolved"
        if outcome == "resolved":
            reason += " before anything was done"
        await asyncio.to_thread(self.journal.update_run, run.id, outcome=outcome, reason=reason)
        self.metrics.runs.labels(procedure=run.procedure, outcome=outcome).inc()
        log.info("run %s ended: %s (%s)", run.id, outcome, reason)

    async def _switches(self) -> tuple[KillSwitch, ...]:
        rem = self.cfg.remediator
        config = KillSwitch(
            "config", rem.paused, "remediator.paused in config" if rem.paused else ""
        )
        stored = await asyncio.to_thread(self.journal.control, PAUSE_CONTROL)
        api = KillSwitch("api", False, "not paused")
        if stored is not None and stored[0] == "true":
            api = KillSwitch("api", True, f"paused by {stored[1]}: {stored[3]}")
        return (config, api, await self.sources.annotation())

    async def _triage(self, run: Run) -> None:
        await asyncio.to_thread(self.journal.update_run, run.id, state="triage")
        try:
            facts = await self.sources.facts()
        except Exception as exc:  # the probes themselves could not be built or run
            log.exception("run %s: triage could not read the facts", run.id)
            reason = (
                f"the facts could not be read ({type(exc).__name__}: {exc}): nothing is planned"
            )
            await self._stop_triage(run, "precondition", "refused", reason, None)
            return
        plan = procedures.plan(run.procedure, facts, self.cfg, predicted=_only_predicted(run))
        record = {"plan": plan.to_json(), "facts": facts.summary()}
        if plan.refused is not None:
            await self._stop_triage(run, "precondition", "refused", plan.refused, record)
            return
        if plan.escalate is not None:
            await self._stop_triage(run, "escalation", "escalated", plan.escalate, record)
            return
        ctx = await self._context(run, facts)
        gates = policy.evaluate(plan, ctx, self.cfg)
        await self._decide(run, gates)
        self.metrics.paused.set(1 if any(s.on is not False for s in ctx.switches) else 0)
        if self.executor is None and self.cfg.remediator.mode not in READ_ONLY_MODES:
            missing = policy.Gate("actuators", "block", "no actuators are wired in this process")
            await self._decide(run, [missing])
            gates.append(missing)
        blocks = policy.blocked(gates)
        reason = "; ".join(f"{g.gate}: {g.reason}" for g in blocks) or "every gate passed"
        if blocks or self.executor is None:
            await asyncio.to_thread(
                self.journal.update_run,
                run.id,
                state="observed" if self.cfg.remediator.mode in READ_ONLY_MODES else "blocked",
                reason=reason,
                plan=record,
                expect_state="triage",  # a new alert during triage set "retriage": keep it
            )
            return
        planned = await asyncio.to_thread(
            self.journal.update_run,
            run.id,
            state="planned",
            reason=reason,
            plan=record,
            expect_state="triage",
        )
        fresh = await asyncio.to_thread(self.journal.run, run.id)
        if not planned or fresh is None:
            return  # an alert joined meanwhile: the queued retriage plans again
        if await self.executor.begin(fresh, plan, record):
            self._drive(run.id)

    async def _stop_triage(
        self, run: Run, gate: str, state: str, reason: str, record: dict[str, Any] | None
    ) -> None:
        """Journal the one gate that ends the triage, then its state (unless an alert joined
        meanwhile and set the run to be triaged again)."""
        await self._decide(run, [policy.Gate(gate, "block", reason)])
        await asyncio.to_thread(
            self.journal.update_run,
            run.id,
            state=state,
            reason=reason,
            plan=record,
            expect_state="triage",
        )

    async def _context(self, run: Run, facts: Facts) -> policy.Context:
        def read() -> tuple[float | None, int, tuple[str, ...]]:
            others = tuple(
                r.id
                for r in self.journal.runs(open_only=True, limit=10_000)
                if r.id != run.id and r.target == run.target and r.procedure in ("A", "B")
            )
            return (
                self.journal.last_acted_end(run.key),
                self.journal.runs_started_since(facts.now - 3600),
                others,
            )

        last, count, others = await asyncio.to_thread(read)
        return policy.Context(
            now=facts.now,
            key=run.key,
            target=run.target,
            last_acted_end=last,
            runs_last_hour=count,
            other_open_on_target=others,
            switches=await self._switches(),
        )

    async def _decide(self, run: Run, gates: list[policy.Gate]) -> None:
        def write() -> None:
            for g in gates:
                self.journal.decide(run.id, g.gate, g.verdict, g.reason)

        await asyncio.to_thread(write)
        for g in gates:
            if g.verdict == "block":
                self.metrics.gate_blocks.labels(gate=g.gate).inc()


def _only_predicted(run: Run) -> bool:
    """Every firing alert of the run is a prediction (`remediation: approval`): it only proposes."""
    firing = [a for a in run.alerts if a.status == "firing"]
    return bool(firing) and all(a.labels.get("remediation") == "approval" for a in firing)


def _blocked_by_switch(run: Run) -> bool:
    """Held at triage by a kill switch (the block reason names the gate)."""
    return run.state == "blocked" and "kill_switch_" in run.reason
