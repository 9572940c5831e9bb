"""Label selectors (equality and set-based) and the `metadata.name`/`metadata.namespace` field selector."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from sandbox.kube.errors import bad_request

Matcher = Callable[[dict[str, Any]], bool]

_SET = re.compile(r"^\s*([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")
_EQ = re.compile(r"^\s*([\w./-]+)\s*(==|=|!=)\s*([\w./-]*)\s*$")
_EXISTS = re.compile(r"^\s*(!?)\s*([\w./-]+)\s*$")


def _split(selector: str) -> list[str]:
    """Split on commas that are not inside a `( ... )` value set."""
    parts, depth, cur = [], 0, ""
    for ch in selector:
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return [p for p in parts if p.strip()]


def _requirement(text: str) -> Callable[[dict[str, str]], bool]:
    if m := _SET.match(text):
        key, op = m.group(1), m.group(2)
        values = {v.strip() for v in m.group(3).split(",") if v.strip()}
        if op == "in":
            return lambda labels: labels.get(key) in values
        return lambda labels: labels.get(key) not in values
    if m := _EQ.match(text):
        key, op, value = m.groups()
        if op == "!=":
            return lambda labels: labels.get(key) != value
        return lambda labels: labels.get(key) == value
    if m := _EXISTS.match(text):
        negate, key = m.groups()
        if negate:
            return lambda labels: key not in labels
        return lambda labels: key in labels
    raise bad_request(f"unable to parse requirement: {text.strip()!r}")


def label_matcher(selector: str | None) -> Matcher:
    reqs = [_requirement(p) for p in _split(selector or "")]

    def match(obj: dict[str, Any]) -> bool:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        return all(r(labels) for r in reqs)

    return match


_FIELDS = {"metadata.name": "name", "metadata.namespace": "namespace"}


def field_matcher(selector: str | None) -> Matcher:
    checks: list[tuple[str, bool, str]] = []
    for part in _split(selector or ""):
        m = re.match(r"^\s*([\w.]+)\s*(==|=|!=)\s*(.*?)\s*$", part)
        if not m or m.group(1) not in _FIELDS:
            raise bad_request(
                f'"{part.strip()}" is not a known field selector: only "metadata.name", "metadata.namespace"'
            )
        checks.append((_FIELDS[m.group(1)], m.group(2) != "!=", m.group(3)))

    def match(obj: dict[str, Any]) -> bool:
        meta = obj.get("metadata") or {}
        return all((meta.get(f) == v) == want for f, want, v in checks)

    return match
