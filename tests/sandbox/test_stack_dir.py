"""`up` starts from an empty directory and never wipes one that is not a sandbox's."""

from __future__ import annotations

from pathlib import Path

import pytest

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
