"""ClickHouse probes: freshness (tables, watched symbols, oldest partition), storage per replica
(disks, table and partition bytes) and replication state per replica.

Interpretation is pure (`render_*`, `select_partitions`, `oldest_partitions`); `build` wires the
clients. Freshness asks the replicas in order and uses the first that answers; storage and
replica probes run per replica so one dead replica never hides another's disk pressure.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from exporter.probes.base import Sample

P = "torghut_ta_"


@dataclass(frozen=True)
class Partition:
    table: str
    partition: str
    bytes: int
    min_time: float  # epoch seconds; 0 when ClickHouse has no min_time for the key type
    rows: int = 0


@dataclass(frozen=True)
class Freshness:
    tables: dict[str, float]  # table -> max(event_ts); 0 for an empty table
    symbols: list[tuple[str, str, float]]  # (table, symbol, max(event_ts)) within the window
    partitions: list[Partition]
    replica: str = ""
    read_rows: int = 0


@dataclass(frozen=True)
class Storage:
    replica: str
    disks: list[tuple[str, int, int]]  # (disk, free, total)
    partitions: list[Partition] = field(default_factory=list)


@dataclass(frozen=True)
class Replication:
    replica: str
    rows: list[tuple[str, int, int, float, int]]  # table, readonly, expired, delay, queue


# --- pure interpretation ----------------------------------------------------------------------


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


def render_freshness(data: Freshness, *, signals_table: str | None = None) -> list[Sample]:
    out = [
        Sample(f"{P}table_last_event_timestamp_seconds", ts, {"table": t})
        for t, ts in sorted(data.tables.items())
        if ts > 0
    ]
    # the table trading reads, under its own name, so rules need not know the table's name
    signals = data.tables.get(signals_table, 0) if signals_table else 0
    if signals_table and signals > 0:
        out.append(
            Sample(f"{P}signals_last_event_timestamp_seconds", signals, {"table": signals_table})
        )
    out += [
        Sample(f"{P}symbol_last_event_timestamp_seconds", ts, {"table": t, "symbol": s})
        for t, s, ts in data.symbols
        if ts > 0
    ]
    out += [
        Sample(f"{P}clickhouse_oldest_partition_timestamp_seconds", ts, {"table": t})
        for t, ts in sorted(oldest_partitions(data.partitions).items())
    ]
    return out


def render_storage(data: Storage, *, top_n: int) -> list[Sample]:
    r = data.replica
    out: list[Sample] = []
    for disk, free, total in data.disks:
        out.append(Sample(f"{P}clickhouse_disk_free_bytes", free, {"replica": r, "disk": disk}))
        out.append(Sample(f"{P}clickhouse_disk_total_bytes", total, {"replica": r, "disk": disk}))
    totals: dict[str, int] = {}
    for p in data.partitions:
        totals[p.table] = totals.get(p.table, 0) + p.bytes
    out += [
        Sample(f"{P}clickhouse_table_bytes", b, {"replica": r, "table": t})
        for t, b in sorted(totals.items())
    ]
    out += [
        Sample(
            f"{P}clickhouse_partition_bytes",
            p.bytes,
            {"replica": r, "table": p.table, "partition": p.partition},
        )
        for p in select_partitions(data.partitions, top_n)
    ]
    return out


def render_replication(data: Replication) -> list[Sample]:
    out: list[Sample] = []
    for table, readonly, expired, delay, queue in data.rows:
        labels = {"replica": data.replica, "table": table}
        out.append(Sample(f"{P}clickhouse_replica_readonly", float(readonly), labels))
        out.append(Sample(f"{P}clickhouse_replica_session_expired", float(expired), labels))
        out.append(Sample(f"{P}clickhouse_replica_delay_seconds", float(delay), labels))
        out.append(Sample(f"{P}clickhouse_replica_queue_size", float(queue), labels))
    return out
