"""The executor's pure decisions: what needs a person, what an approval approves, what to do
next with a journaled run, and what a run that stops leaves behind."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from remediator.journal import Run
from remediator.journal_acting import StepRecord
from remediator.plan import Plan, Step
from remediator.replay_plan import PERSON_STARTED

# steps carried by a GitOps change: in propose mode they go out as pull requests a person merges
GITOPS_STEPS = frozenset(
    {
        "pause_trading",
        "suspend_job",
        "resume_job",
        "start_replay",
        "return_to_steady",
        "restore_last_state",
        "set_image",
    }
)


def needs_approval(plan: Plan, mode: str) -> list[int]:
    """Indices of the steps a person must approve first: policy's, and in propose mode every
    change that is not a pull request a person merges (a merged PR is its approval)."""
    return [
        i
        for i, s in enumerate(plan.steps)
        if s.needs_approval
        or (mode == "propose" and s.kind != "verify" and s.name not in GITOPS_STEPS)
    ]


def plan_digest(steps: Sequence[Step]) -> str:
    """What an approval approves: the steps and their targets, not the prose."""
    text = json.dumps([[s.name, s.kind, s.target, s.needs_approval] for s in steps], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


Move = Literal["cancel", "resolved", "succeeded", "failed", "act", "recover", "verify"]


@dataclass(frozen=True)
class NextMove:
    move: Move
    step: StepRecord | None = None


def next_move(run: Run) -> NextMove:
    if run.cancel_requested:
        return NextMove("cancel")
    # a person started it (a replay, a rollback): no alert keeps it open
    if not run.firing and not run.acted and run.procedure not in PERSON_STARTED:
        return NextMove("resolved")
    for s in run.steps:
        if s.status in ("done", "skipped"):
            continue
        if s.status == "failed":
            return NextMove("failed", s)
        if s.kind == "verify":
            return NextMove("verify", s)
        return NextMove("recover" if s.status == "acting" else "act", s)
    return NextMove("succeeded")


def left_safe(run: Run) -> str:
    """What a run that stops leaves behind, for the journal and the page."""
    done = {s.name for s in run.steps if s.status in ("done", "acting")}
    notes = []
    if "suspend_job" in done and "resume_job" not in done:
        notes.append("the job this run suspended stays suspended")
    if "start_replay" in done and "return_to_steady" not in done:
        notes.append(
            "the job runs the replay (its own TA_GROUP_ID, upgradeMode stateless): roll it back "
            "with `ta-remediator rollback RUN_ID`"
        )
    if "pause_trading" in done:
        notes.append("trading stays paused until a person resumes it")
    # a GitOps step can fail after its change was merged (e.g. Argo CD refused the sync): the
    # tracked branch may already carry what the cluster does not run yet
    notes.extend(
        f"{s.name} failed, but its git change may already be merged on the tracked branch "
        "without being synced: read git and Argo CD before acting by hand"
        for s in run.steps
        if s.status == "failed" and s.name in GITOPS_STEPS
    )
    return "; ".join(notes) or "nothing this run changed is left half-done"


def backoff(base: float, attempt: int) -> float:
    return float(min(60.0, base * 2 ** max(0, attempt - 1)))
