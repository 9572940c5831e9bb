"""Person-started runs: plan and start a replay (procedure C), roll one back, roll the TA image
back. Each request is checked first and refused with a clear error when it cannot be done;
a refusal changes nothing outside the journal (a refused plan is journaled, that is all).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from remediator.actuators import ActuationError
from remediator.actuators import gitops as gitops_actuator
from remediator.actuators import replay_edits as edits
from remediator.config import READ_ONLY_MODES
from remediator.engine import Engine
from remediator.execute import ROLLBACK_CANCEL, plan_digest
from remediator.journal import Journal, JournalError, Run
from remediator.plan import Plan, Step
from remediator.replay_journal import ACTIVE_KEY, PROPOSED, active, claim, insert, new_run_id
from remediator.replay_plan import (
    IMAGE_ROLLBACK,
    PROCEDURE,
    ROLLBACK,
    ReplayRequest,
    plan_replay,
    return_steps,
)
from remediator.replay_sources import Gathered, gather
from remediator.replay_times import ReplayInputError, Window, parse_window, require_reason

DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
GROUP = re.compile(r"[A-Za-z0-9._-]{1,200}")
Gather = Callable[..., Awaitable[Gathered]]


@dataclass
class Refused(Exception):
    status: int  # 404 unknown run, 409 refused
    message: str
    run: str | None = None

    def __str__(self) -> str:
        return self.message


class ReplayService:
    def __init__(self, engine: Engine, *, gather_facts: Gather = gather) -> None:
        self.engine = engine
        self.cfg = engine.cfg
        self.journal: Journal = engine.journal
        self.gather = gather_facts

    async def _j(self, fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
        return await asyncio.to_thread(fn, *args, **kw)

    def _target(self) -> str:
        return f"{self.cfg.namespace}/{self.cfg.flink.deployment}"

    async def _plan(
        self, run_id: str, req: ReplayRequest, now: float
    ) -> tuple[Plan, Gathered, str | None]:
        running = await self._j(active, self.journal)
        got = await self.gather(
            self.cfg, req.window, now=now, facts=self.engine.sources.facts, active_replay=running
        )
        plan = plan_replay(req, got.facts, run_id)
        return plan, got, running

    # --- plan and start ----------------------------------------------------------------------

    async def plan(
        self,
        *,
        start: object,
        end: object,
        reason: object,
        who: str,
        known_good: bool,
        group: object = None,
    ) -> Run:
        """Journal a replay plan (state `proposed`, or ended `refused`); raises ReplayInputError."""
        why = require_reason(reason)
        if group is not None and (not isinstance(group, str) or not GROUP.fullmatch(group)):
            raise ReplayInputError("group_id", f"{group!r}: 1-200 of A-Z a-z 0-9 . _ -")
        now = self.journal.clock()
        window = parse_window(start, end, now=now)
        run_id = new_run_id(now)
        req = ReplayRequest(
            window, why, who, signals_known_good=known_good, group_id=group,
            catch_up_timeout=self.cfg.remediator.replay.catch_up_timeout,
        )  # fmt: skip
        plan, got, _ = await self._plan(run_id, req, now)
        group = next((s.target["group"] for s in plan.steps if s.name == "start_replay"), None)
        record = {
            "plan": plan.to_json(),
            "request": {
                "from": window.start,
                "to": window.end,
                "reason": why,
                "who": who,
                "signals_known_good": known_good,
                "group": group,
            },
            "state_digest": got.facts.digest(),
            "steps_digest": plan_digest(plan.steps),
            "steady_state": {
                "group": got.facts.steady_group,
                "upgrade_mode": got.facts.upgrade_mode,
                "image": got.facts.image,
                "committed": got.facts.steady_committed,
            },
            "unreadable": got.unreadable,
            "mode": self.cfg.remediator.mode,
        }
        refusal = plan.refused
        if refusal is not None and got.unreadable:
            refusal += f" (unreadable: {'; '.join(got.unreadable)})"
        state = PROPOSED if refusal is None else "refused"
        text = refusal or f"replay planned by {who}: {why}"
        await self._j(
            insert, self.journal, run_id, procedure=PROCEDURE, key=f"C:plan:{run_id}",
            target=self._target(), state=state, reason=text, plan=record, who=who,
            action="replay plan",
        )  # fmt: skip
        if refusal is not None:
            await self._j(self.journal.decide, run_id, "precondition", "block", refusal)
            await self._j(self.journal.update_run, run_id, outcome="refused", reason=refusal)
            raise Refused(409, refusal, run_id)
        await self._j(self.journal.set_steps, run_id, plan.steps)
        run = await self._j(self.journal.run, run_id)
        assert run is not None
        return run  # type: ignore[no-any-return]

    async def _open_run(self, run_id: str) -> Run:
        run = await self._j(self.journal.run, run_id)
        if run is None:
            raise Refused(404, f"no run {run_id[:80]!r}")
        return run  # type: ignore[no-any-return]

    async def start(self, run_id: str, *, who: str) -> Run:
        run = await self._open_run(run_id)
        if run.procedure != PROCEDURE:
            raise Refused(409, f"run {run.id} is procedure {run.procedure}, not a replay plan")
        if not run.open:
            raise Refused(409, f"plan {run.id} already ended ({run.outcome}): make a new plan")
        if run.state != PROPOSED:
            raise Refused(409, f"plan {run.id} was already started (state {run.state})")
        if self.cfg.remediator.mode in READ_ONLY_MODES or self.engine.executor is None:
            raise Refused(
                409,
                f"this remediator does not act ({self.cfg.remediator.mode} mode): the plan stays "
                "journaled; follow docs/runbooks/procedure-C-replay.md by hand",
                run.id,
            )
        record = run.plan or {}
        asked = record.get("request") or {}
        now = self.journal.clock()
        req = ReplayRequest(
            Window(float(asked["from"]), None if asked.get("to") is None else float(asked["to"])),
            str(asked.get("reason", "")),
            str(asked.get("who", who)),
            signals_known_good=bool(asked.get("signals_known_good")),
            group_id=asked.get("group"),
            catch_up_timeout=self.cfg.remediator.replay.catch_up_timeout,
        )
        plan, got, running = await self._plan(run.id, req, now)
        if running is not None:
            raise Refused(409, f"a replay is already in progress (run {running}): one at a time")
        if plan.refused is not None:
            raise Refused(409, f"refused now: {plan.refused}; re-plan when it can be done", run.id)
        changed = []
        if got.facts.digest() != record.get("state_digest"):
            was = record.get("steady_state") or {}
            changed = [
                f"{k} {was.get(k)!r} -> {v!r}"
                for k, v in (
                    ("group", got.facts.steady_group),
                    ("upgrade_mode", got.facts.upgrade_mode),
                    ("image", got.facts.image),
                )
                if was.get(k) != v
            ] or ["TA_KAFKA_STARTING_OFFSETS"]
        elif plan_digest(plan.steps) != record.get("steps_digest"):
            changed = ["the steps (trading state or the window's facts)"]
        if changed:
            raise Refused(
                409,
                f"the state changed since plan {run.id} was made ({'; '.join(changed)}): "
                "re-plan required",
                run.id,
            )
        in_way = await self._j(
            claim, self.journal, run.id, who=who, reason=f"replay started by {who}"
        )
        if in_way is not None:
            raise Refused(409, f"a replay is already in progress (run {in_way}): one at a time")
        await self._j(self.journal.decide, run.id, "person", "pass", f"started by {who}")
        self.engine.notify(run.id)
        return await self._open_run(run.id)

    # --- rollback ----------------------------------------------------------------------------

    async def rollback(self, run_id: str, *, who: str, reason: object) -> Run:
        why = require_reason(reason)
        run = await self._open_run(run_id)
        if run.procedure != PROCEDURE:
            raise Refused(409, f"run {run.id} is procedure {run.procedure}: only replays roll back")
        if run.state == PROPOSED or not any(
            s.name in ("silence_replay_alerts", "start_replay") and s.status in ("done", "acting")
            for s in run.steps
        ):
            raise Refused(409, f"run {run.id} changed nothing a rollback would undo", run.id)
        if any(s.name == "restore_last_state" and s.status == "done" for s in run.steps):
            raise Refused(409, f"run {run.id} is already back at the steady state", run.id)
        running = await self._j(active, self.journal)
        if running is not None and running != run.id:
            raise Refused(409, f"run {running} is in progress: one replay or rollback at a time")
        recorded = next((s for s in run.steps if s.name == "record_steady_state"), None)
        if recorded is None or "committed" not in recorded.evidence:
            raise Refused(409, f"run {run.id} recorded no steady state to return to", run.id)
        silences = next((s for s in run.steps if s.name == "silence_replay_alerts"), None)
        rb_id = new_run_id(self.journal.clock())
        steps = self._rollback_steps(run, recorded.target, recorded.evidence, silences)
        record = {"plan": Plan(ROLLBACK, ROLLBACK, steps, notes=way_back(run)).to_json(),
                  "rolls_back": run.id,
                  "who": who, "reason": why, "mode": self.cfg.remediator.mode}  # fmt: skip
        try:
            await self._j(
                insert, self.journal, rb_id, procedure=ROLLBACK, key=f"C:rollback:{run.id}",
                target=run.target, state="acting", reason=f"rollback of {run.id} by {who}: {why}",
                plan=record, who=who, action="rollback",
            )  # fmt: skip
        except JournalError:
            raise Refused(409, f"run {run.id} is already being rolled back") from None
        await self._j(self.journal.set_steps, rb_id, steps)
        if run.open:
            await self._j(
                self.journal.request_cancel, run.id, who=who,
                reason=f"{ROLLBACK_CANCEL}{rb_id}: {why}", executing=self.engine.executing(run.id),
            )  # fmt: skip
            self.engine.notify(run.id)
        self.engine.notify(rb_id)
        return await self._open_run(rb_id)

    def _rollback_steps(
        self, run: Run, target: dict[str, str], ev: dict[str, str], silences: Any
    ) -> tuple[Step, ...]:
        steady = target["group"]
        back = return_steps(target.get("upgrade_mode") or "last-state", steady, None)
        back[0].target["image"] = target.get("image", "")
        back[1].target["starting_offsets"] = target.get("starting_offsets", "")
        back[0].target["committed"] = ev["committed"]
        back[2].target["committed"] = ev["committed"]
        wait = Step(
            "wait_replay_stopped",
            "verify",
            f"run {run.id} stops before its next step (a person's rollback: no page)",
            {"replay_run": run.id},
        )
        ids = "" if silences is None else str(silences.evidence.get("silence_ids", ""))
        expire = Step(
            "expire_silences", "reversible", "the replay's silences are removed",
            {"silence_ids": ids},
        )  # fmt: skip
        return (wait, *back, expire)

    # --- image rollback ----------------------------------------------------------------------

    async def image_rollback(self, *, to: object, reason: object, who: str) -> Run:
        why = require_reason(reason)
        if not isinstance(to, str) or not DIGEST.fullmatch(to.strip()):
            raise ReplayInputError("to", f"{to!r} is not an image digest (sha256:<64 hex>)")
        digest = to.strip()
        if self.cfg.remediator.mode in READ_ONLY_MODES or self.cfg.remediator.gitops is None:
            raise Refused(409, f"this remediator does not act ({self.cfg.remediator.mode} mode)")
        try:
            history = await gitops_actuator.history(
                cfg=self.cfg.remediator.gitops, path=edits.JOB_FILE
            )
        except ActuationError as exc:
            raise Refused(409, f"the manifest's git history could not be read: {exc}") from None
        images = [edits.job_settings(text)[1] for _, text in history]
        digests = [d for d in (edits.image_digest(i) for i in images) if d]
        current = images[0] if images else None
        if not current or edits.image_digest(current) is None:
            raise Refused(409, f"{edits.JOB_FILE} has no image pinned by digest")
        if edits.image_digest(current) == digest:
            raise Refused(409, f"{digest} is already the image of {edits.JOB_FILE}")
        if digest not in digests:
            known = ", ".join(dict.fromkeys(digests)) or "none"
            raise Refused(409, f"{digest} is not in the git history of {edits.JOB_FILE} "
                               f"(known digests, newest first: {known})")  # fmt: skip
        running = await self._j(active, self.journal)
        if running is not None:
            raise Refused(409, f"run {running} is in progress: one replay or rollback at a time")
        facts = await self.engine.sources.facts()
        steps: list[Step] = []
        if facts.trading_enabled is not False:
            steps.append(Step("pause_trading", "reversible", "the job restarts on another image",
                              {"env": "TRADING_ENABLED", "value": "false"}))  # fmt: skip
        steps += [
            Step(
                "set_image",
                "reversible",
                f"spec.image back to {digest} (from the manifest's git history) with a "
                "restartNonce bump; upgradeMode unchanged (the job resumes from its checkpoint)",
                {"image": edits.with_digest(current, digest), "digest": digest, "reason": why},
            ),
            Step("verify_job", "verify", "status.jobStatus.state RUNNING and lifecycle STABLE"),
            Step("verify_freshness", "verify", "max(event_ts) of the signals table advances"),
        ]
        run_id = new_run_id(self.journal.clock())
        record = {"plan": Plan(IMAGE_ROLLBACK, IMAGE_ROLLBACK, tuple(steps)).to_json(),
                  "who": who, "reason": why, "from": current, "mode": self.cfg.remediator.mode}  # fmt: skip
        try:
            await self._j(
                insert, self.journal, run_id, procedure=IMAGE_ROLLBACK, key=ACTIVE_KEY,
                target=self._target(), state="acting", reason=f"image rollback by {who}: {why}",
                plan=record, who=who, action="image rollback",
            )  # fmt: skip
        except JournalError:
            raise Refused(409, "another replay or rollback is in progress") from None
        await self._j(self.journal.set_steps, run_id, steps)
        self.engine.notify(run_id)
        return await self._open_run(run_id)


def summary(run: Run) -> dict[str, Any]:
    """What the API and CLI show of a person-started run."""
    plan = (run.plan or {}).get("plan") or {}
    return {
        "run": run.id,
        "procedure": run.procedure,
        "state": run.state,
        "outcome": run.outcome,
        "reason": run.reason,
        "shape": plan.get("shape"),
        "steps": [{"name": s.name, "why": s.why, "target": s.target} for s in _steps(plan)],
        "notes": plan.get("notes", []),
    }


@dataclass(frozen=True)
class _S:
    name: str
    why: str
    target: dict[str, str]


def _steps(plan: dict[str, Any]) -> list[_S]:
    return [_S(s["name"], s["why"], dict(s.get("target") or {})) for s in plan.get("steps", [])]


__all__ = ["Refused", "ReplayInputError", "ReplayService", "json", "summary"]


def way_back(run: Run) -> tuple[str, ...]:
    """The rollback's notes: it returns through the committed offsets; a savepoint the replay
    took is the other way back, restored only by a person."""
    notes = ["the way back: stateless from the steady-state group's committed offsets recorded "
             "before the replay, then the steady-state upgrade mode"]  # fmt: skip
    saved = next((s for s in run.steps if s.name == "take_savepoint"), None)
    location = None if saved is None else saved.evidence.get("location")
    if location:
        notes.append(
            f"savepoint taken before the replay: {location}; a person can restore from it "
            "instead (spec.job.initialSavepointPath and a spec.job.savepointRedeployNonce bump)"
        )
    else:
        notes.append("no savepoint was taken before the replay: the committed offsets are the "
                     "only recorded position")  # fmt: skip
    return tuple(notes)
