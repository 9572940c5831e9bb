"""The ClickHouse probes: freshness from every replica at once (clickhouse_freshness.py),
storage and replication per replica.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Sequence
from contextlib import AsyncExitStack
from functools import partial
from typing import Any

from exporter.clients import clickhouse as ch
from exporter.config import Config
from exporter.families.clickhouse_freshness import (
    collect_freshness,
    newest_answer,
    replica_timeout,
)
from exporter.probes.base import ProbeSpec, Sample
from exporter.probes.clickhouse import (
    Replication,
    Storage,
    render_freshness,
    render_replication,
    render_storage,
    usable_disks,
)
from exporter.probes.clickhouse_freshness import PERSIST
from exporter.probes.clickhouse_parts import partitions_of

__all__ = [
    "build", "collect_freshness", "collect_replication", "collect_storage", "newest_answer",
    "replica_timeout", "specs_for",
]  # fmt: skip


async def collect_storage(client: ch.ReplicaClient, cfg: Config) -> Storage:
    c = cfg.clickhouse
    disk_rows, parts = await asyncio.gather(
        ch.disks(client, database=c.database, tables=c.tables),
        ch.partitions(client, database=c.database, tables=c.tables),
    )
    return Storage(client.name, usable_disks(disk_rows.rows), partitions_of(parts.rows))


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


def _spec(
    cfg: Config,
    family: str,
    name: str,
    collect: Callable[[], Awaitable[Any]],
    render: Callable[[Any], Iterable[Sample]],
    persist: frozenset[str] = frozenset(),
) -> ProbeSpec:
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
            partial(newest_answer, clients, cfg),
            partial(render_freshness, signals_table=cfg.clickhouse.signals_table),
            PERSIST,
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
