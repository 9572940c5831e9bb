"""Signal freshness from ClickHouse: every replica read concurrently, the newest answer wins.

Each replica is read under its own timeout (shorter than the probe's), so a hung replica costs
only its own answer; freshness is the newest value across the replicas that answered, and each
replica's own view is exported too. Rows more than `clickhouse.future_tolerance` ahead of the
server's clock are ignored (and counted): one future-dated row must not keep signals "fresh".
A watched symbol without rows in the scan window is reported as missing, not left out.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

from exporter.clients import clickhouse as ch
from exporter.config import Config
from exporter.probes.base import ProbeError, Sample
from exporter.probes.clickhouse_parts import Partition, oldest_partitions, partitions_of

P = "torghut_ta_"
# these stay exported with their last value while ClickHouse cannot be read (see snapshot.py)
PERSIST = frozenset({f"{P}table_last_event_timestamp_seconds", f"{P}symbol_last_event_timestamp_seconds"})  # fmt: skip


@dataclass(frozen=True)
class Freshness:
    tables: dict[str, float]  # table -> max(event_ts); 0 for an empty table
    symbols: list[tuple[str, str, float]]  # (table, symbol, max(event_ts)) within the window
    partitions: list[Partition]
    replica: str = ""  # the replicas that answered, comma-separated
    read_rows: int = 0
    future_rows: dict[str, int] = field(default_factory=dict)  # table -> rows ignored
    missing_symbols: list[tuple[str, str]] = field(default_factory=list)  # (table, symbol)
    by_replica: dict[str, dict[str, float]] = field(default_factory=dict)  # replica -> tables
    failed: dict[str, str] = field(default_factory=dict)  # replica -> error


def missing(watched: Sequence[str], tables: Sequence[str], symbols: Sequence[tuple[str, str, float]]) -> list[tuple[str, str]]:  # fmt: skip
    """(table, symbol) of every watched symbol with no row in the window."""
    seen = {(t, s) for t, s, ts in symbols if ts > 0}
    return [(t, s) for t in tables for s in watched if (t, s) not in seen]


def merge(answers: Sequence[Freshness], failed: dict[str, str], cfg: Config) -> Freshness:
    """The newest view across the replicas that answered."""
    tables: dict[str, float] = {}
    symbols: dict[tuple[str, str], float] = {}
    future: dict[str, int] = {}
    parts: list[Partition] = []
    for a in answers:
        for t, ts in a.tables.items():
            tables[t] = max(ts, tables.get(t, 0.0))
        for t, s, ts in a.symbols:
            symbols[(t, s)] = max(ts, symbols.get((t, s), 0.0))
        for t, n in a.future_rows.items():
            future[t] = max(n, future.get(t, 0))
        parts.extend(a.partitions)
    merged = [(t, s, ts) for (t, s), ts in sorted(symbols.items())]
    return Freshness(
        tables=tables,
        symbols=merged,
        partitions=parts,
        replica=",".join(a.replica for a in answers),
        read_rows=sum(a.read_rows for a in answers),
        future_rows=future,
        missing_symbols=missing(cfg.watch_symbols, cfg.clickhouse.tables, merged),
        by_replica={a.replica: dict(a.tables) for a in answers},
        failed=dict(failed),
    )


def render_freshness(data: Freshness) -> list[Sample]:
    out = [
        Sample(f"{P}table_last_event_timestamp_seconds", ts, {"table": t})
        for t, ts in sorted(data.tables.items())
        if ts > 0
    ]
    out += [
        Sample(f"{P}symbol_last_event_timestamp_seconds", ts, {"table": t, "symbol": s})
        for t, s, ts in data.symbols
        if ts > 0
    ]
    out += [
        Sample(f"{P}symbol_missing", 1.0, {"table": t, "symbol": s})
        for t, s in data.missing_symbols
    ]
    out += [
        Sample(f"{P}symbol_missing", 0.0, {"table": t, "symbol": s})
        for t, s, ts in data.symbols
        if ts > 0
    ]
    out += [
        Sample(f"{P}table_future_rows", float(data.future_rows.get(t, 0)), {"table": t})
        for t in sorted(data.tables)
    ]
    out += [
        Sample(f"{P}clickhouse_oldest_partition_timestamp_seconds", ts, {"table": t})
        for t, ts in sorted(oldest_partitions(data.partitions).items())
    ]
    for replica, tables in sorted(data.by_replica.items()):
        out.append(Sample(f"{P}replica_freshness_success", 1.0, {"replica": replica}))
        out += [
            Sample(
                f"{P}replica_table_last_event_timestamp_seconds",
                ts,
                {"replica": replica, "table": t},
            )
            for t, ts in sorted(tables.items())
            if ts > 0
        ]
    out += [
        Sample(f"{P}replica_freshness_success", 0.0, {"replica": r}) for r in sorted(data.failed)
    ]
    return out


async def collect_freshness(client: ch.ReplicaClient, cfg: Config) -> Freshness:
    """One replica's freshness; tables whose newest row is ahead of the tolerance are read again
    with the future rows left out (and counted)."""
    c = cfg.clickhouse
    tables, symbols, parts = await asyncio.gather(
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
        partitions=partitions_of(parts),
        replica=client.name,
        read_rows=read_rows,
        future_rows=future,
        missing_symbols=missing(cfg.watch_symbols, c.tables, syms),
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
