"""ClickHouse probes: freshness (tables, watched symbols, oldest partition), storage per replica
(disks, table and partition bytes) and replication state per replica.

Interpretation is pure (`render_*`, `select_partitions`, `oldest_partitions`); `build` wires the
clients. Freshness asks the replicas in order and uses the first that answers; storage and
replica probes run per replica so one dead replica never hides another's disk pressure.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime

from exporter.clients import clickhouse as ch
from exporter.config import Config
from exporter.probes.base import ProbeError, ProbeSpec, Sample

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


# --- collection -------------------------------------------------------------------------------


def _partitions(rows: ch.Rows) -> list[Partition]:
    return [Partition(str(t), str(p), int(b), float(m), int(n)) for t, p, b, m, n in rows.rows]


async def collect_freshness(client: ch.ReplicaClient, cfg: Config) -> Freshness:
    c = cfg.clickhouse
    tables, symbols, parts = await asyncio.gather(
        ch.table_last_events(client, database=c.database, tables=c.tables),
        ch.symbol_last_events(
            client,
            database=c.database,
            tables=c.tables,
            symbols=cfg.watch_symbols,
            window=c.symbol_window,
        ),
        ch.partitions(client, database=c.database, tables=c.tables),
    )
    return Freshness(
        tables={str(t): float(ts) for t, ts in tables.rows},
        symbols=[(str(t), str(s), float(ts)) for t, s, ts in symbols.rows],
        partitions=_partitions(parts),
        replica=client.name,
        read_rows=tables.read_rows + symbols.read_rows,
    )


async def first_answer(clients: Sequence[ch.ReplicaClient], cfg: Config) -> Freshness:
    """Freshness from the first replica that answers; all their errors if none does."""
    errors: list[str] = []
    for client in clients:
        try:
            return await collect_freshness(client, cfg)
        except ProbeError as exc:
            errors.append(str(exc))
    raise ProbeError("; ".join(errors))


async def collect_storage(client: ch.ReplicaClient, cfg: Config) -> Storage:
    c = cfg.clickhouse
    disk_rows, parts = await asyncio.gather(
        ch.disks(client), ch.partitions(client, database=c.database, tables=c.tables)
    )
    disks = [(str(n), int(f), int(t)) for n, f, t in disk_rows.rows]
    return Storage(client.name, disks, _partitions(parts))


async def collect_replication(client: ch.ReplicaClient, cfg: Config) -> Replication:
    c = cfg.clickhouse
    rows = await ch.replicas(client, database=c.database, tables=c.tables)
    return Replication(
        client.name,
        [(str(t), int(ro), int(ex), float(d), int(q)) for t, ro, ex, d, q in rows.rows],
    )


def _spec(cfg: Config, family: str, name: str, collect, render) -> ProbeSpec:  # type: ignore[no-untyped-def]
    t = cfg.probes.timing(family)
    return ProbeSpec(name, collect, render, t.interval, t.timeout, t.staleness)


def specs_for(cfg: Config, clients: Sequence[ch.ReplicaClient]) -> list[ProbeSpec]:
    """Probe specs over given clients: `clickhouse_freshness`, and per replica
    `clickhouse_storage/<replica>` and `clickhouse_replicas/<replica>`."""
    top_n = cfg.clickhouse.top_partitions
    specs = [
        _spec(
            cfg,
            "clickhouse_freshness",
            "clickhouse_freshness",
            lambda: first_answer(clients, cfg),
            lambda data: render_freshness(data, signals_table=cfg.clickhouse.signals_table),
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
