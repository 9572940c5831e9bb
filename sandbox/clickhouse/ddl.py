"""Seed DDL for the `torghut` database: the two tables the TA pipeline writes."""

from __future__ import annotations

from typing import Literal

EngineKind = Literal["mergetree", "replicated"]

DATABASE = "torghut"
TABLES = ("ta_signals", "ta_microbars")

_COLUMNS: dict[str, str] = {
    "ta_signals": """
    event_ts DateTime64(3, 'UTC'),
    symbol LowCardinality(String),
    ema_12 Nullable(Float64),
    ema_26 Nullable(Float64),
    macd Nullable(Float64),
    macd_signal Nullable(Float64),
    rsi_14 Nullable(Float64),
    vwap Nullable(Float64),
    ingest_ts DateTime64(3, 'UTC') DEFAULT now64(3)""",
    "ta_microbars": """
    event_ts DateTime64(3, 'UTC'),
    symbol LowCardinality(String),
    open Float64,
    high Float64,
    low Float64,
    close Float64,
    volume Float64,
    trade_count UInt32,
    ingest_ts DateTime64(3, 'UTC') DEFAULT now64(3)""",
}


def table_engine(table: str, kind: EngineKind) -> str:
    """MergeTree, or ReplicatedMergeTree with the usual {shard}/{replica} macros."""
    if kind == "replicated":
        return (
            f"ReplicatedMergeTree('/clickhouse/tables/{{shard}}/{DATABASE}/{table}', '{{replica}}')"
        )
    if kind == "mergetree":
        return "MergeTree"
    raise ValueError(f"unknown table engine kind {kind!r}: use 'mergetree' or 'replicated'")


def seed_statements(*, engine: EngineKind = "mergetree", ttl_days: int = 30) -> list[str]:
    """CREATE statements (idempotent) for database `torghut` and its TA tables."""
    if ttl_days < 1:
        raise ValueError(f"ttl_days must be at least 1, got {ttl_days}")
    statements = [f"CREATE DATABASE IF NOT EXISTS {DATABASE}"]
    for table in TABLES:
        statements.append(
            f"CREATE TABLE IF NOT EXISTS {DATABASE}.{table} ({_COLUMNS[table]}\n)\n"
            f"ENGINE = {table_engine(table, engine)}\n"
            "PARTITION BY toDate(event_ts)\n"
            "ORDER BY (symbol, event_ts)\n"
            f"TTL toDateTime(event_ts) + INTERVAL {int(ttl_days)} DAY"
        )
    return statements
