"""ClickHouse partitions: plain data and pure selection (shared by freshness and storage)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True)
class Partition:
    table: str
    partition: str
    bytes: int
    min_time: float  # epoch seconds; 0 when ClickHouse has no min_time for the key type
    rows: int = 0


def partition_start(p: Partition) -> float | None:
    """The partition's earliest time: min_time, else the date its id names (toDate/toYYYYMMDD)."""
    if p.min_time > 0:
        return p.min_time
    text = p.partition.strip("'")
    for fmt in ("%Y-%m-%d", "%Y%m%d", "%Y%m"):
        try:
            day = datetime.strptime(text, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
        return day.timestamp()
    return None


def oldest_partitions(parts: Iterable[Partition]) -> dict[str, float]:
    """table -> start time of its oldest active partition."""
    out: dict[str, float] = {}
    for p in parts:
        start = partition_start(p)
        if start is not None and (p.table not in out or start < out[p.table]):
            out[p.table] = start
    return out


def select_partitions(parts: Sequence[Partition], top_n: int) -> list[Partition]:
    """Per table: the `top_n` largest and the `top_n` oldest partitions (bounded cardinality)."""
    by_table: dict[str, list[Partition]] = {}
    for p in parts:
        by_table.setdefault(p.table, []).append(p)
    chosen: list[Partition] = []
    for table in sorted(by_table):
        rows = by_table[table]
        largest = sorted(rows, key=lambda p: (-p.bytes, p.partition))[:top_n]
        oldest = sorted(rows, key=lambda p: (partition_start(p) or float("inf"), p.partition))[
            :top_n
        ]
        seen: set[str] = set()
        for p in [*largest, *oldest]:
            if p.partition not in seen:
                seen.add(p.partition)
                chosen.append(p)
    return chosen


def partitions_of(rows: Iterable[Sequence[Any]]) -> list[Partition]:
    """Partitions from (table, partition, bytes, min_time, rows) result rows."""
    return [Partition(str(t), str(p), int(b), float(m), int(n)) for t, p, b, m, n in rows]
