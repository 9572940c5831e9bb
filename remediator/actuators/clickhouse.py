"""ClickHouse actuation as the remediation user: drop a partition, restart and restore a replica,
and re-read which replicas are read-only.

No identifier is taken raw: the replica must be a configured one, the table a plain identifier on
the allowlist (by default `clickhouse.tables`), the partition the shape `system.parts` gives and
present there; identifiers are backquoted and the partition goes in as `PARTITION ID '<id>'`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, NoReturn
from urllib.parse import urlparse

import clickhouse_connect
from clickhouse_connect.driver.asyncclient import AsyncClient
from clickhouse_connect.driver.exceptions import DatabaseError, Error

from exporter.config import ClickHouseReplica
from remediator.actuators import ActuationError, Fence
from remediator.config import RemediatorConfig
from remediator.config_cluster import ClickHouseRemediation

log = logging.getLogger(__name__)

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PARTITION = re.compile(r"[0-9A-Za-z_-]+")
_GRANT = re.compile(r"necessary to have the grant ([A-Z][A-Z ]*? ON [\w.*`]+)")
NOT_ENOUGH_SPACE, TOO_LARGE_TO_DROP, ACCESS_DENIED = 243, 359, 497


def quote_ident(name: str) -> str:
    """A validated identifier in backquotes (validation keeps backquotes and escapes out)."""
    if not _IDENT.fullmatch(name):
        raise ActuationError(f"not a plain identifier: {name!r}", escalate=True, code="invalid")
    return f"`{name}`"


def quote_literal(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _identity(cfg: RemediatorConfig) -> tuple[ClickHouseRemediation, str]:
    ident = cfg.remediator.clickhouse_remediation
    secret = cfg.secret("remediator.clickhouse_remediation.password")
    if ident is None or secret is None:
        raise ActuationError(
            "remediator.clickhouse_remediation is not configured: the remediator has no "
            "ClickHouse identity to act as",
            escalate=True,
            code="unconfigured",
        )
    return ident, secret.get()


def _replica(cfg: RemediatorConfig, name: str) -> ClickHouseReplica:
    for replica in cfg.clickhouse.replicas:
        if replica.name == name and name in cfg.allowed("replica"):
            return replica
    raise ActuationError(
        f"ClickHouse replica {name!r} is not a configured, allowed replica",
        escalate=True,
        code="invalid",
    )


def _table(cfg: RemediatorConfig, table: str) -> str:
    if table not in cfg.allowed("table"):
        raise ActuationError(
            f"table {table!r} is not on the remediator's table allowlist",
            escalate=True,
            code="invalid",
        )
    return f"{quote_ident(cfg.clickhouse.database)}.{quote_ident(table)}"


@asynccontextmanager
async def _connect(cfg: RemediatorConfig, replica: ClickHouseReplica) -> AsyncIterator[AsyncClient]:
    ident, password = _identity(cfg)
    ch = cfg.clickhouse
    parsed = urlparse(replica.url)
    secure = parsed.scheme == "https"
    options: dict[str, Any] = {}
    if ch.ca_file:
        options["ca_cert"] = str(ch.ca_file)
    try:
        client = await clickhouse_connect.get_async_client(
            host=parsed.hostname,
            port=parsed.port or (8443 if secure else 8123),
            interface=parsed.scheme,
            username=ident.user,
            password=password,
            database=ch.database,
            connect_timeout=ch.connect_timeout,
            send_receive_timeout=ident.query_timeout,
            verify=ch.verify_tls,
            query_retries=0,
            compress=False,
            autogenerate_session_id=False,
            **options,
        )
    except Exception as exc:  # the driver pings the server on creation
        _raise(replica.name, "connect", exc)
    try:
        yield client
    finally:
        await client.close()


def _grant(text: str) -> str:
    match = _GRANT.search(text)
    return match.group(1).rstrip(".") if match else "(unnamed in the error)"


def _raise(replica: str, what: str, exc: BaseException, extra: str = "") -> NoReturn:
    """Map a driver error to the actuator contract; the text never holds the password (the
    driver's errors carry the server's message and the URL, never credentials)."""
    code = exc.code if isinstance(exc, Error) else None
    text = " ".join(str(exc).split())
    text = text.split(" (version ")[0][:400]
    where = f"ClickHouse {replica}: {what}"
    if code == ACCESS_DENIED:
        raise ActuationError(
            f"{where}: access denied: the remediation user lacks the grant {_grant(text)} "
            "(docs/security.md lists its grants)",
            escalate=True,
            code=str(code),
        ) from None
    if code == NOT_ENOUGH_SPACE:
        raise ActuationError(
            f"{where}: the disk is too full for ClickHouse to write even the empty part a drop "
            f"needs (Code 243 NOT_ENOUGH_SPACE){extra}. By hand: grow the volume, or free space "
            "inside ClickHouse (ALTER TABLE ... DROP DETACHED PARTITION, TRUNCATE the system.*_log "
            "tables); never delete files on the node",
            escalate=True,
            code=str(code),
        ) from None
    if code == TOO_LARGE_TO_DROP:
        raise ActuationError(
            f"{where}: larger than the server's max_partition_size_to_drop (Code 359){extra}; "
            "a person decides: raise max_partition_size_to_drop or drop it by hand with the "
            "force_drop_table flag; the remediator never forces it",
            escalate=True,
            code=str(code),
        ) from None
    if code is None and isinstance(exc, DatabaseError | OSError | TimeoutError):
        # no server code: the network, a timeout or a refused connection; the statement may or
        # may not have run, and each of ours is safe to repeat (re-read first)
        raise ActuationError(f"{where}: {text}", retryable=True, code="network") from None
    if code is None and not isinstance(exc, Error):
        raise ActuationError(
            f"{where}: {type(exc).__name__}: {text}", retryable=True, code="network"
        ) from None
    raise ActuationError(f"{where}: {text}", escalate=True, code=str(code or "")) from None


async def _rows(
    client: AsyncClient, replica: str, sql: str, params: dict[str, Any]
) -> list[tuple[Any, ...]]:
    try:
        result = await client.query(sql, parameters=params)
    except Exception as exc:
        _raise(replica, "read", exc)
    return [tuple(r) for r in result.result_rows]


async def _command(client: AsyncClient, replica: str, sql: str, extra: str = "") -> None:
    try:
        await client.command(sql)
    except Exception as exc:
        _raise(replica, sql, exc, extra)


async def drop_partition(
    *, cfg: RemediatorConfig, replica: str, table: str, partition: str, fence: Fence
) -> None:
    """`ALTER TABLE db.table DROP PARTITION ID '<id>'` on one replica. `partition` is the
    `partition` or `partition_id` value of `system.parts`; one no longer there is already
    dropped (success: a resumed run repeats the step)."""
    target = _replica(cfg, replica)
    qualified = _table(cfg, table)
    if not _PARTITION.fullmatch(partition):
        raise ActuationError(
            f"partition {partition!r} of {table} is not a partition id (letters, digits, _ and -)",
            escalate=True,
            code="invalid",
        )
    async with _connect(cfg, target) as client:
        found = await _rows(
            client,
            replica,
            "SELECT partition_id, sum(bytes_on_disk), sum(rows) FROM system.parts "
            "WHERE active AND database = {db:String} AND table = {t:String} "
            "AND (partition = {p:String} OR partition_id = {p:String}) GROUP BY partition_id",
            {"db": cfg.clickhouse.database, "t": table, "p": partition},
        )
        if not found:
            log.info("partition %s of %s on %s is already gone", partition, table, replica)
            return
        if len(found) > 1:
            raise ActuationError(
                f"partition {partition!r} of {table} names {len(found)} partitions on {replica}",
                escalate=True,
                code="invalid",
            )
        partition_id, size, rows = str(found[0][0]), int(found[0][1]), int(found[0][2])
        if not _PARTITION.fullmatch(partition_id):
            raise ActuationError(
                f"system.parts gave an unexpected partition id {partition_id!r} for {table}",
                escalate=True,
                code="invalid",
            )
        extra = await _space(client, replica, f"; partition {partition_id}: {size} bytes")
        sql = f"ALTER TABLE {qualified} DROP PARTITION ID {quote_literal(partition_id)}"
        fence()
        await _command(client, replica, sql, extra)
        log.info("dropped partition %s of %s on %s (%d rows)", partition_id, table, replica, rows)


async def _space(client: AsyncClient, replica: str, prefix: str) -> str:
    """The numbers an escalation needs (free and total of each disk), best effort."""
    try:
        result = await client.query("SELECT name, free_space, total_space FROM system.disks")
    except Exception:  # reading the numbers must not hide the real error
        return prefix
    disks = ", ".join(
        f"disk {name}: {int(free)} of {int(total)} bytes free"
        for name, free, total in result.result_rows
    )
    return f"{prefix}; {disks}" if disks else prefix


async def restart_replica(*, cfg: RemediatorConfig, replica: str, table: str, fence: Fence) -> None:
    """`SYSTEM RESTART REPLICA db.table`: re-initialises the table's Keeper session and state
    (safe to repeat)."""
    target, qualified = _replica(cfg, replica), _table(cfg, table)
    async with _connect(cfg, target) as client:
        fence()
        await _command(client, replica, f"SYSTEM RESTART REPLICA {qualified}")


async def restore_replica(*, cfg: RemediatorConfig, replica: str, table: str, fence: Fence) -> None:
    """`SYSTEM RESTORE REPLICA db.table`: re-creates lost Keeper metadata from the local parts.
    ClickHouse refuses it while the metadata exists ("nothing to restore"): a repeat after a
    successful restore is therefore success."""
    target, qualified = _replica(cfg, replica), _table(cfg, table)
    async with _connect(cfg, target) as client:
        fence()
        try:
            await client.command(f"SYSTEM RESTORE REPLICA {qualified}")
        except Exception as exc:
            if "nothing to restore" in str(exc):
                log.info("%s on %s has its Keeper metadata: nothing to restore", table, replica)
                return
            _raise(replica, f"SYSTEM RESTORE REPLICA {qualified}", exc)


async def readonly_replicas(*, cfg: RemediatorConfig) -> list[tuple[str, str]]:
    """(replica, table) of every configured replica's read-only TA tables, from
    `system.replicas`. A replica that cannot be read raises (unknown is never writable)."""
    out: list[tuple[str, str]] = []
    tables = sorted(cfg.allowed("table"))
    for replica in cfg.clickhouse.replicas:
        if replica.name not in cfg.allowed("replica"):
            continue
        async with _connect(cfg, replica) as client:
            rows = await _rows(
                client,
                replica.name,
                "SELECT table FROM system.replicas WHERE is_readonly AND database = {db:String} "
                "AND table IN {tables:Array(String)} ORDER BY table",
                {"db": cfg.clickhouse.database, "tables": tables},
            )
        out.extend((replica.name, str(r[0])) for r in rows)
    return out
