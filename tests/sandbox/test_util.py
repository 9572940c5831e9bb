"""wait_started: a dead process ends the wait at once; a failed start leaves nothing running."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from sandbox.util import ExitedError, pid_alive, spawn, wait_started


def test_a_process_that_dies_ends_the_wait_at_once_with_its_log(tmp_path: Path) -> None:
    log = tmp_path / "dying.log"
    proc = spawn([sys.executable, "-c", "print('bad flag --x'); raise SystemExit(3)"], log_path=log)
    # ExitedError (not TimeoutError) proves the exit ended the wait, long before the deadline
    with pytest.raises(ExitedError, match="bad flag --x"):
        wait_started(proc.pid, lambda: False, log=log, what="dying", timeout=3600)


def test_a_start_that_times_out_stops_the_process(tmp_path: Path) -> None:
    log = tmp_path / "slow.log"
    proc = spawn([sys.executable, "-c", "import time; time.sleep(60)"], log_path=log)
    with pytest.raises(TimeoutError, match="slow ready"):
        wait_started(proc.pid, lambda: False, log=log, what="slow", timeout=0.5)
    assert not pid_alive(proc.pid)


def test_ready_returns_once_the_check_holds(tmp_path: Path) -> None:
    log = tmp_path / "ok.log"
    proc = spawn(
        [sys.executable, "-c", "print('up', flush=True); import time; time.sleep(60)"], log_path=log
    )
    try:
        wait_started(proc.pid, lambda: "up" in log.read_text(), log=log, what="ok", timeout=30)
        assert pid_alive(proc.pid)
    finally:
        proc.kill()
        proc.wait()
