"""The `scenario` subcommand of `ta-sandbox`: arguments, `--list`, and the checks that the
running stack can play the scenario (the remediator in auto, the stack's shape)."""

from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path
from typing import Any

from exporter import exitcodes
from sandbox import scenario_replay, scenario_run, state
from sandbox.scenarios import SCENARIOS, Scenario

STACKS = {
    "plain": "the plain stack (`make sandbox`; not --replicated)",
    "disk": "the plain stack with ClickHouse on a size-limited disk (`make sandbox` as root)",
    "replicated": "a --replicated stack (`ta-sandbox up --demo --replicated`)",
    "history": "the plain stack with a past in Kafka (`ta-sandbox up --demo --history-hours 3`)",
}
DEFAULT_TIMEOUT = {"fast": 600.0, "real": 1800.0}


def add_parser(sub: Any) -> None:
    sp = sub.add_parser(
        "scenario",
        help="inject a fault into the running sandbox and follow the closed loop",
        description="Inject a fault into the running sandbox and print the live timeline. "
        "Exit 0 when the expected outcome is reached, 1 for another outcome, 124 on timeout.",
    )
    sp.add_argument("name", nargs="?", help="the scenario (see --list)")
    sp.add_argument("--list", action="store_true", help="describe every scenario")
    sp.add_argument("--dir", type=Path, default=Path(".sandbox"), help="state directory")
    sp.add_argument(
        "--timeout",
        type=float,
        metavar="SECONDS",
        help="give up (exit 124) this long after the injection "
        f"(default {DEFAULT_TIMEOUT['fast']:g} at alert pace fast, {DEFAULT_TIMEOUT['real']:g} real)",
    )
    sp.add_argument("--json", action="store_true", help="the timeline as JSON on stdout")
    sp.add_argument(
        "--approve",
        action="store_true",
        help="answer the run's approval requests as a person would (journaled as `scenario`)",
    )


def listing() -> str:
    lines = []
    for sc in SCENARIOS.values():
        lines += [sc.name, f"  injects: {sc.injects}", f"  expects: {sc.expects}"]
        lines.append(f"  needs:   {STACKS[sc.stack]}")
    return "\n".join(textwrap.fill(ln, 100, subsequent_indent=" " * 11) for ln in lines)


def refusal(sc: Scenario, status: dict[str, Any]) -> str | None:
    """Why the running stack cannot play `sc`, or None."""
    if not status.get("remediator"):
        return "no running sandbox here: start one with `make sandbox`"
    mode = status.get("remediator_mode")
    if mode != "auto":
        return (
            f"the remediator runs in {mode or 'an unknown'} mode; the scenarios expect auto "
            "(`make sandbox`, or `ta-sandbox up --demo`)"
        )
    replicated = status.get("replicated") == "true"
    if sc.stack == "replicated" and not replicated:
        return f"{sc.name} needs {STACKS['replicated']}; this stack is not replicated"
    if sc.stack != "replicated" and replicated:
        return (
            f"{sc.name} needs {STACKS[sc.stack]}: on a replicated stack chdb's replicas are "
            "read-only, so the TA job cannot write and the signals are stale from the start"
        )
    if sc.stack == "disk" and not status.get("clickhouse_data_mount"):
        return f"{sc.name} needs {STACKS['disk']}: this stack has no --disk-limit"
    if sc.stack == "history":
        hours = float(status.get("history_hours") or 0)
        if hours < scenario_replay.MIN_HISTORY_HOURS:
            has = f"only {hours:g} hours of" if hours else "no"
            return (
                f"{sc.name} needs {STACKS['history']}: this stack has {has} history in Kafka "
                f"and the replay starts {scenario_replay.FROM_AGO} ago (at least "
                f"--history-hours {scenario_replay.MIN_HISTORY_HOURS:g})"
            )
    return None


def run(a: argparse.Namespace, workdir: Path) -> int:
    if a.list:
        print(listing())
        return 0
    if not a.name:
        print("ta-sandbox scenario: name a scenario (see --list)", file=sys.stderr)
        return exitcodes.USAGE
    sc = SCENARIOS.get(a.name)
    if sc is None:
        print(f"ta-sandbox scenario: unknown scenario {a.name!r}; known: "
              f"{', '.join(SCENARIOS)}", file=sys.stderr)  # fmt: skip
        return exitcodes.USAGE
    status: dict[str, Any] = state.status(state.load(workdir))
    status["dir"] = str(workdir)
    why = refusal(sc, status)
    if why:
        print(f"ta-sandbox scenario {sc.name}: {why}", file=sys.stderr)
        return exitcodes.USAGE
    timeout = a.timeout or DEFAULT_TIMEOUT[str(status.get("alert_pace", "real"))]
    out = sys.stderr if a.json else sys.stdout
    tl = scenario_run.Timeline(out, quiet=False)
    print(f"scenario {sc.name}: {sc.injects}\nexpected: {sc.expects}", file=out)
    try:
        play = scenario_replay.run if sc.stack == "history" else scenario_run.run
        code, why = play(sc, status, tl, timeout=timeout, approve=a.approve)
    except scenario_run.BaselineTimeout as exc:
        print(f"ta-sandbox scenario {sc.name}: {exc}", file=sys.stderr)
        return scenario_run.EXIT_TIMEOUT
    if a.json:
        print(scenario_run.as_json(sc, tl, code, why))
    return code
