"""Keep several processes alive as one: `python -m sandbox.flink.supervise PLAN.json`.

A sandbox `Service` holds one PID. The Flink cluster is two JVMs, so this small supervisor
is the PID: it starts every process of the plan in its own process group, and when it is told
to stop (SIGTERM/SIGINT) or any child exits, it stops the others and exits. Children also get
SIGKILL from the kernel if the supervisor itself dies, so no JVM outlives it.

PLAN.json: {"env": {...}, "processes": [{"name": str, "argv": [...], "log": path}, ...]}
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

STOP_GRACE_SECONDS = 8.0
_PR_SET_PDEATHSIG = 1


class _Stop(Exception):
    """Raised from the signal handler to leave the blocking wait."""


def _die_with_parent() -> None:
    """In the child before exec: the kernel kills it when the supervisor dies."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _on_signal(signum: int, _frame: object) -> None:
    raise _Stop(signum)


def load_plan(path: Path) -> dict[str, Any]:
    """Read and check a plan file; ValueError names what is wrong."""
    plan = json.loads(path.read_text())
    procs = plan.get("processes")
    if not isinstance(procs, list) or not procs:
        raise ValueError(f"{path}: 'processes' must be a non-empty list")
    for proc in procs:
        if not isinstance(proc.get("argv"), list) or not proc.get("name") or not proc.get("log"):
            raise ValueError(f"{path}: every process needs name, argv (list) and log")
    return plan


def start(plan: dict[str, Any], children: dict[int, subprocess.Popen[bytes]]) -> None:
    """Start every process of the plan, recording each in `children` as soon as it runs."""
    env = dict(os.environ)
    env.update(plan.get("env", {}))
    for proc in plan["processes"]:
        with open(proc["log"], "ab") as log:
            child = subprocess.Popen(
                proc["argv"],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                preexec_fn=_die_with_parent,  # the supervisor has no threads, so this is safe
            )
        print(f"started {proc['name']} pid={child.pid}", flush=True)
        children[child.pid] = child


def stop_all(children: dict[int, subprocess.Popen[bytes]]) -> None:
    """SIGTERM every child still running, SIGKILL what is left after the grace period."""
    for child in children.values():
        if child.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                child.terminate()
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for child in children.values():
        remaining = max(0.0, deadline - time.monotonic())
        try:
            child.wait(timeout=remaining)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def run(plan_path: Path) -> int:
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    children: dict[int, subprocess.Popen[bytes]] = {}
    code = 0
    try:
        start(load_plan(plan_path), children)
        pid, status = os.wait()
        child = children.get(pid)
        if child is not None:
            child.returncode = os.waitstatus_to_exitcode(status)
        print(f"child pid={pid} exited ({status}); stopping the others", flush=True)
        code = 1
    except _Stop as stop:
        print(f"received signal {stop.args[0]}; stopping", flush=True)
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        stop_all(children)
    return code


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m sandbox.flink.supervise PLAN.json", file=sys.stderr)
        return 2
    try:
        return run(Path(args[0]))
    except (OSError, ValueError) as exc:
        print(f"supervise: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
