"""ClickHouse probes: freshness (clickhouse_freshness.py), storage per replica (the disks that
hold the TA tables, table and partition bytes) and replication state per replica.

Interpretation is pure (`render_*`, `keeper_unreachable`, `metadata_lost`, `usable_disks`);
`exporter.families.clickhouse` wires the clients. Storage and replica probes run per replica so
one dead replica never hides another's disk pressure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from exporter.probes.base import Sample
from exporter.probes.clickhouse_freshness import Freshness, merge, render_freshness
from exporter.probes.clickhouse_parts import (
    Partition,
    oldest_partitions,
    partition_start,
    select_partitions,
)

__all__ = [
    "Freshness", "Partition", "Replication", "Storage", "keeper_unreachable", "merge",
    "metadata_lost", "oldest_partitions", "partition_start", "render_freshness",
    "render_replication", "render_storage", "select_partitions", "usable_disks",
]  # fmt: skip

P = "torghut_ta_"
# zookeeper_exception texts of a Keeper that cannot be talked to (ZooKeeper and Keeper wording)
_UNREACHABLE = (
    "connection loss",
    "session expired",
    "session is expired",
    "operation timeout",
    "zconnectionloss",
    "zsessionexpired",
    "zoperationtimeout",
    "all connection tries failed",
    "cannot use zookeeper",
)


@dataclass(frozen=True)
class Storage:
    replica: str
    disks: list[tuple[str, int, int]]  # (disk, free net of reservations, total)
    partitions: list[Partition] = field(default_factory=list)


@dataclass(frozen=True)
class Replication:
    replica: str
    rows: list[tuple[str, int, int, float, int]]  # table, readonly, expired, delay, queue
    exceptions: dict[str, str] = field(default_factory=dict)  # table -> zookeeper_exception
    missing: list[str] = field(default_factory=list)  # configured tables not in system.replicas


# --- pure interpretation ----------------------------------------------------------------------


def keeper_unreachable(expired: int, exception: str) -> bool:
    """The replica cannot talk to Keeper: its session expired or the last Keeper error says so."""
    text = exception.lower()
    return expired >= 1 or any(marker in text for marker in _UNREACHABLE)


def metadata_lost(expired: int, exception: str) -> bool:
    """Keeper answers but the table's znodes are gone (`No node`): what Procedure B restores."""
    text = exception.lower()
    return not keeper_unreachable(expired, exception) and ("no node" in text or "znonode" in text)


def usable_disks(rows: Sequence[tuple[Any, ...]]) -> list[tuple[str, int, int]]:
    """(disk, free, total) from (name, free_space, total_space, unreserved_space) rows: free is
    net of the space running inserts and merges have reserved (`unreserved_space`)."""
    return [(str(n), min(int(f), int(u)), int(t)) for n, f, t, u in rows]


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
        exception = data.exceptions.get(table, "")
        out.append(Sample(f"{P}clickhouse_replica_readonly", float(readonly), labels))
        out.append(Sample(f"{P}clickhouse_replica_session_expired", float(expired), labels))
        out.append(Sample(f"{P}clickhouse_replica_delay_seconds", float(delay), labels))
        out.append(Sample(f"{P}clickhouse_replica_queue_size", float(queue), labels))
        unreachable = keeper_unreachable(expired, exception)
        lost = metadata_lost(expired, exception)
        out.append(Sample(f"{P}clickhouse_replica_keeper_unreachable", float(unreachable), labels))
        out.append(Sample(f"{P}clickhouse_replica_metadata_lost", float(lost), labels))
    return out
