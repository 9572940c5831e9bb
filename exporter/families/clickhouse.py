"""The ClickHouse probes: freshness from the first replica that answers, storage and
replication per replica.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Sequence
from contextlib import AsyncExitStack
from functools import partial
from typing import Any

from exporter.clients import clickhouse as ch
from exporter.config import Config
from exporter.probes.base import ProbeError, ProbeSpec, Sample
from exporter.probes.clickhouse import (
    Freshness,
    Partition,
    Replication,
    Storage,
    render_freshness,
    render_replication,
    render_storage,
)


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


def _spec(
    cfg: Config,
    family: str,
    name: str,
    collect: Callable[[], Awaitable[Any]],
    render: Callable[[Any], Iterable[Sample]],
) -> ProbeSpec:
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
            partial(first_answer, clients, cfg),
            partial(render_freshness, signals_table=cfg.clickhouse.signals_table),
        )
    ]
    for client in clients:
        specs.append(
            _spec(
                cfg,
                "clickhouse_storage",
                f"clickhouse_storage/{client.name}",
                partial(collect_storage, client, cfg),
                partial(render_storage, top_n=top_n),
            )
        )
        specs.append(
            _spec(
                cfg,
                "clickhouse_replicas",
                f"clickhouse_replicas/{client.name}",
                partial(collect_replication, client, cfg),
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
