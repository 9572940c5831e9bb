"""Rule groups as data, and their YAML text (block scalars, comments kept, checked by a re-read)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import yaml


@dataclass(frozen=True)
class Record:
    record: str
    expr: str
    comment: str = ""


@dataclass(frozen=True)
class Alert:
    alert: str
    expr: str
    labels: dict[str, str]
    summary: str
    # Lines of a folded (>-) scalar: the rendered description is " ".join(lines).
    description: tuple[str, ...]
    runbook_url: str
    dashboard_url: str
    for_: str | None = None
    comment: str = ""


@dataclass(frozen=True)
class Group:
    name: str
    rules: tuple[Record | Alert, ...]
    comment: str = ""


_PLAIN = re.compile(r"^[A-Za-z][A-Za-z0-9_.:/-]*$")  # never a number: 1 would read back as int
_YAML_WORDS = {"true", "false", "yes", "no", "on", "off", "null", "y", "n", "~"}


def _scalar(value: str) -> str:
    if _PLAIN.match(value) and value.lower() not in _YAML_WORDS:
        return value
    return json.dumps(value, ensure_ascii=False)


def _comment(text: str, indent: str) -> list[str]:
    return [f"{indent}# {line}".rstrip() for line in text.strip("\n").splitlines()] if text else []


def _block(key: str, text: str, indent: str) -> list[str]:
    lines = text.strip("\n").splitlines()
    return [f"{indent}{key}: |", *(f"{indent}  {line}".rstrip() for line in lines)]


def _folded(key: str, lines: tuple[str, ...], indent: str) -> list[str]:
    for line in lines:
        if not line or line != line.strip():
            raise ValueError(f"{key}: folded line {line!r} is empty or has outer spaces")
    return [f"{indent}{key}: >-", *(f"{indent}  {line}" for line in lines)]


def _rule(rule: Record | Alert) -> list[str]:
    i = "      "
    out = _comment(rule.comment, i)
    if isinstance(rule, Record):
        out.append(f"{i}- record: {rule.record}")
        if "\n" in rule.expr.strip():
            return out + _block("expr", rule.expr, i + "  ")
        return [*out, f"{i}  expr: {rule.expr.strip()}"]
    out.append(f"{i}- alert: {rule.alert}")
    j = i + "  "
    if "\n" in rule.expr.strip():
        out += _block("expr", rule.expr, j)
    else:
        out.append(f"{j}expr: {rule.expr.strip()}")
    if rule.for_:
        out.append(f"{j}for: {rule.for_}")
    out.append(f"{j}labels:")
    out += [f"{j}  {k}: {_scalar(v)}" for k, v in rule.labels.items()]
    out.append(f"{j}annotations:")
    out.append(f"{j}  summary: {json.dumps(rule.summary, ensure_ascii=False)}")
    out += _folded("description", rule.description, j + "  ")
    out.append(f"{j}  runbook_url: {rule.runbook_url}")
    out.append(f"{j}  dashboard_url: {rule.dashboard_url}")
    return out


def _expr_value(expr: str) -> str:
    return expr.strip("\n") + "\n" if "\n" in expr.strip() else expr.strip()


def as_data(groups: list[Group]) -> dict[str, object]:
    """What the YAML text must read back as."""
    out = []
    for g in groups:
        rules: list[dict[str, object]] = []
        for r in g.rules:
            if isinstance(r, Record):
                rules.append({"record": r.record, "expr": _expr_value(r.expr)})
                continue
            rule: dict[str, object] = {"alert": r.alert, "expr": _expr_value(r.expr)}
            if r.for_:
                rule["for"] = r.for_
            rule["labels"] = dict(r.labels)
            rule["annotations"] = {
                "summary": r.summary,
                "description": " ".join(r.description),
                "runbook_url": r.runbook_url,
                "dashboard_url": r.dashboard_url,
            }
            rules.append(rule)
        out.append({"name": g.name, "rules": rules})
    return {"groups": out}


def render(groups: list[Group], header: str) -> str:
    lines = _comment(header, "")
    lines.append("groups:")
    for n, g in enumerate(groups):
        if n:
            lines.append("")
        lines += _comment(g.comment, "  ")
        lines.append(f"  - name: {g.name}")
        lines.append("    rules:")
        for m, r in enumerate(g.rules):
            if m:
                lines.append("")
            lines += _rule(r)
    text = "\n".join(lines) + "\n"
    if yaml.safe_load(text) != as_data(groups):
        raise ValueError("the rendered rule file does not read back as its definition")
    return text
