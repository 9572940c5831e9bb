"""The fault matrix's driver: one trading-gate run on the shared stack with one fault injected at
a chosen moment, and what it left behind (journal, git, pull requests, Events, Alertmanager).

The run: `TATradingOnStaleSignals` posted to the stack's Alertmanager (which routes it to the
remediator), `pause_trading` through GitOps, then `verify_trading_paused`. On `--replicated` the
TA job cannot write, so the signals are stale and the gate acts every time trading is on."""

from __future__ import annotations

import json
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from e2e_alerting import am_alert
from e2e_cluster import events
from e2e_gitops import file_at_main, github
from remediator_e2e_kit import Remediator, am_alerts, as_stack, post_alerts, run, runs, wait

from sandbox.testing.remediator import call
from sandbox.testing.stack import exported
from sandbox.util import poll_until

GATE = {"alertname": "TATradingOnStaleSignals", "procedure": "none", "severity": "critical"}
POLICY = {"cooldown": "1s", "max_runs_per_hour": 500}


def fast_argocd(cfg: dict[str, Any]) -> None:
    """A hanging sync gives up within a row (the default waits 10 minutes)."""
    argo = cfg["remediator"]["argocd"]
    argo["sync_timeout"], argo["busy_timeout"] = "20s", "20s"


@dataclass
class World:
    """The shared stack and the remediator that currently serves its port."""

    stack: dict[str, Any]
    rem: Remediator
    relaunch: Callable[..., Remediator]


@dataclass
class Seen:
    """What one row left behind."""

    run: dict[str, Any]
    at_fault: dict[str, Any]
    commits: list[str]
    pulls: int
    events: int
    paged: bool
    healthy: bool
    warnings: int = 0  # Warning Events: failed attempts (retries are not duplicates)
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        steps = ", ".join(f"{s['name']} {s['status']}" for s in self.run["steps"])
        page = "TARemediationFailed paged" if self.paged else "no page"
        extra = "; ".join(self.notes)
        return (
            f"run {self.run['outcome']} ({steps}); {len(self.commits)} commit, {self.pulls} PR, "
            f"{self.events} done Event, {self.warnings} failed-attempt Event; {page}"
            + (f"; {extra}" if extra else "")
        )


def healthy(rem: Remediator) -> bool:
    try:
        with urllib.request.urlopen(f"{rem.url}/healthz", timeout=10) as resp:
            return resp.status == 200
    except (OSError, urllib.error.URLError):
        return False


def trading_enabled(stack: dict[str, Any]) -> float | None:
    try:
        samples = exported(stack["exporter"], "torghut_ta_trading_enabled")
    except OSError:
        return None
    return next(iter(samples.values()), None)


def open_runs(w: World) -> list[dict[str, Any]]:
    return [r for r in runs(w.stack, w.rem) if r.get("outcome") is None]


def kube_admin(stack: dict[str, Any], method: str, path: str, body: Any = None) -> Any:
    """One call to the Kubernetes stand-in with the stack's admin kubeconfig."""
    kube = yaml.safe_load(Path(stack["kubeconfig"]).read_text())
    server = kube["clusters"][0]["cluster"]["server"]
    token = kube["users"][0]["user"]["token"]
    req = urllib.request.Request(
        server + path, data=None if body is None else json.dumps(body).encode(), method=method,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )  # fmt: skip
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


APP = "/apis/argoproj.io/v1alpha1/namespaces/argocd/applications/torghut-ta"


def argo_idle(stack: dict[str, Any]) -> bool:
    """No Argo CD operation running on the Application (a lifted `hang` finishes its sync)."""
    status = kube_admin(stack, "GET", APP).get("status") or {}
    return (status.get("operationState") or {}).get("phase") != "Running"


def restore(w: World) -> None:
    """The healthy state between rows: no open run, no sync running, trading on in git and in
    the trading service (a person resumes it through the API)."""
    for r in open_runs(w):
        call(as_stack(w.stack, w.rem), "POST", f"/runs/{r['id']}/cancel",
             body={"reason": "fault matrix: reset between rows"})  # fmt: skip
    wait(lambda: not open_runs(w), "no open run left", timeout=120)
    wait(lambda: argo_idle(w.stack), "no Argo CD operation running", timeout=180)
    paused_in_git = 'value: "false"' in file_at_main(w.stack, "knative-service.yaml")
    if paused_in_git or trading_enabled(w.stack) != 1.0:
        # after a Lease fault the remediator may lead again only once it renewed: until then it
        # answers 503 "not the leader" (and acts on nothing)
        wait(lambda: _resumed(w), "the remediator leading again and trading resumed",
             timeout=120)  # fmt: skip
        wait(lambda: trading_enabled(w.stack) == 1.0, "the exporter sees trading on", timeout=180)
        wait(lambda: argo_idle(w.stack), "no Argo CD operation running", timeout=180)


def _resumed(w: World) -> bool:
    # the rows post the trading gate's alert themselves, whatever the signals: the reset is a
    # person who knows them good (a resume is refused while a fresh read says stale otherwise)
    body = {"reason": "fault matrix: reset between rows", "signals_known_good": True}
    code, body = call(as_stack(w.stack, w.rem), "POST", "/trading/resume", body=body)
    if code == 503 and "not the leader" in str(body):
        return False
    assert code == 200, (code, body)
    return True


def commits(stack: dict[str, Any], run_id: str) -> list[str]:
    out = subprocess.run(
        ["git", "--git-dir", stack["git_remote"], "log", "main", "--no-merges", "--format=%H",
         "--fixed-strings", f"--grep=Remediator-Run: {run_id}"],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    return out.stdout.split()


def pulls(stack: dict[str, Any], run_id: str) -> int:
    found: list[dict[str, Any]] = github(stack, "GET", "/pulls?state=all&per_page=100")
    return sum(p["head"]["ref"].startswith(f"remediator/{run_id}/") for p in found)


def pause_events(stack: dict[str, Any], run_id: str) -> tuple[int, int]:
    """The run's Events on the FlinkDeployment: (pause_trading done, failed attempts)."""
    mine = [e for e in events(stack) if run_id in (e["message"] or "")]
    done = sum(e["type"] == "Normal" and "pause_trading done" in e["message"] for e in mine)
    return done, sum(e["type"] == "Warning" for e in mine)


def paged(stack: dict[str, Any], run_id: str) -> bool:
    return any(a["labels"].get("run_id") == run_id for a in am_alerts(stack, "TARemediationFailed"))


def gate_run_id(w: World, before: set[str]) -> str | None:
    fresh = [r for r in runs(w.stack, w.rem) if r["id"] not in before]
    gates = [r for r in fresh if r["procedure"] == "trading_gate"]
    return str(gates[0]["id"]) if gates else None


def first_step(w: World, run_id: str, *statuses: str) -> dict[str, Any] | None:
    got = run(w.stack, w.rem, run_id)
    return got if got["steps"] and got["steps"][0]["status"] in statuses else None


def observe(w: World, final: dict[str, Any], at_fault: dict[str, Any]) -> Seen:
    run_id = final["id"]
    if final["outcome"] == "failed":
        poll_until(lambda: paged(w.stack, run_id), timeout=90, interval=1.0,
                   what="TARemediationFailed for the run in Alertmanager")  # fmt: skip
    return Seen(
        run=final, at_fault=at_fault, commits=commits(w.stack, run_id),
        pulls=pulls(w.stack, run_id), events=pause_events(w.stack, run_id)[0],
        warnings=pause_events(w.stack, run_id)[1],
        paged=paged(w.stack, run_id), healthy=healthy(w.rem),
    )  # fmt: skip


Hook = Callable[[World], None]


def nothing(_w: World) -> None:
    return None


def gate_run(
    w: World, attempt: str, *, inject: Hook, lift: Hook = nothing, when: str = "before",
    timeout: float = 300, after_done: Hook | None = None,
) -> Seen:  # fmt: skip
    """One trading-gate run through Alertmanager with `inject` applied `before` the alert is
    posted, or once `pause_trading` is `acting`, or once it is `done` (actuated, not yet
    verified); `lift` always runs afterwards. `after_done`: a second fault once the step is
    done. The run's alert is resolved at the end."""
    restore(w)
    before = {r["id"] for r in runs(w.stack, w.rem)}
    labels = {**GATE, "attempt": attempt}
    try:
        if when == "before":
            inject(w)
        post_alerts(w.stack, [{"labels": labels}])
        run_id = wait(lambda: gate_run_id(w, before), f"the {attempt} run", timeout=120)
        if when == "before":
            at_fault = run(w.stack, w.rem, run_id)
        else:
            statuses = ("acting", "done") if when == "acting" else ("done",)
            at_fault = poll_until(
                lambda: first_step(w, run_id, *statuses), timeout=180, interval=0.1,
                what=f"pause_trading {when}",
            )  # fmt: skip
            inject(w)
        if after_done is not None:
            poll_until(lambda: first_step(w, run_id, "done"), timeout=180, interval=0.1,
                       what="pause_trading done")  # fmt: skip
            after_done(w)
        final = wait(
            lambda: (r := run(w.stack, w.rem, run_id))["outcome"] is not None and r,
            f"the {attempt} run to end", timeout=timeout,
        )  # fmt: skip
    finally:
        lift(w)
        name = labels.pop("alertname")
        post_alerts(w.stack, [am_alert(name, resolved=True, **labels)])
    return observe(w, final, at_fault)


def json_of(path: Path) -> Any:
    return json.loads(path.read_text())
