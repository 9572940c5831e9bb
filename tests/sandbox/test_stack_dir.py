"""`up` starts from an empty directory and never wipes one that is not a sandbox's; exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from exporter.exitcodes import DOWN, INTERNAL, USAGE
from sandbox import state
from sandbox.stack import _fresh_dir


def test_a_stopped_sandbox_dir_is_emptied(tmp_path: Path) -> None:
    state.save(tmp_path, [])
    (tmp_path / "git").mkdir()
    (tmp_path / "git" / "leftover").write_text("x")
    _fresh_dir(tmp_path)
    assert tmp_path.is_dir() and list(tmp_path.iterdir()) == []


def test_a_foreign_non_empty_dir_is_refused_and_kept(tmp_path: Path) -> None:
    precious = tmp_path / "notes.txt"
    precious.write_text("keep me")
    with pytest.raises(RuntimeError, match="not empty and holds no sandbox"):
        _fresh_dir(tmp_path)
    assert precious.read_text() == "keep me"


def test_a_missing_dir_is_created(tmp_path: Path) -> None:
    _fresh_dir(tmp_path / "new")
    assert (tmp_path / "new").is_dir()


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    return subprocess.run(
        [sys.executable, "-m", "sandbox.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def test_up_into_a_foreign_dir_exits_2_and_leaves_it_alone(tmp_path: Path) -> None:
    precious = tmp_path / "notes.txt"
    precious.write_text("keep me")
    proc = _cli("up", "--dir", str(tmp_path))
    assert proc.returncode == DOWN == 2, proc.stderr
    assert "not empty and holds no sandbox" in proc.stderr
    # the directory is not marked as a sandbox's, so a second `up` still refuses to wipe it
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
    assert _cli("up", "--dir", str(tmp_path)).returncode == 2
    assert precious.read_text() == "keep me"


def test_status_of_an_empty_dir_is_0(tmp_path: Path) -> None:
    proc = _cli("status", "--dir", str(tmp_path), "--json")
    assert proc.returncode == 0 and json.loads(proc.stdout) == {"up": {}}


def test_usage_errors_exit_64(tmp_path: Path) -> None:
    for args in ((), ("start",), ("status", "--bogus")):
        proc = _cli(*args)
        assert proc.returncode == USAGE == 64, (args, proc.stderr)
        assert "usage: ta-sandbox" in proc.stderr


def test_a_corrupt_state_file_is_an_internal_error_70_in_one_line(tmp_path: Path) -> None:
    (tmp_path / state.STATE_FILE).write_text("{not json")
    proc = _cli("status", "--dir", str(tmp_path))
    assert proc.returncode == INTERNAL == 70
    [line] = proc.stderr.splitlines()
    assert line.startswith("ta-sandbox: internal error: JSONDecodeError: ")
    debug = _cli("--debug", "status", "--dir", str(tmp_path))
    assert debug.returncode == 70 and "Traceback (most recent call last)" in debug.stderr
