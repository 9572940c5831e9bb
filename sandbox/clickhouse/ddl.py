"""Seed DDL for the `torghut` database: the two tables the TA pipeline writes.

The job delivers at least once (`TA_KAFKA_DELIVERY_GUARANTEE=AT_LEAST_ONCE`) and a replay writes
rows again, so the tables are ReplacingMergeTree keyed by (symbol, event_ts): rows written twice
collapse into one (the newest `ingest_ts` wins) at merge time, and `SELECT ... FINAL` counts them
once before that. Daily partitions (what procedure A drops) and a TTL on the event time.
"""

from __future__ import annotations

import re
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


def table_engine(table: str, kind: EngineKind, database: str = DATABASE) -> str:
    """ReplacingMergeTree (version column `ingest_ts`: the newest write wins), or its replicated
    twin with the usual {shard}/{replica} macros."""
    if kind == "replicated":
        return (
            "ReplicatedReplacingMergeTree("
            f"'/clickhouse/tables/{{shard}}/{database}/{table}', '{{replica}}', ingest_ts)"
        )
    if kind == "mergetree":
        return "ReplacingMergeTree(ingest_ts)"
    raise ValueError(f"unknown table engine kind {kind!r}: use 'mergetree' or 'replicated'")


def seed_statements(
    *, engine: EngineKind = "mergetree", ttl_days: int = 30, database: str = DATABASE
) -> list[str]:
    """CREATE statements (idempotent) for `database` (default `torghut`) and its TA tables."""
    if ttl_days < 1:
        raise ValueError(f"ttl_days must be at least 1, got {ttl_days}")
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", database):
        raise ValueError(f"database name must be a plain identifier, got {database!r}")
    statements = [f"CREATE DATABASE IF NOT EXISTS {database}"]
    for table in TABLES:
        statements.append(
            f"CREATE TABLE IF NOT EXISTS {database}.{table} ({_COLUMNS[table]}\n)\n"
            f"ENGINE = {table_engine(table, engine, database)}\n"
            "PARTITION BY toDate(event_ts)\n"
            "ORDER BY (symbol, event_ts)\n"
            f"TTL toDateTime(event_ts) + INTERVAL {int(ttl_days)} DAY"
        )
    return statements
