"""alerts/model.py writes rule groups as YAML that reads back exactly as defined."""

from __future__ import annotations

import pytest
import yaml

from alerts.model import Alert, Group, Record, render


def _alert(**changes: object) -> Alert:
    base: dict[str, object] = {
        "alert": "X",
        "expr": 'a{job="j"} > 1\nunless on (cluster, namespace)\nb == 0\n',
        "labels": {"severity": "critical", "procedure": "none", "flag": "yes", "n": "1"},
        "summary": 'He said "{{ $value }}"',
        "description": ("first line", "second: with colon # and hash"),
        "runbook_url": "https://example.invalid/X.md",
        "dashboard_url": "https://example.invalid/d/x",
        "for_": "2m",
        "comment": "why\nand more",
    }
    base.update(changes)
    return Alert(**base)  # type: ignore[arg-type]


def test_render_reads_back_with_strings_kept_strings_and_folded_descriptions() -> None:
    group = Group("g", (Record("r:x", "time() - a"), _alert()), comment="group comment")
    text = render([group], "header")
    assert text.startswith("# header\ngroups:\n  # group comment\n")
    (rule,) = [r for r in yaml.safe_load(text)["groups"][0]["rules"] if "alert" in r]
    assert rule["labels"] == {"severity": "critical", "procedure": "none", "flag": "yes", "n": "1"}
    assert rule["annotations"]["description"] == "first line second: with colon # and hash"
    assert rule["annotations"]["summary"] == 'He said "{{ $value }}"'
    assert rule["expr"].endswith("b == 0\n")
    assert "      # why\n      # and more\n      - alert: X\n" in text


@pytest.mark.parametrize("line", ["", " leading space", "trailing space "])
def test_a_description_line_that_would_not_fold_back_is_refused(line: str) -> None:
    with pytest.raises(ValueError, match="folded line"):
        render([Group("g", (_alert(description=("ok", line)),))], "h")
