"""ClickHouse probes: freshness (clickhouse_freshness.py), storage per replica (the disks that
hold the TA tables, table and partition bytes) and replication state per replica.

Interpretation is pure (`render_*`, `keeper_unreachable`, `metadata_lost`); `build` wires the
clients. Storage and replica probes run per replica so one dead replica never hides another's
disk pressure.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

from exporter.clients import clickhouse as ch
from exporter.config import Config
from exporter.probes.base import ProbeSpec, Sample
from exporter.probes.clickhouse_freshness import (
    PERSIST,
    Freshness,
    collect_freshness,
    newest_answer,
    render_freshness,
)
from exporter.probes.clickhouse_parts import (
    Partition,
    oldest_partitions,
    partition_start,
    partitions_of,
    select_partitions,
)

__all__ = [
    "Freshness", "Partition", "Replication", "Storage", "build", "collect_freshness",
    "keeper_unreachable", "metadata_lost", "newest_answer", "oldest_partitions",
    "partition_start", "render_freshness", "render_replication", "render_storage",
    "select_partitions", "specs_for", "usable_disks",
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


# --- collection -------------------------------------------------------------------------------


async def collect_storage(client: ch.ReplicaClient, cfg: Config) -> Storage:
    c = cfg.clickhouse
    disk_rows, parts = await asyncio.gather(
        ch.disks(client, database=c.database, tables=c.tables),
        ch.partitions(client, database=c.database, tables=c.tables),
    )
    return Storage(client.name, usable_disks(disk_rows.rows), partitions_of(parts))


async def collect_replication(client: ch.ReplicaClient, cfg: Config) -> Replication:
    c = cfg.clickhouse
    rows = await ch.replicas(client, database=c.database, tables=c.tables)
    seen = {str(r[0]) for r in rows.rows}
    return Replication(
        client.name,
        [(str(t), int(ro), int(ex), float(d), int(q)) for t, ro, ex, d, q, _ in rows.rows],
        {str(r[0]): str(r[5]) for r in rows.rows if r[5]},
        [t for t in c.tables if t not in seen],
    )


def _spec(cfg: Config, family: str, name: str, collect, render, persist=frozenset()) -> ProbeSpec:  # type: ignore[no-untyped-def]
    t = cfg.probes.timing(family)
    return ProbeSpec(name, collect, render, t.interval, t.timeout, t.staleness, persist)


def specs_for(cfg: Config, clients: Sequence[ch.ReplicaClient]) -> list[ProbeSpec]:
    """Probe specs over given clients: `clickhouse_freshness`, and per replica
    `clickhouse_storage/<replica>` and `clickhouse_replicas/<replica>`."""
    top_n = cfg.clickhouse.top_partitions
    specs = [
        _spec(
            cfg,
            "clickhouse_freshness",
            "clickhouse_freshness",
            lambda: newest_answer(clients, cfg),
            render_freshness,
            PERSIST,
        )
    ]
    for client in clients:
        specs.append(
            _spec(
                cfg,
                "clickhouse_storage",
                f"clickhouse_storage/{client.name}",
                lambda client=client: collect_storage(client, cfg),
                lambda data: render_storage(data, top_n=top_n),
            )
        )
        specs.append(
            _spec(
                cfg,
                "clickhouse_replicas",
                f"clickhouse_replicas/{client.name}",
                lambda client=client: collect_replication(client, cfg),
                render_replication,
            )
        )
    return specs


async def build(cfg: Config, *, stack: AsyncExitStack) -> list[ProbeSpec]:
    timeout = max(
        cfg.probes.timing(f).timeout
        for f in ("clickhouse_freshness", "clickhouse_storage", "clickhouse_replicas")
    )
    clients = ch.make_clients(cfg, query_timeout=timeout)
    for client in clients:
        stack.push_async_callback(client.close)
    return specs_for(cfg, clients)
