"""The suite's scheduling list names real modules: a renamed module would silently lose its
place at the front and could leave one worker with a long module at the end of a CI run."""

from __future__ import annotations

from pathlib import Path

from conftest import LONGEST_FIRST

ROOT = Path(__file__).resolve().parents[1]


def test_every_longest_first_module_exists_once() -> None:
    missing = [p for p in LONGEST_FIRST if not (ROOT / p).is_file()]
    assert not missing, missing
    assert len(set(LONGEST_FIRST)) == len(LONGEST_FIRST)
