"""wait_started: a dead process ends the wait at once; a failed start leaves nothing running."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.util import (
    ExitedError,
    pid_alive,
    recording_spawns,
    spawn,
    stop_pid,
    wait_started,
)


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


@pytest.fixture
def ctrl_c_raises() -> Iterator[None]:
    """SIGINT as a terminal gives it: a shell that runs the suite in the background (as a CI
    runner may) hands its children SIGINT ignored, and Python then never raises KeyboardInterrupt."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@pytest.mark.usefixtures("ctrl_c_raises")
def test_a_spawned_process_is_recorded_before_an_interrupt_can_land(tmp_path: Path) -> None:
    """SIGINT arriving while `spawn` records a process is held until the record is written."""
    recorded: list[tuple[str, int]] = []

    def hook(name: str, pid: int, _log: Path) -> None:
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C right after the process started
        recorded.append((name, pid))

    with pytest.raises(KeyboardInterrupt), recording_spawns(hook):
        spawn([sys.executable, "-c", "import time; time.sleep(60)"], log_path=tmp_path / "x.log")
    assert len(recorded) == 1 and recorded[0][0] == "x"
    pid = recorded[0][1]
    try:
        assert pid_alive(pid)  # the interrupt did not stop it: the record is what lets `down` do so
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        stop_pid(pid)
    assert not pid_alive(pid)


def test_a_spawned_process_does_not_inherit_held_signals(tmp_path: Path) -> None:
    """The child still dies of SIGTERM: holding signals in the parent must not block them in it."""
    log = tmp_path / "child.log"
    with recording_spawns(lambda *_: None):
        proc = spawn([sys.executable, "-c", "import time; time.sleep(60)"], log_path=log)
    try:
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=30) == -signal.SIGTERM
    finally:
        proc.kill()
