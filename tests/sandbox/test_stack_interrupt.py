"""Ctrl-C during `ta-sandbox up`, then `ta-sandbox down`: nothing the stack started keeps running.

Every process `up` starts inherits a marker in its environment, so the check finds them all by
scanning /proc, whether or not the state file recorded them.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from sandbox.util import pid_alive, poll_until, stop_pid

pytestmark = pytest.mark.slow
MARK = "TA_SANDBOX_TEST_MARK"


def marked_processes(mark: str) -> set[int]:
    """Live (not zombie) processes whose environment carries `MARK=mark`."""
    needle = f"{MARK}={mark}".encode()
    found = set()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = Path(entry.path, "environ").read_bytes()
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        if needle in environ.split(b"\0") and stat[stat.rindex(")") + 2] != "Z":
            found.add(int(entry.name))
    return found


def recorded(workdir: Path) -> list[dict[str, object]]:
    try:
        services = json.loads((workdir / "sandbox.json").read_text())["services"]
    except (OSError, ValueError, KeyError):
        return []
    return [s for s in services if int(s["pid"]) > 0]


def _ctrl_c_as_in_a_terminal() -> None:
    """A suite run in the background (as a CI runner may) hands its children SIGINT ignored;
    `ta-sandbox up` started from a terminal has it at its default, which is what Ctrl-C meets."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize(
    ("sig", "interrupt_when"),
    [
        (signal.SIGINT, ""),  # Ctrl-C once the first service is recorded
        # killed outright once the exporter is spawned: no cleanup runs, the record alone must do
        (signal.SIGKILL, "exporter"),
    ],
    ids=["sigint-first-service", "sigkill-exporter-starting"],
)
def test_interrupted_up_then_down_leaves_nothing_running(
    tmp_path: Path, sig: signal.Signals, interrupt_when: str
) -> None:
    workdir = tmp_path / "sandbox"
    mark = uuid.uuid4().hex
    env = {**os.environ, MARK: mark}
    cli = [sys.executable, "-m", "sandbox.cli"]
    up = subprocess.Popen(
        [*cli, "up", "--dir", str(workdir)], env=env, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, preexec_fn=_ctrl_c_as_in_a_terminal,
    )  # fmt: skip
    seen: set[int] = set()
    try:

        def ready_to_interrupt() -> bool:
            services = recorded(workdir)
            seen.update(int(str(s["pid"])) for s in services)
            return any(interrupt_when in str(s["name"]) for s in services)

        poll_until(ready_to_interrupt, timeout=240, interval=0.02, what=interrupt_when or "a pid")
        up.send_signal(sig)
        out, _ = up.communicate(timeout=120)
        assert up.returncode != 0, out.decode()
        if sig == signal.SIGINT:
            assert b"interrupted" in out, out.decode()
        else:
            assert marked_processes(mark), "the killed `up` left nothing to stop: proves nothing"

        subprocess.run([*cli, "down", "--dir", str(workdir)], env=env, check=True, timeout=120)
        assert recorded(workdir) == []
        poll_until(lambda: not marked_processes(mark), timeout=30, what="no marked process left")
        assert seen and not [pid for pid in seen if pid_alive(pid)]
    finally:
        if up.poll() is None:
            up.kill()
            up.wait()
        for pid in marked_processes(mark):  # a failed run must not leak into the machine
            stop_pid(pid)
