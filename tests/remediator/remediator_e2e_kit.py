"""Helpers for the end-to-end tests on a whole sandbox stack with the real remediator in auto mode
(`ta-remediator serve` as a process): starting a stack of a test module's own, running the
remediator with a test's policy (short verify deadlines, a Lease identity, its own journal), and
reading what it did (its journal through the API, git, the FlinkDeployment, Alertmanager).
"""

from __future__ import annotations

import copy
import json
import signal
import subprocess
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from sandbox import stack, state
from sandbox.cli import summary
from sandbox.testing.remediator import call, wait_run
from sandbox.testing.stack import exported
from sandbox.util import (
    Service,
    pid_alive,
    poll_until,
    python_module_args,
    spawn,
    stop_pid,
    wait_started,
)

# short enough that a run which cannot verify ends within a test, long enough for a loaded machine
POLICY = {"verify_timeout": "60s", "verify_every": "2s", "retry_backoff": "1s"}
# the trading gate's alert, as the tests post it (on `--replicated` the signals are stale)
GATE = {"alertname": "TATradingOnStaleSignals", "procedure": "none", "severity": "critical"}


def start_stack(workdir: Path, *, replicated: bool = False) -> dict[str, Any]:
    """`sandbox.stack.up` in auto mode; the status `ta-sandbox status --json` prints, plus dir."""
    stack.up(
        workdir, timings="fast", replicated=replicated, remediator_mode="auto", log=lambda _m: None
    )
    info = summary(workdir)
    info["dir"] = str(workdir)
    return info


def stop_stack(workdir: Path) -> None:
    stack.down(workdir, log=lambda _m: None)


@contextmanager
def posted_alerts_stack(workdir: Path) -> Iterator[dict[str, Any]]:
    """A replicated stack whose own remediator and Prometheus are stopped: a test runs its own
    remediator on the stack's port (`status["port"]`, where Alertmanager delivers) and posts
    the alerts itself, so no run starts that it did not ask for."""
    try:
        status = start_stack(workdir, replicated=True)
        stop_stack_remediator(status)
        stop_pid(env_pid(status, "prometheus"))
        status["port"] = int(status["remediator"].rsplit(":", 1)[1])
        yield status
    finally:
        stop_stack(workdir)


@dataclass
class Remediator:
    """One `ta-remediator serve` process the test started."""

    pid: int
    url: str
    config: Path
    journal: Path
    log: Path
    identity: str

    def stop(self, sig: int = signal.SIGTERM) -> None:
        stop_pid(self.pid, sig=sig)

    def alive(self) -> bool:
        return pid_alive(self.pid)


def _stack_remediator(status: dict[str, Any]) -> Service | None:
    return next((s for s in state.load(Path(status["dir"])) if s.name == "remediator"), None)


def stop_stack_remediator(status: dict[str, Any]) -> None:
    """Stop the remediator the stack started (tests run their own on its port)."""
    svc = _stack_remediator(status)
    if svc is not None and svc.pid > 0 and pid_alive(svc.pid):
        stop_pid(svc.pid)


def remediator_config(
    status: dict[str, Any],
    name: str,
    *,
    policy: dict[str, Any] | None = None,
    port: int | None = None,
    lease: dict[str, Any] | None = None,
    edit: Callable[[dict[str, Any]], None] | None = None,
) -> tuple[Path, dict[str, Any]]:
    """The stack's remediator.yaml with the test's policy, a Lease identity `name`, its own
    journal and git work dir (two processes never share them), written to DIR/<name>.yaml."""
    base = yaml.safe_load(Path(status["remediator_config"]).read_text())
    cfg = copy.deepcopy(base)
    rem = cfg["remediator"]
    home = Path(status["dir"]) / name
    home.mkdir(exist_ok=True)
    rem["journal_path"] = str(home / "journal.sqlite3")
    rem["policy"] = {**rem.get("policy", {}), **POLICY, **(policy or {})}
    rem["lease"] = {**rem.get("lease", {}), "identity": name, **(lease or {})}
    if port is not None:
        rem["listen"] = {**rem["listen"], "port": port}
    if edit is not None:
        edit(cfg)
    path = Path(status["dir"]) / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path, cfg


def launch(
    status: dict[str, Any], name: str, *, env: dict[str, str] | None = None, **kw: Any
) -> Remediator:
    """Start `ta-remediator serve` with `remediator_config(status, name, **kw)` (and `env` added
    to its environment); recorded in the stack's state so that `down` stops it should the test
    not."""
    path, cfg = remediator_config(status, name, **kw)
    rem = cfg["remediator"]
    url = f"http://127.0.0.1:{rem['listen']['port']}"
    log = Path(status["dir"]) / "logs" / f"{name}.log"
    env = {"PYTHONPATH": str(Path(__file__).parents[2]), **(env or {})}
    proc = spawn(python_module_args("remediator.cli", "serve", "--config", str(path)), log_path=log,
                 env=env)  # fmt: skip

    def ready() -> bool:
        with urllib.request.urlopen(f"{url}/readyz", timeout=2) as resp:
            return resp.status == 200

    services = state.load(Path(status["dir"]))
    state.save(Path(status["dir"]), [*services, Service(name, proc.pid, {}, str(log))])
    wait_started(proc.pid, ready, log=log, what=name, timeout=120, interval=0.3)
    return Remediator(proc.pid, url, path, Path(rem["journal_path"]), log, name)


def as_stack(status: dict[str, Any], rem: Remediator) -> dict[str, Any]:
    """`status` with `remediator` pointing at `rem` (for `call`, `wait_run`)."""
    return {**status, "remediator": rem.url}


def approve(status: dict[str, Any], rem: Remediator, run_id: str, reason: str) -> dict[str, Any]:
    code, body = call(
        as_stack(status, rem), "POST", f"/runs/{run_id}/approve", body={"reason": reason}
    )
    assert code == 200, (code, body)
    return dict(body)


def runs(status: dict[str, Any], rem: Remediator) -> list[dict[str, Any]]:
    code, body = call(as_stack(status, rem), "GET", "/runs")
    assert code == 200, (code, body)
    items = body["runs"] if isinstance(body, dict) else body
    return list(items)


def run(status: dict[str, Any], rem: Remediator, run_id: str) -> dict[str, Any]:
    code, body = call(as_stack(status, rem), "GET", f"/runs/{run_id}")
    assert code == 200, (code, body)
    return dict(body)


def wait_for(
    status: dict[str, Any],
    rem: Remediator,
    run_id: str,
    predicate: Callable[[dict[str, Any]], bool],
    *,
    what: str,
    timeout: float = 300.0,
) -> dict[str, Any]:
    return wait_run(as_stack(status, rem), run_id, predicate, what=what, timeout=timeout)


def git_log(status: dict[str, Any], ref: str = "HEAD") -> list[str]:
    """The stack's git remote's history (subject and body) on `ref`, newest first."""
    out = subprocess.run(
        ["git", "--git-dir", status["git_remote"], "log", "--format=%H%x00%B%x01", ref],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    return [c.strip() for c in out.stdout.split("\x01") if c.strip()]


def git_head(status: dict[str, Any]) -> str:
    out = subprocess.run(
        ["git", "--git-dir", status["git_remote"], "rev-parse", "HEAD"],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    return out.stdout.strip()


def am_alerts(status: dict[str, Any], alertname: str) -> list[dict[str, Any]]:
    """The active alerts named `alertname` in the stack's Alertmanager."""
    url = f"{status['alertmanager']}/api/v2/alerts?filter=alertname%3D%22{alertname}%22"
    with urllib.request.urlopen(url, timeout=10) as resp:
        return list(json.loads(resp.read()))


def post_alerts(status: dict[str, Any], alerts: list[dict[str, Any]]) -> None:
    """Post alerts to the stack's Alertmanager as Prometheus does (it routes them on)."""
    req = urllib.request.Request(
        f"{status['alertmanager']}/api/v2/alerts",
        data=json.dumps(alerts).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 200


def wait(check: Callable[[], Any], what: str, timeout: float = 300.0) -> Any:
    return poll_until(check, timeout=timeout, interval=1.0, what=what)


def env_pid(status: dict[str, Any], name: str) -> int:
    return next(s.pid for s in state.load(Path(status["dir"])) if s.name == name)


def trading_enabled(status: dict[str, Any]) -> float | None:
    """TRADING_ENABLED as the stack's exporter sees it (None: not exported)."""
    samples = exported(status["exporter"], "torghut_ta_trading_enabled")
    return next(iter(samples.values()), None)
