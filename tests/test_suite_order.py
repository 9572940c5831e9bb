"""The suite's scheduling list names real modules: a renamed module would silently lose its
place at the front and could leave one worker with a long module at the end of a CI run."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_longest_first_module_exists_once() -> None:
    # by path: `import conftest` may find another directory's conftest first
    spec = importlib.util.spec_from_file_location("tests_root_conftest", ROOT / "tests/conftest.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    longest_first = module.LONGEST_FIRST
    missing = [p for p in longest_first if not (ROOT / p).is_file()]
    assert not missing, missing
    assert len(set(longest_first)) == len(longest_first)
