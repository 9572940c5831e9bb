"""Signal freshness from ClickHouse: every replica read concurrently, the newest answer wins.

Each replica is read under its own timeout (shorter than the probe's), so a hung replica costs
only its own answer. The merge and the rendering are pure (`exporter.probes.clickhouse_freshness`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from exporter.clients import clickhouse as ch
from exporter.config import Config
from exporter.errors import ProbeError
from exporter.probes.clickhouse_freshness import Freshness, merge, missing
from exporter.probes.clickhouse_parts import partitions_of
from exporter.probes.clickhouse_ttl import ttl_seconds


async def collect_freshness(client: ch.ReplicaClient, cfg: Config) -> Freshness:
    """One replica's freshness; tables whose newest row is ahead of the tolerance are read again
    with the future rows left out (and counted)."""
    c = cfg.clickhouse
    tables, symbols, parts, engines = await asyncio.gather(
        ch.table_last_events(client, database=c.database, tables=c.tables),
        ch.symbol_last_events(
            client,
            database=c.database,
            tables=c.tables,
            symbols=cfg.watch_symbols,
            window=c.symbol_window,
            future=c.future_tolerance,
        ),
        ch.partitions(client, database=c.database, tables=c.tables),
        ch.table_engines(client, database=c.database, tables=c.tables),
    )
    last = {str(t): float(ts) for t, ts, _ in tables.rows}
    ahead = [str(t) for t, ts, now in tables.rows if float(ts) > float(now) + c.future_tolerance]
    future: dict[str, int] = {}
    read_rows = tables.read_rows + symbols.read_rows
    if ahead:
        bounded = await ch.table_last_events_bounded(
            client, database=c.database, tables=ahead, future=c.future_tolerance
        )
        for t, ts, n in bounded.rows:
            last[str(t)] = float(ts or 0.0)
            future[str(t)] = int(n)
        read_rows += bounded.read_rows
    syms = [(str(t), str(s), float(ts)) for t, s, ts in symbols.rows]
    return Freshness(
        tables=last,
        symbols=syms,
        partitions=partitions_of(parts.rows),
        replica=client.name,
        read_rows=read_rows,
        future_rows=future,
        missing_symbols=missing(cfg.watch_symbols, c.tables, syms),
        ttls={str(t): ttl for t, engine in engines.rows if (ttl := ttl_seconds(str(engine)))},
    )


def replica_timeout(cfg: Config) -> float:
    """Each replica's share of the freshness probe's timeout."""
    configured = cfg.clickhouse.replica_timeout  # checked shorter than the probe's by the config
    if configured is None:
        return cfg.probes.timing("clickhouse_freshness").timeout * 0.8
    return configured


async def newest_answer(clients: Sequence[ch.ReplicaClient], cfg: Config) -> Freshness:
    """Every replica at once, each under `replica_timeout`; all their errors if none answers."""
    timeout = replica_timeout(cfg)

    async def one(client: ch.ReplicaClient) -> Freshness | str:
        try:
            async with asyncio.timeout(timeout):
                return await collect_freshness(client, cfg)
        except TimeoutError:
            return f"ClickHouse {client.name}: timeout after {timeout:g}s"
        except ProbeError as exc:
            return str(exc)

    results = await asyncio.gather(*(one(c) for c in clients))
    answers = [r for r in results if isinstance(r, Freshness)]
    failed = {c.name: r for c, r in zip(clients, results, strict=True) if isinstance(r, str)}
    if not answers:
        raise ProbeError("; ".join(failed.values()))
    return merge(answers, failed, cfg)
