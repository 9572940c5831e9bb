"""The closed loop's figures: per scenario, over several runs, on a demo stack per preset.

Run `python bench/closed_loop.py [--presets fast,realistic] [--runs 3] [--realistic-runs 1]
[--scenarios disk-full,stale-signals-trading-on] [--fresh-stack disk-full]` as root (the disk
scenarios mount a tmpfs; `--fresh-stack` scenarios get a new stack per run, by default disk-full
at the realistic preset).
Each preset starts `ta-sandbox up --demo` (fast: `--alert-pace fast --timings fast`; realistic:
the shipped rules, `--timings realistic`) and plays each scenario with `sandbox.scenario_run`,
exactly as `ta-sandbox scenario NAME` does (`replay`: with `sandbox.scenario_replay` on a stack
with `--history-hours 3`, rolled back once caught up: `bench/closed_loop_replay.py`). From each
timeline:

- fault -> firing: the injection to the alert routed to the remediator firing in Prometheus;
- firing -> first actuation: to the first step the remediator starts;
- first actuation -> verified recovery (the MTTR): to the run's end, every step verified;

and the whole fault -> recovery split into where the time went:

- detection: the injection to the alert's `activeAt` (probe interval, scrape, evaluation);
- Prometheus `for`: `activeAt` to firing;
- Alertmanager: firing to the webhook's run (group_wait, evaluation-to-notify);
- Argo CD sync: each sync of the Application during the run (`status.history`,
  deployStartedAt -> deployedAt);
- the operator and the cluster's controllers: a suspend or restart step's time after its sync
  was deployed, `verify_job` and `verify_trading_paused` (the operator's and Knative's pace);
- the pipeline: `verify_freshness`/`verify_api` (the restarted job writing fresh signals) and
  `drop_partition` (ClickHouse);
- the remediator itself: what is left of webhook -> end (triage's fresh probe cycle, journal,
  git commits and pull requests, its polling).

The remediator's own share of the total is printed (target: under 10%).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io as stdio
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import closed_loop_replay
from sandbox import demo, remediator_svc, scenario_io, scenario_replay, scenario_run, stack
from sandbox.cli import summary
from sandbox.scenarios import SCENARIOS

PRESETS = {
    "fast": {"alert_pace_name": "fast", "timings": "fast"},
    "realistic": {"alert_pace_name": "real", "timings": "realistic"},
}
DEFAULT_SCENARIOS = ("disk-full", "stale-signals-trading-on", "flink-failed", "clickhouse-outage")
SHARES = ("detection", "prometheus_for", "alertmanager", "argocd", "operator", "pipeline",
          "remediator")  # fmt: skip
OPERATOR_STEPS = ("verify_job", "verify_trading_paused")
PIPELINE_STEPS = ("verify_freshness", "verify_api", "drop_partition", "verify_disk")
GITOPS_STEPS = ("pause_trading", "suspend_job", "resume_job")
# A second `disk-full` on one stack at the realistic pace does not heal: the job's backlog after
# minutes suspended, on top of the first run's data, no longer fits what the drops free (procedure
# A's fail-safe ends it). The scenario's fill is sized for one run per stack at that pace.
FRESH_STACK = {"fast": (), "realistic": ("disk-full",)}
PROBE_TIMEOUT = "5s"  # the shipped default (exporter/config.py ProbeTiming.timeout)


def _iso(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _argocd_syncs(status: dict[str, Any]) -> list[tuple[float, float]]:
    token = Path(status["argocd_token_file"]).read_text().strip()
    url = f"{status['argocd_api']}/api/v1/applications/{scenario_io.ARGOCD_APP}"
    code, app = scenario_io.http_json(url, token=token)
    assert code == 200, (code, app)
    history = (app.get("status") or {}).get("history") or []
    return [(_iso(h["deployStartedAt"]), _iso(h["deployedAt"])) for h in history]


def succeeded_run(timeline: dict[str, Any]) -> str | None:
    """The first run the timeline saw end succeeded: the one the figures are about."""
    ended = (e for e in timeline["events"] if e["event"] == "ended" and e["outcome"] == "succeeded")
    return next((e["run"] for e in ended), None)


def figures(
    timeline: dict[str, Any], run: dict[str, Any] | None, syncs: list[tuple[float, float]]
) -> dict[str, float] | None:
    """The durations and shares of one scenario run, from its timeline, the journal's record of
    its succeeded run and Argo CD's sync history (None when the remediator never acted)."""
    events = timeline["events"]
    t0 = timeline["injected_at"]
    if run is None:
        return None
    # the alert that opened the succeeded run, not another one routed to the remediator (a
    # predicted-disk warning, refused at triage, shares procedure A's name and may come first)
    keys = {
        scenario_run.alert_key({**a["labels"], "alertname": a["alertname"]}) for a in run["alerts"]
    }
    routed = [
        e for e in events
        if e["event"] == "routed" and "torghut-ta-remediator" in e["receivers"]
        and (e["name"], e["key"]) in keys
    ]  # fmt: skip
    if not routed:
        return None
    sent = (routed[0]["name"], routed[0]["key"])
    alerts = [e for e in events if e["event"] == "alert" and (e["name"], e["key"]) == sent]
    pending = next((e for e in alerts if e["state"] == "pending"), None)
    firing = next((e for e in alerts if e["state"] == "firing"), None)
    if pending is None or firing is None:
        return None
    steps = [s for s in run["steps"] if s["started_at"] is not None]
    active = _iso(pending["active_at"]) if pending.get("active_at") else pending["at"]
    webhook, end = run["created_at"], run["ended_at"]
    first_act = min(s["started_at"] for s in steps)
    syncs = [(a, b) for a, b in syncs if closed_loop_replay.sync_began_in(a, webhook, end)]
    argocd = sum(b - a for a, b in syncs)
    operator = pipeline = 0.0
    for s in steps:
        took = s["ended_at"] - s["started_at"]
        if s["name"] in OPERATOR_STEPS:
            operator += took
        elif s["name"] in PIPELINE_STEPS:
            pipeline += took
        elif s["name"] in ("suspend_job", "resume_job"):
            deployed = [
                b for a, b in syncs
                if closed_loop_replay.sync_began_in(a, s["started_at"], s["ended_at"])
            ]  # fmt: skip
            if deployed:
                operator += max(0.0, s["ended_at"] - max(deployed))
    total = end - t0
    shares = {
        "detection": max(0.0, active - t0),
        "prometheus_for": max(0.0, firing["at"] - active),
        "alertmanager": max(0.0, webhook - firing["at"]),
        "argocd": argocd,
        "operator": operator,
        "pipeline": pipeline,
    }
    shares["remediator"] = max(0.0, (end - webhook) - argocd - operator - pipeline)
    return {
        "fault_to_firing": firing["at"] - t0,
        "firing_to_first_actuation": first_act - firing["at"],
        "mttr": end - first_act,
        "total": total,
        **{f"share_{k}": v for k, v in shares.items()},
    }


def play(status: dict[str, Any], name: str, timeout: float) -> dict[str, float] | None:
    sc = SCENARIOS[name]
    tl = scenario_run.Timeline(stdio.StringIO(), quiet=True)
    if sc.stack == "history":
        code, why = scenario_replay.run(sc, status, tl, timeout=timeout, approve=True,
                                        roll_back_after=closed_loop_replay.CAUGHT_UP)  # fmt: skip
    else:
        code, why = scenario_run.run(sc, status, tl, timeout=timeout, approve=True)
    if code != 0:
        print(f"    {name}: exit {code}: {why}", flush=True)
        return None
    data = {"injected_at": tl.t0, "events": tl.events}
    if sc.stack != "history":
        rid = succeeded_run(data)
        run = None if rid is None else scenario_io.remediator(status, "GET", f"/runs/{rid}")
        got = figures(data, run, _argocd_syncs(status))
        if got is None:  # say why: the timeline as the scenario printed it
            shown = "\n".join(
                f"      +{e['t'] or 0:7.1f}s {e['event']} {e['detail']}" for e in tl.events
            )
            print(
                f"    {name}: exit 0 ({why}) but no figures in its timeline:\n{shown}", flush=True
            )
        return got
    ids = {e["run"] for e in tl.events if e["event"] in ("plan", "ended")}
    runs = {rid: scenario_io.remediator(status, "GET", f"/runs/{rid}") for rid in ids}
    return closed_loop_replay.figures(data, runs, _argocd_syncs(status))


def report(preset: str, played: dict[str, list[dict[str, float]]]) -> None:
    print(f"\n== preset {preset} (seconds: median (min-max) over runs) ==")
    results: dict[str, list[dict[str, float]]] = {}
    for name, runs in played.items():
        if SCENARIOS[name].stack == "history":
            print("\n".join(closed_loop_replay.report(preset, name, runs)))
        else:
            results[name] = runs
    if not results:
        return
    print(f"{'scenario':<26}{'runs':>5}  {'fault->firing':>22}{'firing->act':>22}{'MTTR':>22}")
    for name, runs in results.items():
        cols = [
            closed_loop_replay.fmt([r[k] for r in runs])
            for k in ("fault_to_firing", "firing_to_first_actuation", "mttr")
        ]
        print(f"{name:<26}{len(runs):>5}  " + "".join(f"{c:>22}" for c in cols))
    print(f"\n{'scenario':<26}" + "".join(f"{s:>15}" for s in SHARES) + f"{'total s':>10}")
    for name, runs in results.items():
        if not runs:
            continue
        total = sum(r["total"] for r in runs)
        row = [100 * sum(r[f"share_{s}"] for r in runs) / total for s in SHARES]
        print(f"{name:<26}" + "".join(f"{v:14.1f}%" for v in row) + f"{total / len(runs):10.1f}")
    everything = [r for runs in results.values() for r in runs]
    if everything:
        own = sum(r["share_remediator"] for r in everything) / sum(r["total"] for r in everything)
        verdict = "under" if own < 0.10 else "OVER"
        print(f"\nthe remediator's own share of fault -> recovery ({preset}): {100 * own:.1f}% "
              f"({verdict} the 10% target)")  # fmt: skip


def history_hours(scenarios: list[str]) -> float:
    """`replay` needs a past in Kafka (`up --history-hours 3`, as its game day starts it)."""
    needs = any(SCENARIOS[n].stack == "history" for n in scenarios)
    return 3.0 if needs else 0.0


def overrides(probe_timeout: str) -> dict[str, Any]:
    """The demo's remediator settings, with the probe timeout of a real install: the sandbox's
    20 s (for a loaded test machine) is what triage waits when a backend is frozen."""
    got = copy.deepcopy(demo.DEMO_OVERRIDES)
    remediator_svc.merge_into(got, {"probes": {"default": {"timeout": probe_timeout}}})
    return got


@contextlib.contextmanager
def demo_stack(preset: str, scenarios: list[str], probe_timeout: str) -> Iterator[dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix=f"closed-loop-{preset}-") as tmp:
        workdir = Path(tmp) / "stack"
        t = time.monotonic()
        try:
            stack.up(
                workdir, remediator_mode=demo.DEMO_MODE, disk_limit_mib=demo.disk_limit(),
                remediator_overrides=overrides(probe_timeout), log=lambda _m: None,
                history_hours=history_hours(scenarios), **PRESETS[preset],  # type: ignore[arg-type]
            )  # fmt: skip
            status: dict[str, Any] = summary(workdir)
            status["dir"] = str(workdir)
            print(f"preset {preset}: stack up in {time.monotonic() - t:.0f}s", flush=True)
            yield status
        finally:
            stack.down(workdir, log=lambda _m: None)


def bench_preset(
    preset: str,
    scenarios: list[str],
    runs: int,
    timeout: float,
    probe_timeout: str,
    fresh: tuple[str, ...] = (),
) -> None:
    """Every scenario `runs` times; those in `fresh` on a new stack for each run, the others
    one after the other on one stack."""
    results: dict[str, list[dict[str, float]]] = {name: [] for name in scenarios}

    def once(status: dict[str, Any], name: str, i: int) -> None:
        t = time.monotonic()
        got = play(status, name, timeout)
        print(f"  {name} run {i + 1}: {time.monotonic() - t:.0f}s "
              f"{'' if got else '(no figures)'}", flush=True)  # fmt: skip
        if got:
            results[name].append(got)

    shared = [n for n in scenarios if n not in fresh]
    if shared:
        with demo_stack(preset, shared, probe_timeout) as status:
            for name in shared:
                for i in range(runs):
                    once(status, name, i)
    for name in (n for n in scenarios if n in fresh):
        for i in range(runs):
            with demo_stack(preset, [name], probe_timeout) as status:
                once(status, name, i)
    report(preset, results)


def main() -> None:
    p = argparse.ArgumentParser(prog="bench/closed_loop.py", description=__doc__.splitlines()[0])
    p.add_argument("--presets", default="fast,realistic")
    p.add_argument("--runs", type=int, default=3, help="runs per scenario at the fast preset")
    p.add_argument("--realistic-runs", type=int, default=1)
    p.add_argument("--scenarios", default=",".join(DEFAULT_SCENARIOS))
    p.add_argument(
        "--fresh-stack",
        default=None,
        help="scenarios played on a new stack for each run (default: disk-full at realistic)",
    )
    p.add_argument(
        "--probe-timeout",
        default=PROBE_TIMEOUT,
        help="the remediator's probe timeout (default: the shipped one; the sandbox's is 20s)",
    )
    a = p.parse_args()
    if os.geteuid() != 0:
        print(
            "bench/closed_loop.py: the disk scenarios mount a tmpfs: run as root", file=sys.stderr
        )
    scenarios = [s for s in a.scenarios.split(",") if s]
    for preset in a.presets.split(","):
        runs = a.runs if preset == "fast" else a.realistic_runs
        timeout = 900.0 if preset == "fast" else 2400.0
        fresh = FRESH_STACK[preset] if a.fresh_stack is None else tuple(a.fresh_stack.split(","))
        bench_preset(preset, scenarios, runs, timeout, a.probe_timeout, fresh)


if __name__ == "__main__":
    main()
