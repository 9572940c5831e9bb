"""Signal freshness from ClickHouse: every replica read concurrently, the newest answer wins.

Each replica is read under its own timeout (shorter than the probe's), so a hung replica costs
only its own answer; freshness is the newest value across the replicas that answered, and each
replica's own view is exported too. Rows more than `clickhouse.future_tolerance` ahead of the
server's clock are ignored (and counted): one future-dated row must not keep signals "fresh".
A watched symbol without rows in the scan window is reported as missing, not left out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from exporter.config import Config
from exporter.probes.base import Sample
from exporter.probes.clickhouse_parts import Partition, oldest_partitions

P = "torghut_ta_"
# these stay exported with their last value while ClickHouse cannot be read (see snapshot.py)
PERSIST = frozenset(
    {
        f"{P}table_last_event_timestamp_seconds",
        f"{P}signals_last_event_timestamp_seconds",
        f"{P}symbol_last_event_timestamp_seconds",
    }
)


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
    ttls: dict[str, float] = field(default_factory=dict)  # table -> delete TTL (seconds)


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
    ttls: dict[str, float] = {}
    for a in answers:
        for t, ttl in a.ttls.items():  # replicas disagree only mid-ALTER: the shorter is safe
            ttls[t] = min(ttl, ttls.get(t, ttl))
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
        ttls=ttls,
    )


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
    out += [
        Sample(f"{P}clickhouse_table_ttl_seconds", ttl, {"table": t})
        for t, ttl in sorted(data.ttls.items())
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
