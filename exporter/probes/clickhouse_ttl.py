"""A table's row TTL in seconds, read from `system.tables.engine_full` (pure).

ClickHouse normalises `TTL toDateTime(event_ts) + INTERVAL 30 DAY` to
`TTL toDateTime(event_ts) + toIntervalDay(30)`. Only delete rules count (a rule that moves
data `TO DISK` / `TO VOLUME`, recompresses or aggregates keeps the rows); with several delete
rules the shortest wins. Months and years are taken as 30 and 365 days.
"""

from __future__ import annotations

import re

_UNIT_SECONDS = {
    "Second": 1,
    "Minute": 60,
    "Hour": 3600,
    "Day": 86400,
    "Week": 7 * 86400,
    "Month": 30 * 86400,
    "Quarter": 91 * 86400,
    "Year": 365 * 86400,
}
_INTERVAL = re.compile(r"\+\s*toInterval(\w+)\((\d+)\)")
_KEEPS_ROWS = re.compile(r"\b(TO\s+(DISK|VOLUME)|RECOMPRESS|GROUP\s+BY)\b", re.I)
# the TTL clause ends at the next table-level clause (engine_full lists SETTINGS last)
_CLAUSE = re.compile(r"\bTTL\b(.*?)(?=\bSETTINGS\b|\bCOMMENT\b|$)", re.S)


def ttl_seconds(engine_full: str) -> float | None:
    """The table's delete TTL in seconds; None without one (rows are kept)."""
    clause = _CLAUSE.search(engine_full)
    if clause is None:
        return None
    found = []
    for rule in _split_rules(clause.group(1)):
        if _KEEPS_ROWS.search(rule):
            continue
        m = _INTERVAL.search(rule)
        if m and m.group(1) in _UNIT_SECONDS:
            found.append(float(int(m.group(2)) * _UNIT_SECONDS[m.group(1)]))
    return min(found) if found else None


def _split_rules(text: str) -> list[str]:
    """TTL rules are comma-separated; commas inside parentheses belong to function calls."""
    rules, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            rules.append(text[start:i])
            start = i + 1
    rules.append(text[start:])
    return [r.strip() for r in rules if r.strip()]
