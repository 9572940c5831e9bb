"""Reading the dashboard JSON files: panels, queries, metric names, variable substitution."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from remediator.metrics import CATALOGUE as REMEDIATOR_CATALOGUE

REPO = Path(__file__).resolve().parents[2]
DASHBOARD_DIR = REPO / "dashboards"
RUNBOOK_DIR = REPO / "docs" / "runbooks"
RULES_FILE = REPO / "alerts" / "rules" / "torghut-ta.rules.yml"
DS_REF = {"type": "prometheus", "uid": "${datasource}"}

# The remediator's metrics (remediator/metrics.py): name -> labels.
REMEDIATOR_METRICS: dict[str, tuple[str, ...]] = {
    name: spec.labels for name, spec in REMEDIATOR_CATALOGUE.items()
}
# Series Prometheus makes itself (not exporter metrics).
PROMETHEUS_SERIES = {"up", "ALERTS"}
# Grafana's built-in variables, with the values the end-to-end test gives them.
BUILTIN_VALUES = {"__rate_interval": "1m", "__interval": "15s", "__range": "5m"}

_KEYWORDS = {
    "and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right",
    "bool", "offset", "inf", "nan",
}  # fmt: skip
_VAR = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)")


@dataclass(frozen=True)
class Query:
    board: str
    panel: str
    ref: str
    expr: str


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def board_files() -> list[Path]:
    return sorted(DASHBOARD_DIR.glob("*.json"))


def boards() -> dict[str, dict[str, Any]]:
    """{file name: dashboard}"""
    return {p.name: load(p) for p in board_files()}


def panels(board: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, including those nested in collapsed rows; rows themselves too."""
    for p in board["panels"]:
        yield p
        yield from p.get("panels", [])


def data_panels(board: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [p for p in panels(board) if p["type"] != "row"]


def queries(board: Mapping[str, Any]) -> list[Query]:
    name = board["uid"]
    return [
        Query(name, p["title"], t["refId"], t["expr"])
        for p in data_panels(board)
        for t in p["targets"]
    ]


def annotation_queries(board: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [a for a in board["annotations"]["list"] if not a.get("builtIn")]


def variables(board: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {v["name"]: v for v in board["templating"]["list"]}


def variable_query(var: Mapping[str, Any]) -> str:
    q = var["query"]
    return q["query"] if isinstance(q, dict) else q


def used_variables(text: str) -> set[str]:
    return {a or b for a, b in _VAR.findall(text)}


def substitute(text: str, values: Mapping[str, str]) -> str:
    """Replace $name / ${name} as Grafana would; unknown names raise KeyError."""

    def repl(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2)
        return values[name]

    return _VAR.sub(repl, text)


def metric_names(expr: str) -> set[str]:
    """Metric names a PromQL expression selects (a syntactic scan, good enough for our boards):
    strings, label matchers, ranges and grouping clauses are removed, then every identifier that
    is not a keyword, a function call or a number is a metric name."""
    s = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    s = re.sub(r"\{[^}]*\}", " ", s)
    s = re.sub(r"\[[^\]]*\]", " ", s)
    s = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", s)
    names = set()
    for m in re.finditer(r"(?<![\w.])([A-Za-z_:][\w:]*)\s*(\()?", s):
        ident, call = m.group(1), m.group(2)
        if call or ident.lower() in _KEYWORDS:
            continue
        names.add(ident)
    return names


def selector_labels(expr: str) -> list[tuple[str, set[str]]]:
    """(metric, label names matched in its braces) for every `metric{...}` selector."""
    out = []
    for m in re.finditer(r"([A-Za-z_:][\w:]*)\{([^}]*)\}", expr):
        out.append((m.group(1), set(re.findall(r"(\w+)\s*(?:=~|!~|!=|=)", m.group(2)))))
    return out


def label_values_args(expr: str) -> tuple[str, str]:
    """label_values(selector, label) -> (selector, label)."""
    m = re.fullmatch(r"\s*label_values\((.*),\s*(\w+)\s*\)\s*", expr, re.S)
    if not m:
        raise ValueError(f"not a label_values(selector, label) query: {expr!r}")
    return m.group(1).strip(), m.group(2)


def regex_values(values: str | tuple[str, ...]) -> str:
    """A variable's value as Grafana puts it in a Prometheus regex matcher: one value as is,
    several as `(a|b)` with regex metacharacters escaped (doubled backslash: PromQL string)."""
    if isinstance(values, str):
        return values
    return "(" + "|".join(re.sub(r"([\\^$*+?.()|\[\]{}])", r"\\\\\1", v) for v in values) + ")"
