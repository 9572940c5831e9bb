"""The ClickHouse actuator against the sandbox's real engine, as the remediation user held to its
grants: drops are idempotent, identifiers never reach SQL unvalidated, and 243/359/497 and
network errors map to the actuator contract."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client
from remediator_kit import remediator_data

from remediator.actuators import ActuationError, NotLeader, no_fence
from remediator.actuators import clickhouse as act
from remediator.config import RemediatorConfig, parse_remediator_config
from sandbox.clickhouse.grants import ROLES
from sandbox.clickhouse.replicated import replica_path, zk_cli
from sandbox.testing.clickhouse import (
    PASSWORD,
    ROLE_USERS,
    ClickHouseServer,
    exhaust_disk,
    fill_disk,
    replicated_pair,
    start_server,
)
from sandbox.util import free_port

COLUMNS = ["event_ts", "symbol", "macd"]


def day(n: int) -> dt.date:
    """A day of its own per test, inside the tables' 30-day TTL (older rows may vanish)."""
    return dt.date.today() - dt.timedelta(days=10 + n)


GRANTED_USERS = {ROLE_USERS[role]: (PASSWORD, grants) for role, grants in ROLES.items()}


def config(
    tmp_path: Path,
    server: ClickHouseServer | None,
    *,
    user: str = "torghut_remediator",
    password: str = PASSWORD,
    url: str | None = None,
    **section: Any,
) -> RemediatorConfig:
    secret = tmp_path / "ch-remediator-password"
    secret.write_text(password + "\n")
    data = remediator_data(
        tmp_path,
        clickhouse_remediation={"user": user, "password": {"file": str(secret)}},
        **section,
    )
    data["clickhouse"]["replicas"] = [
        {"name": "r1", "url": url or (server.url if server else "")},
    ]
    return parse_remediator_config(data)


def insert_day(client: Client, date: dt.date, rows: int = 3) -> None:
    ts = dt.datetime.combine(date, dt.time(1), tzinfo=dt.UTC)
    client.insert(
        "torghut.ta_signals",
        [[ts + dt.timedelta(seconds=i), "NVDA", 1.0] for i in range(rows)],
        column_names=COLUMNS,
    )


def partitions(client: Client, table: str = "ta_signals") -> set[str]:
    rows = client.query(
        "SELECT DISTINCT partition FROM system.parts WHERE active AND database = 'torghut' "
        "AND table = {t:String}",
        parameters={"t": table},
    ).result_rows
    return {str(r[0]) for r in rows}


@pytest.fixture
def writer(granted_clickhouse: ClickHouseServer) -> Client:
    """The writer of the shared granted server (which it may not truncate: each test here uses
    its own `day(n)`)."""
    return granted_clickhouse.client(username="torghut")


@pytest.fixture
def ops(granted_clickhouse: ClickHouseServer) -> Client:
    """Reads system.parts (the writer may not)."""
    return granted_clickhouse.client(username="torghut_ops")


async def test_drop_partition_as_the_remediation_user_and_again(
    granted_clickhouse: ClickHouseServer, writer: Client, ops: Client, tmp_path: Path
) -> None:
    old, keep = day(2), day(3)
    insert_day(writer, old)
    insert_day(writer, keep)
    assert {str(day(2)), str(day(3))} <= partitions(ops)
    cfg = config(tmp_path, granted_clickhouse)
    fenced: list[str] = []

    await act.drop_partition(
        cfg=cfg, replica="r1", table="ta_signals", partition=str(day(2)),
        fence=lambda: fenced.append("checked"),
    )  # fmt: skip
    assert str(day(2)) not in partitions(ops) and str(day(3)) in partitions(ops)
    assert fenced == ["checked"]
    # a resumed run repeats the step: already gone is success, and nothing else is touched
    await act.drop_partition(
        cfg=cfg, replica="r1", table="ta_signals", partition=str(day(2)), fence=no_fence
    )
    assert str(day(3)) in partitions(ops)
    # the partition_id (as system.parts spells it) names the same partition
    await act.drop_partition(
        cfg=cfg, replica="r1", table="ta_signals", partition=f"{day(3):%Y%m%d}", fence=no_fence
    )
    assert not {str(day(2)), str(day(3))} & partitions(ops)


async def test_a_lost_lease_stops_the_drop(
    granted_clickhouse: ClickHouseServer, writer: Client, ops: Client, tmp_path: Path
) -> None:
    insert_day(writer, day(5))
    cfg = config(tmp_path, granted_clickhouse)

    def lost() -> None:
        raise NotLeader("lease lost")

    with pytest.raises(NotLeader):
        await act.drop_partition(
            cfg=cfg, replica="r1", table="ta_signals", partition=str(day(5)), fence=lost
        )
    assert str(day(5)) in partitions(ops)


@pytest.mark.parametrize(
    ("kw", "needle"),
    [
        ({"table": "ta_signals; DROP TABLE x"}, "not on the remediator's table allowlist"),
        ({"table": "query_log"}, "not on the remediator's table allowlist"),
        ({"replica": "r9"}, "replica 'r9' is not a configured, allowed replica"),
        ({"partition": "2026-01-06' OR 1=1 --"}, "is not a partition id"),
        ({"partition": "tuple()"}, "is not a partition id"),
    ],
)
async def test_identifiers_are_validated_before_any_sql(
    granted_clickhouse: ClickHouseServer,
    writer: Client,
    ops: Client,
    tmp_path: Path,
    kw: dict[str, str],
    needle: str,
) -> None:
    insert_day(writer, day(6))
    cfg = config(tmp_path, granted_clickhouse)
    args = {"replica": "r1", "table": "ta_signals", "partition": str(day(6)), **kw}
    called: list[int] = []
    with pytest.raises(ActuationError) as err:
        await act.drop_partition(cfg=cfg, fence=lambda: called.append(1), **args)
    assert needle in str(err.value) and err.value.escalate and not err.value.retryable
    assert called == [] and str(day(6)) in partitions(ops)


async def test_missing_grant_escalates_naming_it(
    granted_clickhouse: ClickHouseServer, writer: Client, ops: Client, tmp_path: Path
) -> None:
    insert_day(writer, day(8))
    # the exporter's read-only identity mistakenly configured as the remediation user
    cfg = config(tmp_path, granted_clickhouse, user="torghut_ops")
    with pytest.raises(ActuationError) as err:
        await act.drop_partition(
            cfg=cfg, replica="r1", table="ta_signals", partition=str(day(8)), fence=no_fence
        )
    assert err.value.code == "497" and err.value.escalate and not err.value.retryable
    assert "lacks the grant ALTER DELETE ON torghut.ta_signals " in str(err.value)
    assert PASSWORD not in str(err.value)
    assert str(day(8)) in partitions(ops)


async def test_wrong_password_escalates_without_the_password(
    granted_clickhouse: ClickHouseServer, tmp_path: Path
) -> None:
    cfg = config(tmp_path, granted_clickhouse, password="not-the-password-x7")
    with pytest.raises(ActuationError) as err:
        await act.readonly_replicas(cfg=cfg)
    assert err.value.escalate and not err.value.retryable and err.value.code == "516"
    assert "not-the-password-x7" not in str(err.value)


async def test_unreachable_replica_is_retryable(tmp_path: Path) -> None:
    cfg = config(tmp_path, None, url=f"http://127.0.0.1:{free_port()}")
    with pytest.raises(ActuationError) as err:
        await act.restart_replica(cfg=cfg, replica="r1", table="ta_signals", fence=no_fence)
    assert err.value.retryable and not err.value.escalate and err.value.code == "network"
    assert "ClickHouse r1" in str(err.value)


async def test_a_server_that_never_answers_is_a_retryable_timeout(tmp_path: Path) -> None:
    """A hung replica (accepts the connection, never answers) stands in for a network partition."""
    held: list[asyncio.StreamWriter] = []

    async def hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hang, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        data = remediator_data(tmp_path)
        secret = tmp_path / "pw"
        secret.write_text("x")
        data["clickhouse"]["replicas"] = [{"name": "r1", "url": f"http://127.0.0.1:{port}"}]
        data["remediator"]["clickhouse_remediation"] = {
            "password": {"file": str(secret)}, "query_timeout": 1,
        }  # fmt: skip
        cfg = parse_remediator_config(data)
        with pytest.raises(ActuationError) as err:
            await act.restore_replica(cfg=cfg, replica="r1", table="ta_signals", fence=no_fence)
        assert err.value.retryable and not err.value.escalate and err.value.code == "network"
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_unconfigured_identity_escalates(
    granted_clickhouse: ClickHouseServer, tmp_path: Path
) -> None:
    data = remediator_data(tmp_path)
    data["clickhouse"]["replicas"] = [{"name": "r1", "url": granted_clickhouse.url}]
    cfg = parse_remediator_config(data)
    with pytest.raises(ActuationError) as err:
        await act.readonly_replicas(cfg=cfg)
    assert "remediator.clickhouse_remediation is not configured" in str(err.value)
    assert err.value.escalate


@pytest.mark.slow
async def test_partition_over_the_drop_limit_escalates(tmp_path: Path) -> None:
    server = start_server(tmp_path / "ch", max_partition_size_to_drop=64, users=GRANTED_USERS)
    try:
        writer = server.client(username="torghut")
        ops = server.client(username="torghut_ops")
        insert_day(writer, day(9), rows=500)
        cfg = config(tmp_path, server)
        with pytest.raises(ActuationError) as err:
            await act.drop_partition(
                cfg=cfg, replica="r1", table="ta_signals", partition=str(day(9)), fence=no_fence
            )
        assert err.value.code == "359" and err.value.escalate and not err.value.retryable
        text = str(err.value)
        assert "max_partition_size_to_drop" in text and f"partition {day(9):%Y%m%d}:" in text
        assert str(day(9)) in partitions(ops)
    finally:
        server.stop()


@pytest.mark.slow
async def test_full_disk_escalates_with_the_numbers(
    pressured_clickhouse: ClickHouseServer, tmp_path: Path
) -> None:
    server = pressured_clickhouse
    fill_disk(server, below_free_ratio=0.05)
    client = server.client()
    oldest = sorted(partitions(client, "ta_microbars"))[0]
    filler = exhaust_disk(server)
    # the pressured server has one unrestricted user: the mapping, not the grants, is under test
    cfg = config(tmp_path, server, user=server.user, password=server.password)
    with pytest.raises(ActuationError) as err:
        await act.drop_partition(
            cfg=cfg, replica="r1", table="ta_microbars", partition=oldest, fence=no_fence
        )
    text = str(err.value)
    assert err.value.code == "243" and err.value.escalate and not err.value.retryable
    assert "grow the volume" in text and "never delete files on the node" in text
    assert "disk default:" in text and "bytes free" in text
    assert oldest in partitions(client, "ta_microbars")
    filler.unlink()
    await act.drop_partition(
        cfg=cfg, replica="r1", table="ta_microbars", partition=oldest, fence=no_fence
    )
    assert oldest not in partitions(client, "ta_microbars")


@pytest.mark.slow
@pytest.mark.replicated
async def test_restart_then_restore_after_metadata_loss(tmp_path: Path) -> None:
    with replicated_pair(tmp_path / "ch", users=GRANTED_USERS) as server:
        assert server.zookeeper is not None
        cfg = config(tmp_path, server)
        before = await act.readonly_replicas(cfg=cfg)
        # chdb's replicas are read-only from the start (no interserver HTTP: docs/sandbox.md)
        assert before == [("r1", "ta_microbars"), ("r1", "ta_signals")]
        zk_cli(server.zookeeper, "deleteall", replica_path("ta_signals"))
        calls: list[str] = []
        fence: Callable[[], None] = lambda: calls.append("fence")  # noqa: E731
        await act.restart_replica(cfg=cfg, replica="r1", table="ta_signals", fence=fence)
        await act.restore_replica(cfg=cfg, replica="r1", table="ta_signals", fence=fence)
        assert "metadata" in zk_cli(server.zookeeper, "ls", replica_path("ta_signals"))
        # resumed after the restore: ClickHouse has nothing to restore, which is success
        await act.restore_replica(cfg=cfg, replica="r1", table="ta_signals", fence=fence)
        assert calls == ["fence"] * 3
        # the sandbox's honest outcome: still read-only (a real server becomes writable)
        assert ("r1", "ta_signals") in await act.readonly_replicas(cfg=cfg)
