"""The supervisor that makes the Flink cluster's two JVMs one stoppable PID (no JVM needed)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from sandbox.flink.supervise import load_plan, main
from sandbox.util import pid_alive, poll_until, python_module_args, spawn, stop_pid

SLEEPER = "import os, time; print(os.getpid(), flush=True); time.sleep(120)"


def write_plan(tmp_path: Path, codes: list[str]) -> Path:
    plan = {
        "env": {"SUPERVISE_TEST": "1"},
        "processes": [
            {
                "name": f"p{i}",
                "argv": [sys.executable, "-c", code],
                "log": str(tmp_path / f"p{i}.log"),
            }
            for i, code in enumerate(codes)
        ],
    }
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan))
    return path


def child_pids(tmp_path: Path, count: int) -> list[int]:
    """PIDs the children printed in their logs, once all of them have started."""

    def read() -> list[int] | None:
        pids = []
        for i in range(count):
            text = (tmp_path / f"p{i}.log").read_text().strip()
            if not text:
                return None
            pids.append(int(text.splitlines()[0]))
        return pids

    return poll_until(read, timeout=60, what="children started")


def test_stopping_the_supervisor_stops_every_child(tmp_path: Path) -> None:
    plan = write_plan(tmp_path, [SLEEPER, SLEEPER])
    proc = spawn(
        python_module_args("sandbox.flink.supervise", str(plan)), log_path=tmp_path / "s.log"
    )
    pids = child_pids(tmp_path, 2)
    assert all(pid_alive(p) for p in pids)
    assert all(os.getpgid(p) == proc.pid for p in pids)

    stop_pid(proc.pid, timeout=30)
    assert not pid_alive(proc.pid)
    poll_until(lambda: not any(pid_alive(p) for p in pids), timeout=30, what="children gone")
    assert "stopping" in (tmp_path / "s.log").read_text()


def test_a_child_exiting_takes_the_others_down(tmp_path: Path) -> None:
    # The quitter exits only once the sleeper has printed its PID: otherwise, on a loaded machine,
    # the supervisor can stop the sleeper before it ever printed, and the test cannot find it.
    sleeper_log = tmp_path / "p0.log"
    quitter = (
        "import os, pathlib, time\n"
        f"log = pathlib.Path({str(sleeper_log)!r})\n"
        "deadline = time.monotonic() + 60\n"
        "while not (log.exists() and log.read_text().strip()) and time.monotonic() < deadline:\n"
        "    time.sleep(0.05)\n"
        "print(os.getpid(), flush=True)\n"
        "raise SystemExit(3)\n"
    )
    plan = write_plan(tmp_path, [SLEEPER, quitter])
    proc = spawn(
        python_module_args("sandbox.flink.supervise", str(plan)), log_path=tmp_path / "s.log"
    )
    try:
        assert proc.wait(timeout=90) == 1
        sleeper, quitter_pid = child_pids(tmp_path, 2)
        assert sleeper != quitter_pid
        poll_until(lambda: not pid_alive(sleeper), timeout=30, what="sleeper gone")
    finally:
        stop_pid(proc.pid, timeout=10)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("{}", "non-empty list"),
        ('{"processes": [{"name": "x", "argv": "java"}]}', "name, argv"),
    ],
)
def test_bad_plans_are_refused_with_the_reason(tmp_path: Path, content: str, problem: str) -> None:
    path = tmp_path / "plan.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=problem):
        load_plan(path)
    assert main([str(path)]) == 2


def test_missing_plan_file_is_a_usage_error(tmp_path: Path) -> None:
    assert main([str(tmp_path / "absent.json")]) == 2
    assert main([]) == 2
