"""Thin async ClickHouse I/O: one clickhouse-connect async client per replica, plain rows out.

Identifiers (database, tables) come only from the validated config and are inlined; every
value (symbols, windows, names) travels as a server-side parameter (`{name:Type}`).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import clickhouse_connect
from clickhouse_connect.driver.asyncclient import AsyncClient
from clickhouse_connect.driver.exceptions import ClickHouseError

from exporter.config import ClickHouseConfig, ClickHouseReplica, Config
from exporter.errors import ProbeError

_CODE = re.compile(r"Code: \d+\..*", re.DOTALL)
_NAME = re.compile(r"\(([A-Z][A-Z0-9_]{2,})\)")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class Rows:
    """Result rows and the rows the server read for them (X-ClickHouse-Summary read_rows)."""

    rows: list[tuple[Any, ...]]
    read_rows: int


def _ident(name: str) -> str:
    if not _IDENT.fullmatch(name):  # config already validated; this guards other callers
        raise ValueError(f"not a plain identifier: {name!r}")
    return name


def _is_refused(exc: BaseException) -> bool:
    seen: set[int] = set()
    link: BaseException | None = exc
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        if isinstance(link, ConnectionRefusedError) or "Connect call failed" in str(link):
            return True
        link = link.__cause__ or link.__context__
    return False


def explain(replica: str, exc: BaseException) -> ProbeError:
    """A ProbeError naming the replica and ClickHouse's own `Code: N. ...` text when present."""
    if _is_refused(exc):
        return ProbeError(f"ClickHouse {replica}: connection refused")
    text = str(exc)
    match = _CODE.search(text)
    detail = match.group(0) if match else " ".join(text.split()) or type(exc).__name__
    names = _NAME.findall(detail)
    detail = detail.split(" (version ")[0].split("\n")[0].split(" In scope ")[0].strip()[:240]
    if names and f"({names[-1]})" not in detail:  # keep the error's name, e.g. UNKNOWN_TABLE
        detail = f"{detail.rstrip('. ')}. ({names[-1]})"
    return ProbeError(f"ClickHouse {replica}: {detail}")


class ReplicaClient:
    """One replica. The driver client is created on first use, and again after it failed to."""

    def __init__(
        self,
        replica: ClickHouseReplica,
        *,
        user: str,
        password: str,
        database: str,
        connect_timeout: float,
        query_timeout: float,
        verify: bool = True,
        ca_file: str | None = None,
    ) -> None:
        self.name = replica.name
        self.url = replica.url
        self._options: dict[str, Any] = {
            "username": user,
            "password": password,
            "database": database,
            "connect_timeout": connect_timeout,
            "send_receive_timeout": query_timeout,
            "verify": verify,
            "query_retries": 0,
            "compress": False,
            "autogenerate_query_id": False,
        }
        if ca_file:
            self._options["ca_cert"] = ca_file
        self._client: AsyncClient | None = None
        self._lock = asyncio.Lock()

    async def _get(self) -> AsyncClient:
        async with self._lock:
            if self._client is None:
                parsed = urlparse(self.url)
                secure = parsed.scheme == "https"
                self._client = await clickhouse_connect.get_async_client(
                    host=parsed.hostname,
                    port=parsed.port or (8443 if secure else 8123),
                    interface=parsed.scheme,
                    **self._options,
                )
            return self._client

    async def query(self, sql: str, *, parameters: dict[str, Any] | None = None) -> Rows:
        """Run one SELECT; ClickHouse and transport errors become a ProbeError naming the replica."""
        try:
            client = await self._get()
            result = await client.query(sql, parameters=parameters or {})
        except (ClickHouseError, OSError) as exc:
            raise explain(self.name, exc) from exc
        except Exception as exc:  # aiohttp errors, parse errors: keep the replica in the text
            raise explain(self.name, exc) from exc
        read_rows = int(result.summary.get("read_rows", 0) or 0)
        return Rows([tuple(r) for r in result.result_rows], read_rows)

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.close()


def make_clients(cfg: Config, *, query_timeout: float) -> list[ReplicaClient]:
    """A client per configured replica, with the password from `cfg.secret`."""
    ch: ClickHouseConfig = cfg.clickhouse
    secret = cfg.secret("clickhouse.password")
    return [
        ReplicaClient(
            replica,
            user=ch.user,
            password=secret.get() if secret else "",
            database=ch.database,
            connect_timeout=ch.connect_timeout,
            query_timeout=query_timeout,
            verify=ch.verify_tls,
            ca_file=str(ch.ca_file) if ch.ca_file else None,
        )
        for replica in ch.replicas
    ]


# --- queries: keyword-only, plain rows out --------------------------------------------------


async def table_last_events(client: ReplicaClient, *, database: str, tables: Sequence[str]) -> Rows:
    """(table, max(event_ts) as epoch seconds (0 when empty), the server's now()) per table. The
    max over all data is answered from the partition min/max index (event_ts is in the partition
    key), not a scan."""
    parts = [
        f"SELECT '{_ident(t)}' AS table, toFloat64(max(event_ts)) AS ts, "
        f"toFloat64(now()) AS now FROM {_ident(database)}.{_ident(t)}"
        for t in tables
    ]
    return await client.query(" UNION ALL ".join(parts))


async def table_last_events_bounded(
    client: ReplicaClient, *, database: str, tables: Sequence[str], future: float
) -> Rows:
    """(table, max(event_ts) of rows at most `future` seconds ahead of now(), count of rows
    beyond that). Only asked for tables whose plain max is in the future: it reads more."""
    bound = "now() + toIntervalSecond({future:UInt32})"
    parts = [
        f"SELECT '{_ident(t)}' AS table, "
        f"(SELECT toFloat64(max(event_ts)) FROM {_ident(database)}.{_ident(t)} "
        f"WHERE event_ts <= {bound}) AS ts, "
        f"(SELECT count() FROM {_ident(database)}.{_ident(t)} WHERE event_ts > {bound}) AS ahead"
        for t in tables
    ]
    return await client.query(" UNION ALL ".join(parts), parameters={"future": int(future)})


async def symbol_last_events(
    client: ReplicaClient,
    *,
    database: str,
    tables: Sequence[str],
    symbols: Sequence[str],
    window: float,
    future: float,
) -> Rows:
    """(table, symbol, max(event_ts)) for the watched symbols over the recent window only, rows
    more than `future` seconds ahead ignored: the event_ts bounds prune partitions and the
    (symbol, event_ts) key prunes granules."""
    parts = [
        f"SELECT '{_ident(t)}' AS table, toString(symbol) AS symbol, "
        f"toFloat64(max(event_ts)) AS ts FROM {_ident(database)}.{_ident(t)} "
        "WHERE symbol IN {symbols:Array(String)} "
        "AND event_ts > now() - toIntervalSecond({window:UInt32}) "
        "AND event_ts <= now() + toIntervalSecond({future:UInt32}) GROUP BY symbol"
        for t in tables
    ]
    return await client.query(
        " UNION ALL ".join(parts),
        parameters={"symbols": list(symbols), "window": int(window), "future": int(future)},
    )


async def disks(client: ReplicaClient, *, database: str, tables: Sequence[str]) -> Rows:
    """(disk, free_space, total_space, unreserved_space) of the disks that hold or may receive
    the tables' parts: their active parts' disks and their storage policies' disks."""
    return await client.query(
        "SELECT name, free_space, total_space, unreserved_space FROM system.disks "
        "WHERE name IN (SELECT disk_name FROM system.parts WHERE active "
        "AND database = {db:String} AND table IN {tables:Array(String)}) "
        "OR name IN (SELECT arrayJoin(disks) FROM system.storage_policies WHERE policy_name IN "
        "(SELECT storage_policy FROM system.tables WHERE database = {db:String} "
        "AND name IN {tables:Array(String)})) ORDER BY name",
        parameters={"db": database, "tables": list(tables)},
    )


async def partitions(client: ReplicaClient, *, database: str, tables: Sequence[str]) -> Rows:
    """(table, partition, bytes_on_disk, min_time epoch, rows) per active partition."""
    return await client.query(
        "SELECT table, partition, sum(bytes_on_disk), toFloat64(min(min_time)), sum(rows) "
        "FROM system.parts WHERE active AND database = {db:String} "
        "AND table IN {tables:Array(String)} GROUP BY table, partition ORDER BY table, partition",
        parameters={"db": database, "tables": list(tables)},
    )


async def table_engines(client: ReplicaClient, *, database: str, tables: Sequence[str]) -> Rows:
    """(table, engine_full) of the TA tables: their TTL clause."""
    return await client.query(
        "SELECT name, engine_full FROM system.tables WHERE database = {db:String} "
        "AND name IN {tables:Array(String)} ORDER BY name",
        parameters={"db": database, "tables": list(tables)},
    )


async def replicas(client: ReplicaClient, *, database: str, tables: Sequence[str]) -> Rows:
    """(table, is_readonly, is_session_expired, absolute_delay, queue_size, zookeeper_exception)
    from system.replicas."""
    return await client.query(
        "SELECT table, is_readonly, is_session_expired, absolute_delay, queue_size, "
        "zookeeper_exception "
        "FROM system.replicas WHERE database = {db:String} AND table IN {tables:Array(String)} "
        "ORDER BY table",
        parameters={"db": database, "tables": list(tables)},
    )
