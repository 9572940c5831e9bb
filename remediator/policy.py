"""Gates, pure: (plan, the journal's counts, the kill switch, mode, clock) -> verdict per gate.

Every gate is evaluated and journaled, even when an earlier one already blocks, so a person can
see everything that stood in the way. A kill switch that cannot be read counts as on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from remediator.config import RemediatorConfig
from remediator.plan import Plan

Verdict = Literal["pass", "block", "approval"]


@dataclass(frozen=True)
class Gate:
    gate: str
    verdict: Verdict
    reason: str


@dataclass(frozen=True)
class KillSwitch:
    """One source of the kill switch: `on` is None when the source could not be read."""

    source: str  # config, api, annotation
    on: bool | None
    detail: str = ""


@dataclass(frozen=True)
class Context:
    now: float
    key: str
    target: str
    last_acted_end: float | None  # the last run of this key that changed something
    runs_last_hour: int
    other_open_on_target: tuple[str, ...]  # run ids of other open A/B runs on the same install
    switches: tuple[KillSwitch, ...]


def evaluate(plan: Plan, ctx: Context, cfg: RemediatorConfig) -> list[Gate]:
    rem = cfg.remediator
    pol = rem.policy
    gates: list[Gate] = []
    for switch in ctx.switches:
        if switch.on is None:
            gates.append(
                Gate(
                    f"kill_switch_{switch.source}",
                    "block",
                    f"unreadable ({switch.detail}): counts as paused",
                )
            )
        elif switch.on:
            gates.append(Gate(f"kill_switch_{switch.source}", "block", switch.detail or "paused"))
        else:
            gates.append(Gate(f"kill_switch_{switch.source}", "pass", "not paused"))
    if ctx.last_acted_end is not None and ctx.now - ctx.last_acted_end < pol.cooldown:
        left = pol.cooldown - (ctx.now - ctx.last_acted_end)
        gates.append(
            Gate(
                "cooldown",
                "block",
                f"{ctx.key} acted {ctx.now - ctx.last_acted_end:.0f}s ago; {left:.0f}s of cooldown left",
            )
        )
    else:
        gates.append(
            Gate("cooldown", "pass", f"no run of {ctx.key} acted within {pol.cooldown:.0f}s")
        )
    if ctx.runs_last_hour > pol.max_runs_per_hour:
        gates.append(
            Gate(
                "rate_limit",
                "block",
                f"{ctx.runs_last_hour} runs in the last hour (max {pol.max_runs_per_hour})",
            )
        )
    else:
        gates.append(Gate("rate_limit", "pass", f"{ctx.runs_last_hour} runs in the last hour"))
    if ctx.other_open_on_target and plan.procedure in ("A", "B"):
        gates.append(
            Gate(
                "single_flight",
                "block",
                f"run(s) {', '.join(ctx.other_open_on_target)} already work on {ctx.target}",
            )
        )
    else:
        gates.append(Gate("single_flight", "pass", f"no other run works on {ctx.target}"))
    approvals = [s for s in plan.steps if s.needs_approval]
    if approvals:
        names = ", ".join(f"{s.name} {'/'.join(s.target.values())}".strip() for s in approvals)
        gates.append(
            Gate("approval", "approval", f"{len(approvals)} step(s) need a person: {names}")
        )
    else:
        gates.append(Gate("approval", "pass", "every step is within policy bounds"))
    if rem.mode == "observe":
        gates.append(
            Gate("mode", "block", "observe mode: the plan is journaled, nothing is changed")
        )
    else:
        gates.append(Gate("mode", "pass", f"{rem.mode} mode"))
    return gates


def blocked(gates: list[Gate]) -> list[Gate]:
    return [g for g in gates if g.verdict == "block"]
