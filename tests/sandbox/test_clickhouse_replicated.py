"""Replicated mode: ReplicatedMergeTree on a real ZooKeeper, seen through clickhouse-connect."""

from __future__ import annotations

import pytest
from clickhouse_connect.driver.exceptions import DatabaseError

from sandbox.clickhouse.replicated import replica_path, zk_cli, zk_exists
from sandbox.testing.clickhouse import ClickHouseServer
from sandbox.util import poll_until, stop_pid

pytestmark = [pytest.mark.slow, pytest.mark.replicated]

REPLICAS = (
    "SELECT table, is_readonly, is_session_expired, zookeeper_exception "
    "FROM system.replicas WHERE database = 'torghut' ORDER BY table"
)


def test_replicas_are_listed_read_only(replicated_clickhouse: ClickHouseServer) -> None:
    client = replicated_clickhouse.client()
    rows = client.query(REPLICAS).result_rows
    assert [r[0] for r in rows] == ["ta_microbars", "ta_signals"]
    assert all(r[1] == 1 for r in rows)
    engines = client.query(
        "SELECT engine FROM system.tables WHERE database = 'torghut' ORDER BY name"
    ).result_rows
    assert engines == [("ReplicatedReplacingMergeTree",), ("ReplicatedReplacingMergeTree",)]


def test_insert_into_read_only_replica_fails_fast(replicated_clickhouse: ClickHouseServer) -> None:
    client = replicated_clickhouse.client()
    with pytest.raises(DatabaseError) as err:
        client.command("INSERT INTO torghut.ta_signals (event_ts, symbol) VALUES (now64(3), 'X')")
    assert err.value.code == 242  # TABLE_IS_READ_ONLY


def test_restore_replica_after_znodes_removed_then_session_expiry(
    fresh_replicated_clickhouse: ClickHouseServer,
) -> None:
    server = fresh_replicated_clickhouse
    assert server.zookeeper is not None and server.zookeeper_service is not None
    client = server.client()

    with pytest.raises(DatabaseError) as present:
        client.command("SYSTEM RESTORE REPLICA torghut.ta_signals")
    assert present.value.code == 36  # metadata still in ZooKeeper: nothing to restore

    zk_cli(server.zookeeper, "deleteall", replica_path("ta_signals"))
    assert not zk_exists(server.zookeeper, replica_path("ta_signals"))
    # the table notices lost metadata on restart; then RESTORE re-creates it from local parts
    client.command("SYSTEM RESTART REPLICA torghut.ta_signals")
    client.command("SYSTEM RESTORE REPLICA torghut.ta_signals")
    assert "metadata" in zk_cli(server.zookeeper, "ls", replica_path("ta_signals"))

    stop_pid(server.zookeeper_service.pid)

    def expired() -> bool:
        rows = client.query(REPLICAS).result_rows
        return all(r[2] == 1 or r[3] != "" for r in rows)

    poll_until(expired, timeout=30, interval=0.3, what="replica session expiry")
    assert all(r[1] == 1 for r in client.query(REPLICAS).result_rows)
