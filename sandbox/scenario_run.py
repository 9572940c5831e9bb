"""`ta-sandbox scenario NAME`: bring the stack to its healthy baseline, inject the fault, and
print the live timeline (condition -> alert pending -> firing -> routed -> run -> each step ->
outcome) until the scenario's judge decides; then restore the healthy state.

Exit codes: 0 the expected outcome, 1 another outcome, 124 timeout.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

from sandbox import scenario_io as io
from sandbox.scenarios import EXPECTED, GATE, Obs, Scenario
from sandbox.util import poll_until

EXIT_EXPECTED, EXIT_OTHER, EXIT_TIMEOUT = 0, 1, 124
POLL_S = 1.0
PERSON_STARTED = ("C", "C-rollback", "image-rollback")


@dataclass
class Timeline:
    """Events in the order they were seen; printed as they come unless `quiet`."""

    out: TextIO
    quiet: bool = False
    t0: float = 0.0  # the injection (epoch seconds); 0 before it
    events: list[dict[str, Any]] = field(default_factory=list)

    def add(self, event: str, detail: str, at: float | None = None, **data: Any) -> None:
        at = time.time() if at is None else at
        rel = at - self.t0 if self.t0 else None
        self.events.append({"event": event, "at": at, "t": rel, "detail": detail, **data})
        if not self.quiet:
            shown = f"+{rel:7.1f}s" if rel is not None else " " * 9
            print(f"{shown}  {event:<10} {detail}", file=self.out, flush=True)


@dataclass
class Watch:
    """What was already reported, so each change is printed once."""

    verdicts: dict[str, str] = field(default_factory=dict)
    alerts: dict[tuple[str, str], str] = field(default_factory=dict)
    routed: set[tuple[str, str]] = field(default_factory=set)
    runs: dict[str, str] = field(default_factory=dict)
    steps: dict[tuple[str, int], str] = field(default_factory=dict)
    approved: set[int] = field(default_factory=set)
    hinted: set[str] = field(default_factory=set)


def alert_key(labels: dict[str, str]) -> tuple[str, str]:
    """An alert as the timeline names it: its name and the labels that tell its twins apart."""
    shown = ",".join(
        f"{k}={labels[k]}"
        for k in ("severity", "procedure", "signals", "probe", "table")
        if k in labels
    )
    return labels.get("alertname", "?"), shown


def observe(status: io.Status, tl: Timeline, w: Watch, obs: Obs, approve: bool) -> None:
    """Read the stack once; add what changed to the timeline; refresh `obs`.

    Read downstream first (runs, Alertmanager, Prometheus, the exporter), add upstream first:
    whatever a later stage shows was caused by an earlier stage's state that the later read
    still sees, so the timeline's order follows the cause (a webhook's run never precedes its
    alert firing because the alert turned firing between two reads)."""
    runs = io.runs_since(status, tl.t0)
    am = io.alertmanager_alerts(status)
    alerts = io.prometheus_alerts(status)
    components = io.report(status).get("components", [])
    for c in components:
        name, verdict = c["component"], c["status"]
        if w.verdicts.get(name, "healthy") != verdict:
            tl.add("condition", f"exporter: {name} {verdict} ({c.get('summary', '')})".strip())
        w.verdicts[name] = verdict
    obs.alerts = alerts
    for a in obs.alerts:
        key = alert_key(a["labels"])
        if w.alerts.get(key) != a["state"]:
            tl.add("alert", f"{key[0]}{{{key[1]}}} {a['state']}", name=key[0], key=key[1],
                   state=a["state"], labels=a["labels"], active_at=a.get("activeAt"))  # fmt: skip
            w.alerts[key] = a["state"]
    obs.am = am
    for a in obs.am:
        key = alert_key(a["labels"])
        receivers = [r["name"] for r in a.get("receivers", [])]
        if key not in w.routed:
            to = "the remediator" if "torghut-ta-remediator" in receivers else "a person"
            tl.add("routed", f"{key[0]}{{{key[1]}}} -> {to} ({', '.join(receivers)})",
                   name=key[0], key=key[1], receivers=receivers)  # fmt: skip
            w.routed.add(key)
    obs.runs = runs
    for run in obs.runs:
        _run_events(status, tl, w, run, approve)


def _run_events(
    status: io.Status, tl: Timeline, w: Watch, run: dict[str, Any], approve: bool
) -> None:
    rid = run["id"]
    if rid not in w.runs:
        # procedure C and its rollbacks are a person's, through the API: no webhook
        kind = "person" if run["procedure"] in PERSON_STARTED else "webhook"
        tl.add(kind, f"run {rid} (procedure {run['procedure']}, {run['mode']})",
               at=max(run["created_at"], tl.t0), run=rid, procedure=run["procedure"])  # fmt: skip
    if w.runs.get(rid) != run["state"] and run["state"] != "ended":
        tl.add("run", f"{rid} {run['state']}", run=rid, state=run["state"])
        w.runs[rid] = run["state"]
    for s in run["steps"]:
        key = (rid, s["index"])
        if w.steps.get(key) == s["status"] or s["status"] == "pending":
            continue
        w.steps[key] = s["status"]
        at = s["ended_at"] if s["status"] in ("done", "failed") else s["started_at"]
        tl.add("step", f"{rid} {s['name']} {s['status']}" + (f": {s['detail']}" if s["status"] == "failed" else ""),
               at=at, run=rid, step=s["name"], status=s["status"], kind=s["kind"])  # fmt: skip
    for a in run.get("approvals", []):
        if a["verdict"] is None and a["id"] not in w.approved:
            if approve:
                io.approve(status, rid, "game day: the scenario answers as a person would")
                w.approved.add(a["id"])
                tl.add("approval", f"{rid} step {a['step']}: approved by `scenario`", run=rid)
            elif rid not in w.hinted:
                w.hinted.add(rid)
                tl.add("approval", f"{rid} waits for a person: approve it (approvals page, "
                       f"`ta-remediator approve {rid}`) or rerun with --approve", run=rid)  # fmt: skip
    if run["outcome"] is not None and w.runs.get(rid) != "ended:" + run["outcome"]:
        w.runs[rid] = "ended:" + run["outcome"]
        tl.add("ended", f"{rid} {run['outcome']}: {run['reason']}", at=run["ended_at"], run=rid,
               outcome=run["outcome"], procedure=run["procedure"])  # fmt: skip


class BaselineTimeout(TimeoutError):
    """The healthy baseline was not reached: nothing was injected."""


def wait_baseline(what: str, check: Callable[[], object], timeout: float) -> None:
    try:
        poll_until(lambda: check() or None, timeout=timeout, interval=1.0, what=what)
    except TimeoutError as exc:
        raise BaselineTimeout(f"baseline not reached, nothing injected: {exc}") from None


def baseline(status: io.Status, sc: Scenario, tl: Timeline) -> None:
    """The healthy state the scenario starts from (a person's repairs where needed)."""
    if sc.stack == "replicated":
        return
    if sc.stack == "disk":
        io.filler(status).unlink(missing_ok=True)
    heal(status, tl)
    if sc.gate and io.exporter_metric(status, "torghut_ta_trading_enabled") != 1.0:
        tl.add("baseline", "trading is paused: resuming it as `scenario` (a person's decision)")
        io.resume_trading(status, f"game day {sc.name}: the scenario starts with trading on")
        wait_baseline(
            "trading on",
            lambda: io.exporter_metric(status, "torghut_ta_trading_enabled") == 1.0,
            600,
        )
    wait_baseline(
        "no alert for the remediator firing or pending", lambda: not _remediator_alerts(status), 900
    )


def _remediator_alerts(status: io.Status) -> list[str]:
    """Critical alerts the remediator acts on. The predicted-disk warning is left out: the
    remediator refuses it at triage, and after a fill it lingers while the last hour's
    `predict_linear` still slopes down."""
    return [
        a["labels"]["alertname"] for a in io.prometheus_alerts(status)
        if (a["labels"].get("procedure") in ("A", "B") or a["labels"]["alertname"] == GATE)
        and a["labels"].get("severity") != "warning"
    ]  # fmt: skip


def heal(status: io.Status, tl: Timeline) -> None:
    """A failed or suspended job restarted, then RUNNING, STABLE and fresh signals."""
    job = io.job(status)
    if job["jobState"] == "FAILED" or job["desiredState"] != "running":
        tl.add(
            "baseline", f"the TA job is {job['jobState']} ({job['desiredState']}): restarting it"
        )
        io.restart_job(status, "game day: back to the healthy baseline")
    wait_baseline(
        "the TA job RUNNING and STABLE",
        lambda: (j := io.job(status))["jobState"] == "RUNNING" and j["lifecycleState"] == "STABLE",
        900,
    )
    wait_baseline(
        "the exporter judging the signals fresh",
        lambda: _verdict(status, "freshness") == "healthy",
        900,
    )


def _verdict(status: io.Status, component: str) -> str | None:
    for c in io.report(status).get("components", []):
        if c["component"] == component:
            return str(c["status"])
    return None


def run(
    sc: Scenario, status: io.Status, tl: Timeline, *, timeout: float, approve: bool
) -> tuple[int, str]:
    """Baseline, inject, watch until the judge decides or `timeout` (seconds after the
    injection); always restore. Returns (exit code, why)."""
    baseline(status, sc, tl)
    obs = Obs(trading_was_on=io.exporter_metric(status, "torghut_ta_trading_enabled") != 0.0)
    w = Watch()
    quiet, tl.quiet = tl.quiet, True  # what held before the injection is not news
    tl.t0 = time.time()
    observe(status, tl, w, obs, approve=False)
    tl.quiet, tl.events = quiet, []
    tl.t0 = time.time()
    tl.add("inject", sc.injects)
    try:
        sc.inject(status)
        return follow(status, tl, sc, obs, w, timeout=timeout, approve=approve)
    finally:
        tl.add("restore", f"undoing the fault ({sc.name})")
        sc.restore(status)


def follow(
    status: io.Status, tl: Timeline, sc: Scenario, obs: Obs, w: Watch, *, timeout: float,
    approve: bool, on_poll: Callable[[], None] | None = None,
) -> tuple[int, str]:  # fmt: skip
    """Observe every `POLL_S` (then `on_poll`, a person's next move) until the judge decides
    or `timeout` seconds after the injection (`tl.t0`); the outcome is the timeline's last
    event. Returns (exit code, why)."""
    deadline = tl.t0 + timeout
    while time.time() < deadline:
        observe(status, tl, w, obs, approve)
        if on_poll is not None:
            on_poll()
        verdict = sc.judge(obs)
        if verdict is not None:
            kind, why = verdict
            tl.add("outcome", f"{kind}: {why}", outcome=kind)
            return (EXIT_EXPECTED if kind == EXPECTED else EXIT_OTHER), why
        time.sleep(POLL_S)
    why = f"no outcome within {timeout:g}s (expected: {sc.expects})"
    tl.add("outcome", f"timeout: {why}", outcome="timeout")
    return EXIT_TIMEOUT, why


def as_json(sc: Scenario, tl: Timeline, code: int, why: str) -> str:
    return json.dumps(
        {"scenario": sc.name, "expected": sc.expects, "exit": code, "why": why,
         "injected_at": tl.t0, "events": tl.events},
        indent=2,
    )  # fmt: skip
