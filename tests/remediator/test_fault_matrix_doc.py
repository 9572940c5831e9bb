"""docs/reliability.md is what the fault matrix generates: no hand edits, every row listed.

Fast (no stack): it renders the document again from the results the document itself keeps and
compares. Running the matrix rewrites the document (new dates, results); that never makes this
test fail, only a hand edit or a row added to the matrix without running it does."""

from __future__ import annotations

from pathlib import Path

import fault_matrix_drop
from fault_matrix_doc import DOC, RowSpec, Untested, load, render, write
from fault_matrix_rows import ROWS, UNTESTED


def test_the_document_is_what_the_matrix_renders_from_its_own_results() -> None:
    text = DOC.read_text()
    assert text == render(ROWS, UNTESTED, load()), (
        "docs/reliability.md differs from what tests/remediator/test_e2e_fault_matrix.py "
        "generates: run that suite (pytest -m slow) instead of editing the file"
    )
    for row in ROWS:
        assert f"| `{row.id}` |" in text, row.id
    for untested in UNTESTED:
        assert f"`{untested.id}`" in text, untested.id


def test_a_row_run_elsewhere_names_a_module_that_runs_it() -> None:
    root = Path(__file__).resolve().parents[2]
    elsewhere = [r for r in ROWS if r.module]
    assert [r.id for r in elsewhere] == ["clickhouse-stopped-in-drop"]
    for row in elsewhere:
        module = root / row.module
        assert module.is_file(), row.module
        assert row.id in module.read_text(), (row.id, row.module)
    assert fault_matrix_drop.ROW in {r.id for r in elsewhere}


def test_a_partial_run_keeps_the_other_rows_results(tmp_path: Path) -> None:
    rows = [
        RowSpec("a", "succeeded", "fault a", "how a", "what a"),
        RowSpec("b", "failed", "fault b", "how b", "b"),
    ]
    untested = [Untested("c", "fault c", "no way yet")]
    doc = tmp_path / "reliability.md"
    write(rows, untested, {"a": {"result": "pass", "observed": "ok | fine", "date": "d1"}}, doc)
    assert "| `b` | fault b | how b | b | not run yet |  |" in doc.read_text()
    write(rows, untested, {"b": {"result": "FAIL", "observed": "boom", "date": "d2"}}, doc)
    text = doc.read_text()
    assert "| pass (d1) | ok \\| fine |" in text and "| FAIL (d2) | boom |" in text, text
    assert load(doc) == {
        "a": {"result": "pass", "observed": "ok | fine", "date": "d1"},
        "b": {"result": "FAIL", "observed": "boom", "date": "d2"},
    }
    assert "| `c`: fault c | no way yet |" in text
    write([RowSpec("d", "failed", "fault d", "how d", "d", module="tests/x.py")], [], {}, doc)
    text = doc.read_text()
    assert "| `d` | fault d | run by `tests/x.py`: how d | d | not run yet |  |" in text, text
    assert "Nothing: every fault of the matrix has a row above." in text, text
