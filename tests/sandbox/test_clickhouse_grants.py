"""Users and grants on the sandbox ClickHouse, through clickhouse-connect: each identity can do
what its role needs and gets ClickHouse's ACCESS_DENIED (Code 497) for anything else."""

from __future__ import annotations

import datetime as dt
import shutil
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError

from exporter.clients import clickhouse as ch
from exporter.clients.clickhouse import ReplicaClient
from exporter.config import ClickHouseReplica
from sandbox.clickhouse.grants import ROLES, Grant, load_users, parse_grants
from sandbox.clickhouse.replicated import replica_path, zk_cli, zookeeper_available
from sandbox.testing.clickhouse import PASSWORD, ROLE_USERS, ClickHouseServer, replicated_pair

COLUMNS = ["event_ts", "symbol", "macd"]


@pytest.fixture
def as_user(granted_clickhouse: ClickHouseServer) -> Iterator[dict[str, Client]]:
    clients = {role: granted_clickhouse.client(username=u) for role, u in ROLE_USERS.items()}
    try:
        yield clients
    finally:
        for client in clients.values():
            client.close()


def _denied(call: object, user: str, grant: str) -> None:
    with pytest.raises(DatabaseError) as err:
        call()  # type: ignore[operator]
    text = str(err.value)
    assert err.value.code == 497, text
    expected = (
        f"Code: 497. DB::Exception: {user}: Not enough privileges. To execute this query, it's "
        f"necessary to have the grant {grant}. (ACCESS_DENIED)"
    )
    assert expected in text, text


def _day(client: Client, day: dt.date) -> None:
    ts = dt.datetime.combine(day, dt.time(1), tzinfo=dt.UTC)
    client.insert("torghut.ta_signals", [[ts, "NVDA", 1.0]], column_names=COLUMNS)


def test_writer_writes_and_reads_but_cannot_drop(as_user: dict[str, Client]) -> None:
    writer = as_user["writer"]
    _day(writer, dt.date.today())
    assert writer.query("SELECT count() FROM torghut.ta_signals").result_rows[0][0] >= 1
    _denied(
        lambda: writer.command("ALTER TABLE torghut.ta_signals DROP PARTITION '2020-01-01'"),
        "torghut", "ALTER DELETE ON torghut.ta_signals",
    )  # fmt: skip
    _denied(
        lambda: writer.command("TRUNCATE TABLE torghut.ta_microbars"),
        "torghut", "TRUNCATE ON torghut.ta_microbars",
    )  # fmt: skip


def test_ops_user_reads_what_the_exporter_reads_and_writes_nothing(
    as_user: dict[str, Client],
) -> None:
    ops = as_user["ops"]
    assert ops.query("SELECT max(event_ts) FROM torghut.ta_signals").result_rows
    assert ops.query("SELECT name, free_space FROM system.disks").result_rows
    rows = ops.query(
        "SELECT table, count() FROM system.parts WHERE database = {db:String} GROUP BY table",
        parameters={"db": "torghut"},
    ).result_rows
    assert isinstance(rows, list)
    ops.query("SELECT table FROM system.replicas WHERE database = 'torghut'")
    _denied(
        lambda: ops.insert("torghut.ta_signals", [[dt.datetime.now(dt.UTC), "X", 1.0]],
                           column_names=COLUMNS),
        "torghut_ops", "INSERT ON torghut.ta_signals",
    )  # fmt: skip
    _denied(
        lambda: ops.command("SYSTEM RESTART REPLICA torghut.ta_signals"),
        "torghut_ops", "SYSTEM RESTART REPLICA ON torghut.ta_signals",
    )  # fmt: skip
    _denied(
        lambda: ops.query("SELECT * FROM system.processes"),
        "torghut_ops", "SELECT ON system.processes",
    )  # fmt: skip


def test_remediator_drops_partitions_of_the_ta_tables_only(as_user: dict[str, Client]) -> None:
    writer, rem = as_user["writer"], as_user["remediator"]
    old = dt.date.today() - dt.timedelta(days=3)
    _day(writer, old)
    rem.command(f"ALTER TABLE torghut.ta_signals DROP PARTITION '{old}'")
    left = writer.query(
        "SELECT count() FROM torghut.ta_signals WHERE toDate(event_ts) = {d:Date}",
        parameters={"d": old},
    ).result_rows[0][0]
    assert left == 0
    parts = rem.query("SELECT count() FROM system.parts WHERE database = 'torghut'")
    assert parts.result_rows
    # a replay's check reads the window's rows and the tables' engines (procedure C); it writes none
    assert rem.query("SELECT count() FROM torghut.ta_signals FINAL").result_rows
    assert rem.query("SELECT engine FROM system.tables WHERE database = 'torghut'").result_rows
    _denied(
        lambda: rem.command("INSERT INTO torghut.ta_signals (symbol) VALUES ('X')"),
        "torghut_remediator", "INSERT ON torghut.ta_signals",
    )  # fmt: skip
    _denied(
        lambda: rem.command("TRUNCATE TABLE torghut.ta_signals"),
        "torghut_remediator", "TRUNCATE ON torghut.ta_signals",
    )  # fmt: skip
    _denied(
        lambda: rem.command("DROP TABLE torghut.ta_signals"),
        "torghut_remediator", "DROP TABLE ON torghut.ta_signals",
    )  # fmt: skip
    _denied(
        lambda: rem.command("ALTER TABLE torghut.ta_signals UPDATE macd = 0 WHERE 1"),
        "torghut_remediator", "ALTER UPDATE ON torghut.ta_signals",
    )  # fmt: skip
    _denied(
        lambda: rem.command("SYSTEM RESTART REPLICA system.query_log"),
        "torghut_remediator", "SYSTEM RESTART REPLICA ON system.query_log",
    )  # fmt: skip
    # the drop-size guard cannot be lifted by the remediator (a profile constraint)
    with pytest.raises(DatabaseError) as err:
        rem.command(
            f"ALTER TABLE torghut.ta_signals DROP PARTITION '{old}'",
            settings={"max_partition_size_to_drop": 0},
        )
    assert err.value.code == 452 and "should not be changed" in str(err.value)


def test_remediator_may_restart_replicas_of_the_ta_tables(as_user: dict[str, Client]) -> None:
    """The grant lets the statement through to the engine: on this non-replicated server it
    fails there with the engine's own error, not with ACCESS_DENIED."""
    for sql in (
        "SYSTEM RESTORE REPLICA torghut.ta_signals",
        "SYSTEM RESTART REPLICA torghut.ta_microbars",
    ):
        with pytest.raises(DatabaseError) as err:
            as_user["remediator"].command(sql)
        assert err.value.code == 36 and "is not replicated" in str(err.value), sql


def test_denial_over_raw_http_has_clickhouse_headers(granted_clickhouse: ClickHouseServer) -> None:
    request = urllib.request.Request(
        granted_clickhouse.url + "/?database=torghut",
        data=b"ALTER TABLE ta_microbars DROP PARTITION '2020-01-01'",
        headers={"X-ClickHouse-User": "torghut_ops", "X-ClickHouse-Key": "sandbox-secret"},
    )
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(request, timeout=30)
    assert err.value.code == 403
    assert err.value.headers["X-ClickHouse-Exception-Code"] == "497"
    body = err.value.read().decode()
    assert "necessary to have the grant ALTER DELETE ON torghut.ta_microbars" in body
    multi = urllib.request.Request(
        granted_clickhouse.url + "/",
        data=b"SELECT 1; DROP TABLE torghut.ta_signals",
        headers={"X-ClickHouse-User": "torghut_ops", "X-ClickHouse-Key": "sandbox-secret"},
    )
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(multi, timeout=30)
    assert err.value.headers["X-ClickHouse-Exception-Code"] == "62"
    assert "Multi-statements are not allowed" in err.value.read().decode()


@pytest.mark.slow
def test_remediator_restores_lost_replica_metadata_with_its_grants_only(
    tmp_path: Path,
) -> None:
    """Procedure B as the remediation user on real ReplicatedReplacingMergeTree tables: the
    grants let RESTART and RESTORE REPLICA through, and the engine re-creates the znodes."""
    if not zookeeper_available() or shutil.which("java") is None:
        pytest.fail("ZooKeeper (Debian package zookeeper) and java are needed")
    users = {u: (PASSWORD, ROLES[role]) for role, u in ROLE_USERS.items()}
    with replicated_pair(tmp_path, users=users) as server:
        assert server.zookeeper is not None
        rem = server.client(username=ROLE_USERS["remediator"])
        try:
            zk_cli(server.zookeeper, "deleteall", replica_path("ta_signals"))
            rem.command("SYSTEM RESTART REPLICA torghut.ta_signals")
            rem.command("SYSTEM RESTORE REPLICA torghut.ta_signals")
            assert "metadata" in zk_cli(server.zookeeper, "ls", replica_path("ta_signals"))
            replicas = rem.query(
                "SELECT table FROM system.replicas WHERE database = 'torghut' ORDER BY table"
            ).result_rows
            assert replicas == [("ta_microbars",), ("ta_signals",)]
            _denied(
                lambda: rem.command("SYSTEM DROP REPLICA 'r2' FROM TABLE torghut.ta_signals"),
                "torghut_remediator", "SYSTEM DROP REPLICA ON torghut.ta_signals",
            )  # fmt: skip
        finally:
            rem.close()


def test_bad_grant_lines_name_the_problem(tmp_path: Path) -> None:
    assert parse_grants(["select, insert ON torghut.*"]) == [
        Grant("SELECT", "torghut", "*"), Grant("INSERT", "torghut", "*"),
    ]  # fmt: skip
    with pytest.raises(ValueError, match="must look like 'PRIVILEGE"):
        parse_grants(["SELECT torghut.*"])
    users = tmp_path / "users.json"
    users.write_text('{"ops": {"grants": []}}')
    with pytest.raises(ValueError, match="user 'ops' needs a password_file"):
        load_users(users)


async def test_ops_user_runs_every_exporter_query(granted_clickhouse: ClickHouseServer) -> None:
    """The stack's exporter reads as torghut_ops: each of its queries passes the grants (the
    disk query also reads system.storage_policies, to find the disks a table may write to)."""
    client = ReplicaClient(
        ClickHouseReplica(name="chi-0", url=granted_clickhouse.url),
        user=ROLE_USERS["ops"],
        password=PASSWORD,
        database="torghut",
        connect_timeout=10,
        query_timeout=30,
    )
    scope = {"database": "torghut", "tables": ["ta_signals", "ta_microbars"]}
    try:
        assert len((await ch.table_last_events(client, **scope)).rows) == 2
        await ch.table_last_events_bounded(client, **scope, future=60)
        await ch.symbol_last_events(client, **scope, symbols=["NVDA"], window=3600, future=60)
        assert (await ch.disks(client, **scope)).rows
        await ch.partitions(client, **scope)
        await ch.replicas(client, **scope)
    finally:
        await client.close()


def test_a_repeated_statement_is_judged_for_each_user(as_user: dict[str, Client]) -> None:
    """The front keeps what a statement needs, not who may run it: the same text, repeated,
    stays allowed for the writer and denied to the ops user, in either order."""
    count = "SELECT count() FROM torghut.ta_signals"
    drop = "ALTER TABLE torghut.ta_signals DROP PARTITION '2020-01-02'"
    for _ in range(2):
        assert as_user["ops"].query(count).result_rows[0][0] >= 0
        _denied(
            lambda: as_user["ops"].command(drop),
            "torghut_ops",
            "ALTER DELETE ON torghut.ta_signals",
        )
        as_user["remediator"].command(drop)
        _denied(
            lambda: as_user["writer"].command(drop), "torghut", "ALTER DELETE ON torghut.ta_signals"
        )
        # the remediator reads the TA tables (a replay's check) but writes none
        assert as_user["remediator"].query(count).result_rows[0][0] >= 0
        _denied(
            lambda: as_user["remediator"].command(
                "INSERT INTO torghut.ta_signals (symbol) VALUES ('X')"
            ),
            "torghut_remediator", "INSERT ON torghut.ta_signals",
        )  # fmt: skip
