"""The `replay` scenario's figures for `bench/closed_loop.py` (pure: the timeline, the two runs
from the journal and Argo CD's sync history in, seconds out).

The bench plays `replay` as `ta-sandbox scenario replay --approve` does (`sandbox.scenario_replay`:
a person plans procedure C over two hours up to 30 minutes ago and starts it) except that the
person rolls it back once the replay caught up (`verify_replay_caught_up` done: the replay
group's committed offsets reached the window's end on every partition, i.e. its lag over the
window is zero; the job commits at its checkpoints) instead of as soon as it started. Per run:

- plan -> started: the plan requested to `start_replay` done (the steady state recorded, the
  savepoint, trading paused, the replay's alerts silenced, the job restarted on the new group);
- started -> caught up: to `verify_replay_caught_up` done;
- caught up -> rolled back: to the `C-rollback` run's verified end (the replay stopped, the job
  back on the steady-state group, its offsets advancing, RUNNING and STABLE).

The whole plan -> rolled back is split like the alert scenarios' recovery (no alert here, so no
detection, `for` or Alertmanager share): Argo CD's syncs, the operator (a GitOps step's time after
its sync was deployed: the savepoint, the new job RUNNING; `verify_job`), the pipeline (the job
consuming the window, the rows rewritten, the returned job's first checkpoint and its offsets
advancing), the person (the plan shown -> the start asked; caught up -> the rollback asked: the
scenario's polling) and the remediator itself (the rest: planning, journal, git, its polling),
whose seconds are also printed by the step they fell in.
Overlapping spans (the cancelled replay's last step while its rollback waits for it) count once.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterator
from itertools import pairwise
from typing import Any

CAUGHT_UP = "verify_replay_caught_up"
PHASES = ("plan_to_started", "started_to_caught_up", "caught_up_to_rolled_back")
PHASE_TITLES = ("plan->started", "started->caught up", "caught up->rolled back")
SHARES = ("argocd", "operator", "pipeline", "person", "remediator")
GITOPS_STEPS = ("take_savepoint", "pause_trading", "start_replay", "return_to_steady",
                "restore_last_state")  # fmt: skip
OPERATOR_STEPS = ("verify_job", "verify_trading_paused")
PIPELINE_STEPS = (CAUGHT_UP, "verify_rewritten", "verify_steady_offsets", "verify_freshness")
# waits for the returned job's first checkpoint before its change (and its commit, under a second)
CHECKPOINT_WAIT_STEPS = ("restore_last_state",)
Span = tuple[float, float, str]
IN_STEP = "remediator_in:"  # a figure's key prefix: the remediator's seconds in that step
NO_STEP = "no step (the plan, hand-overs)"


def sync_began_in(deploy_started_at: float, begin: float, end: float) -> bool:
    """Whether a sync began within [begin, end]. Argo CD's history times are whole seconds
    (RFC 3339, truncated): a sync started 0.3 s into a step reads as up to a second before it."""
    return begin - 1.0 < deploy_started_at <= end


def _segments(start: float, end: float, spans: list[Span]) -> Iterator[tuple[float, float]]:
    """[start, end] cut at every span's ends: (from, to) pieces no span starts or ends inside."""
    cuts = sorted({start, end, *(t for a, b, _ in spans for t in (a, b) if start < t < end)})
    return pairwise(cuts)


def _covering(t: float, spans: list[Span]) -> list[str]:
    return [name for a, b, name in spans if a <= t < b]


def split(start: float, end: float, spans: list[Span]) -> dict[str, float]:
    """Seconds of [start, end] per share: each instant goes to the first share of `SHARES`
    whose span covers it; what no span covers is the remediator's."""
    out = dict.fromkeys(SHARES, 0.0)
    for a, b in _segments(start, end, spans):
        covering = _covering((a + b) / 2, spans)
        out[next((s for s in SHARES if s in covering), "remediator")] += b - a
    return out


def remediator_by_step(
    start: float, end: float, spans: list[Span], steps: list[Span]
) -> dict[str, float]:
    """The remediator's seconds (what no span of `spans` covers) by the step acting then (the
    first of `steps`, each `(start, end, name)`, covering it), else `NO_STEP`."""
    out: dict[str, float] = {}
    for a, b in _segments(start, end, [*spans, *steps]):
        mid = (a + b) / 2
        if not _covering(mid, spans):
            name = next(iter(_covering(mid, steps)), NO_STEP)
            out[name] = out.get(name, 0.0) + b - a
    return out


def _step(run: dict[str, Any], name: str) -> dict[str, Any] | None:
    return next((s for s in run["steps"] if s["name"] == name), None)


def _first(events: list[dict[str, Any]], event: str, **match: Any) -> dict[str, Any] | None:
    return next(
        (e for e in events if e["event"] == event and all(e.get(k) == v for k, v in match.items())),
        None,
    )


def spans(
    runs: list[dict[str, Any]], syncs: list[tuple[float, float]], person: list[tuple[float, float]]
) -> list[Span]:
    """Where each stage held the loop: Argo CD's syncs, the runs' steps, the person's waits."""
    out: list[Span] = [(a, b, "argocd") for a, b in syncs]
    out += [(a, b, "person") for a, b in person]
    for run in runs:
        for s in run["steps"]:
            begin, done = s.get("started_at"), s.get("ended_at")
            if begin is None or done is None:
                continue
            inside = [(a, b) for a, b in syncs if sync_began_in(a, begin, done)]
            if s["name"] in OPERATOR_STEPS:
                out.append((begin, done, "operator"))
            elif s["name"] in PIPELINE_STEPS:
                out.append((begin, done, "pipeline"))
            if s["name"] in GITOPS_STEPS and inside:
                out.append((max(b for _, b in inside), done, "operator"))
            if s["name"] in CHECKPOINT_WAIT_STEPS and inside:
                out.append((begin, min(a for a, _ in inside), "pipeline"))
    return out


def figures(
    timeline: dict[str, Any], runs: dict[str, dict[str, Any]], syncs: list[tuple[float, float]]
) -> dict[str, float] | None:
    """One replay run's phases and shares, or None when it did not end in a verified rollback
    after the catch-up. `runs`: the replay and rollback runs in full (the journal), by id."""
    events, t0 = timeline["events"], timeline["injected_at"]
    plan, back = _first(events, "plan"), _first(events, "ended", procedure="C-rollback")
    if plan is None or back is None or back["outcome"] != "succeeded":
        return None
    replay, rollback = runs.get(plan["run"]), runs.get(back["run"])
    if replay is None or rollback is None or rollback["ended_at"] is None:
        return None
    started, caught = _step(replay, "start_replay"), _step(replay, CAUGHT_UP)
    if not started or not caught or started["status"] != "done" or caught["status"] != "done":
        return None
    end = float(rollback["ended_at"])
    person = [(float(caught["ended_at"]), float(rollback["created_at"]))]
    asked = _first(events, "approval", run=plan["run"])
    if asked is not None:
        person.append((float(plan["at"]), float(asked["at"])))
    held = spans([replay, rollback], syncs, person)
    shares = split(t0, end, held)
    steps = [
        (s["started_at"], s["ended_at"], s["name"])
        for r in (replay, rollback) for s in r["steps"]
        if s.get("started_at") is not None and s.get("ended_at") is not None
    ]  # fmt: skip
    mine = remediator_by_step(t0, end, held, steps)
    return {
        "plan_to_started": started["ended_at"] - t0,
        "started_to_caught_up": caught["ended_at"] - started["ended_at"],
        "caught_up_to_rolled_back": end - caught["ended_at"],
        "total": end - t0,
        **{f"share_{k}": v for k, v in shares.items()},
        **{f"{IN_STEP}{k}": v for k, v in mine.items()},
    }


def fmt(values: list[float]) -> str:
    """median (min-max) of the runs' seconds, or the one run's."""
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:7.1f}"
    return f"{statistics.median(values):7.1f} ({min(values):.1f}-{max(values):.1f})"


def report(preset: str, name: str, runs: list[dict[str, float]]) -> list[str]:
    """The lines `bench/closed_loop.py` prints for the replay runs of a preset."""
    lines = [
        f"\n{'scenario':<26}{'runs':>5}  " + "".join(f"{t:>24}" for t in PHASE_TITLES),
        f"{name:<26}{len(runs):>5}  " + "".join(f"{fmt([r[k] for r in runs]):>24}" for k in PHASES),
    ]
    if not runs:
        return lines
    total = sum(r["total"] for r in runs)
    row = [100 * sum(r[f"share_{s}"] for r in runs) / total for s in SHARES]
    lines += [
        f"\n{'scenario':<26}" + "".join(f"{s:>15}" for s in SHARES) + f"{'total s':>10}",
        f"{name:<26}" + "".join(f"{v:14.1f}%" for v in row) + f"{total / len(runs):10.1f}",
    ]
    where: dict[str, float] = {}
    for r in runs:
        for k, v in r.items():
            if k.startswith(IN_STEP):
                where[k[len(IN_STEP) :]] = where.get(k[len(IN_STEP) :], 0.0) + v / len(runs)
    top = sorted(where.items(), key=lambda kv: -kv[1])
    lines.append("the remediator's part by step (s): " + ", ".join(f"{k} {v:.1f}" for k, v in top))
    own = sum(r["share_remediator"] for r in runs) / total
    verdict = "under" if own < 0.10 else "OVER"
    lines.append(
        f"\nthe remediator's own share of plan -> rolled back ({preset}): {100 * own:.1f}% "
        f"({verdict} the 10% target)"
    )
    return lines
