"""ClickHouse reads of a replay: the output tables' engines and TTL (`system.tables`), and
whether the window's rows were rewritten without duplicates."""

from __future__ import annotations

import re
from dataclasses import dataclass

from remediator.actuators.clickhouse import _connect, _replica, _rows, _table
from remediator.config import RemediatorConfig

_UNITS = {"SECOND": 1, "MINUTE": 60, "HOUR": 3600, "DAY": 86400, "WEEK": 604800,
          "MONTH": 2592000, "YEAR": 31536000}  # fmt: skip
_TTL_INTERVAL = re.compile(
    r"\bTTL\b.*?INTERVAL\s+(\d+)\s+(SECOND|MINUTE|HOUR|DAY|WEEK|MONTH|YEAR)", re.I | re.S
)
_TTL_FUNC = re.compile(
    r"\bTTL\b.*?toInterval(Second|Minute|Hour|Day|Week|Month|Year)\((\d+)\)", re.I | re.S
)


def ttl_seconds(engine_full: str) -> float | None:
    """The table TTL's interval in seconds (None: no TTL clause found)."""
    m = _TTL_INTERVAL.search(engine_full)
    if m:
        return float(int(m.group(1)) * _UNITS[m.group(2).upper()])
    m = _TTL_FUNC.search(engine_full)
    if m:
        return float(int(m.group(2)) * _UNITS[m.group(1).upper()])
    return None


@dataclass(frozen=True)
class TableInfo:
    engine: str
    ttl_seconds: float | None


async def tables(*, cfg: RemediatorConfig) -> dict[str, TableInfo]:
    """Engine and TTL of each configured TA table (from the first replica)."""
    replica = _replica(cfg, cfg.clickhouse.replicas[0].name)
    async with _connect(cfg, replica) as client:
        rows = await _rows(
            client,
            replica.name,
            "SELECT name, engine, engine_full FROM system.tables "
            "WHERE database = {db:String} AND has({names:Array(String)}, name)",
            {"db": cfg.clickhouse.database, "names": list(cfg.clickhouse.tables)},
        )
    return {str(n): TableInfo(str(e), ttl_seconds(str(full))) for n, e, full in rows}


@dataclass(frozen=True)
class Rewritten:
    rows: int  # rows in the window, FINAL (each key once)
    keys: int  # distinct (symbol, event_ts)
    rewritten: int  # rows whose ingest_ts is at or after the replay's start
    raw: int  # rows without FINAL (duplicates not merged yet count here)


async def window_rows(
    *, cfg: RemediatorConfig, table: str, from_ms: int, to_ms: int, since_ms: int
) -> Rewritten:
    replica = _replica(cfg, cfg.clickhouse.replicas[0].name)
    name = _table(cfg, table)
    where = (
        "event_ts >= fromUnixTimestamp64Milli({a:Int64}) "
        "AND event_ts < fromUnixTimestamp64Milli({b:Int64})"
    )
    params = {"a": from_ms, "b": to_ms, "s": since_ms}
    async with _connect(cfg, replica) as client:
        final = await _rows(
            client,
            replica.name,
            f"SELECT count(), uniqExact(symbol, event_ts), "
            f"countIf(ingest_ts >= fromUnixTimestamp64Milli({{s:Int64}})) "
            f"FROM {name} FINAL WHERE {where}",
            params,
        )
        raw = await _rows(client, replica.name, f"SELECT count() FROM {name} WHERE {where}", params)
    rows, keys, rewritten = (int(v) for v in final[0])
    return Rewritten(rows, keys, rewritten, int(raw[0][0]))
