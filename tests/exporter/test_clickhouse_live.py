"""ClickHouse probes against the real sandbox ClickHouse (chdb behind the HTTP interface).

Each test gets its own database on the session's shared `clickhouse_server`; only the test that
stops and restarts a replica starts private servers (`start_server`).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import AsyncExitStack

import pytest

from exporter.cli import run_report
from exporter.clients import clickhouse as ch
from exporter.config import Config, parse_config
from exporter.families import clickhouse as probe
from exporter.scheduler import Scheduler
from exporter.server import Runtime
from exporter.snapshot import Snapshot
from sandbox.clickhouse.ddl import seed_statements
from sandbox.faults import SilentServer
from sandbox.testing.clickhouse import ClickHouseServer, start_server
from sandbox.util import apoll_until, free_port

M = "torghut_ta_"


def _seed(server: ClickHouseServer, name: str):
    client = server.client()
    for sql in seed_statements(ttl_days=3650):
        client.command(sql.replace("torghut", name))
    return client


@pytest.fixture
def database(clickhouse_server: ClickHouseServer) -> Iterator[str]:
    """A fresh database with the seed DDL (PARTITION BY toDate(event_ts), ORDER BY (symbol, event_ts))."""
    name = f"t_{uuid.uuid4().hex[:10]}"
    client = _seed(clickhouse_server, name)
    yield name
    client.command(f"DROP DATABASE IF EXISTS {name}")
    client.close()


@pytest.fixture
def password_ref(clickhouse_server: ClickHouseServer, tmp_path) -> dict[str, str]:
    """The config's secret reference to the sandbox servers' password (a file)."""
    path = tmp_path / "clickhouse-password"
    path.write_text(clickhouse_server.password)
    return {"file": str(path)}


def _cfg(
    config_data, server: ClickHouseServer, database: str, password_ref, **clickhouse
) -> Config:
    ch_cfg = {
        "replicas": [{"name": "r1", "url": server.url}],
        "database": database,
        "user": server.user,
        "password": password_ref,
        **clickhouse,
    }
    return parse_config(
        config_data(
            clickhouse=ch_cfg, watch_symbols=["NVDA", "AAPL"], probes={"default": {"timeout": "3s"}}
        )
    )


async def _cycle(cfg: Config) -> Snapshot:
    snap = Snapshot()
    async with AsyncExitStack() as stack:
        specs = await probe.build(cfg, stack=stack)
        await Scheduler(specs, snap).run_cycle()
    return snap


def _values(snap: Snapshot, metric: str) -> dict[tuple[str, ...], float]:
    return {tuple(s.labels.values()): s.value for s in snap.view().series(M + metric)}


async def test_freshness_equals_inserted_event_times(
    clickhouse_server, database, config_data, password_ref
) -> None:
    now = int(time.time())
    sync = clickhouse_server.client()
    rows = {  # (table, symbol): event time
        ("ta_signals", "NVDA"): now - 30,
        ("ta_signals", "AAPL"): now - 3 * 86400,  # outside the 6h symbol window
        ("ta_signals", "MSFT"): now - 10,  # not watched
        ("ta_microbars", "NVDA"): now - 95,
    }
    for (table, symbol), ts in rows.items():
        sync.command(f"INSERT INTO {database}.{table} (event_ts, symbol) VALUES ({ts}, '{symbol}')")
        sync.command(
            f"INSERT INTO {database}.{table} (event_ts, symbol) VALUES ({ts - 600}, '{symbol}')"
        )
    snap = await _cycle(_cfg(config_data, clickhouse_server, database, password_ref))
    assert snap.states()["clickhouse_freshness"].error is None
    assert _values(snap, "table_last_event_timestamp_seconds") == {
        ("ta_signals",): now - 10,
        ("ta_microbars",): now - 95,
    }
    assert _values(snap, "symbol_last_event_timestamp_seconds") == {
        ("ta_signals", "NVDA"): now - 30,
        ("ta_microbars", "NVDA"): now - 95,
    }
    oldest = {
        t: float(v)
        for t, v in sync.query(
            "SELECT table, toFloat64(min(min_time)) FROM system.parts WHERE active AND database = "
            f"'{database}' GROUP BY table"
        ).result_rows
    }
    assert _values(snap, "clickhouse_oldest_partition_timestamp_seconds") == {
        ("ta_microbars",): oldest["ta_microbars"],
        ("ta_signals",): oldest["ta_signals"],
    }
    assert oldest["ta_signals"] == now - 3 * 86400 - 600
    # the seed's TTL clause (INTERVAL 3650 DAY), as the exporter reads it from system.tables
    assert _values(snap, "clickhouse_table_ttl_seconds") == {
        ("ta_microbars",): 3650 * 86400.0,
        ("ta_signals",): 3650 * 86400.0,
    }


async def test_storage_matches_system_parts_and_disks(
    clickhouse_server, database, config_data, password_ref
) -> None:
    sync = clickhouse_server.client()
    # 8 daily partitions of different sizes (day d holds (d + 1) * 1000 rows)
    for day in range(8):
        sync.command(
            f"INSERT INTO {database}.ta_signals (event_ts, symbol, rsi_14) SELECT "
            f"toDateTime('2026-01-0{1 + day % 8} 00:00:00', 'UTC') + number % 86000, 'NVDA', number "
            f"FROM numbers({(day + 1) * 1000})"
        )
    cfg = _cfg(config_data, clickhouse_server, database, password_ref, top_partitions=2)
    snap = await _cycle(cfg)
    assert snap.states()["clickhouse_storage/r1"].error is None
    truth = {
        p: int(b)
        for p, b in sync.query(
            "SELECT partition, sum(bytes_on_disk) FROM system.parts WHERE active AND database = "
            f"'{database}' AND table = 'ta_signals' GROUP BY partition"
        ).result_rows
    }
    assert len(truth) == 8
    assert _values(snap, "clickhouse_table_bytes") == {("r1", "ta_signals"): sum(truth.values())}
    largest = sorted(truth, key=lambda p: -truth[p])[:2]
    oldest = sorted(truth)[:2]
    assert _values(snap, "clickhouse_partition_bytes") == {
        ("r1", "ta_signals", p): truth[p] for p in {*largest, *oldest}
    }
    [(free, total)] = sync.query("SELECT free_space, total_space FROM system.disks").result_rows
    disk_total = _values(snap, "clickhouse_disk_total_bytes")
    assert disk_total == {("r1", "default"): total}
    assert abs(_values(snap, "clickhouse_disk_free_bytes")[("r1", "default")] - free) < 0.01 * total


async def test_symbol_scan_reads_only_the_recent_window(
    clickhouse_server, database, config_data, password_ref
) -> None:
    sync = clickhouse_server.client()
    # 30 days x 4 symbols of history, one row a minute: the 6h window is a small slice of it
    sync.command(
        f"INSERT INTO {database}.ta_signals (event_ts, symbol) SELECT now() - number * 60, "
        "['NVDA','AAPL','MSFT','AMZN'][number % 4 + 1] FROM numbers(43200)"
    )
    cfg = _cfg(config_data, clickhouse_server, database, password_ref)
    [client] = ch.make_clients(cfg, query_timeout=5)
    try:
        rows = await ch.symbol_last_events(
            client,
            database=database,
            tables=["ta_signals"],
            symbols=["NVDA"],
            window=6 * 3600,
            future=60,
        )
        tables = await ch.table_last_events(client, database=database, tables=["ta_signals"])
    finally:
        await client.close()
    assert [r[1] for r in rows.rows] == ["NVDA"]
    assert 0 < rows.read_rows < 43200 / 4, rows.read_rows
    assert tables.read_rows < 43200


async def test_unknown_table_is_a_clear_error_and_other_probes_still_work(
    clickhouse_server, database, config_data, password_ref
) -> None:
    cfg = _cfg(
        config_data, clickhouse_server, database, password_ref, tables=["ta_signals", "ta_missing"]
    )
    snap = await _cycle(cfg)
    error = snap.states()["clickhouse_freshness"].error
    assert error is not None and error.startswith("ClickHouse r1: Code: 60.")
    assert "UNKNOWN_TABLE" in error
    assert snap.states()["clickhouse_storage/r1"].success
    assert snap.states()["clickhouse_replicas/r1"].success


async def test_report_command_judges_clickhouse(
    clickhouse_server, database, config_data, password_ref
) -> None:
    report = await run_report(
        _cfg(config_data, clickhouse_server, database, password_ref),
        families=("exporter.families.clickhouse",),
    )
    verdicts = {v.component: v for v in report.components}
    disk = verdicts["clickhouse-disk"]
    free, total = disk.evidence
    assert free.labels == total.labels == {"replica": "r1", "disk": "default"}
    assert 0 < free.value <= total.value
    # the server's real disk decides: the status follows the free ratio it reported
    ratio, limit = free.value / total.value, 0.15
    expected = "down" if ratio < limit / 3 else "degraded" if ratio < limit else "healthy"
    assert disk.status == expected, disk.summary
    assert f"{ratio:.1%} free" in disk.summary
    assert verdicts["clickhouse-replicas"].summary == "no replicated tables configured"
    assert all(p.success for p in report.probes)


@pytest.mark.slow
async def test_hung_and_stopped_replicas_fail_clearly_and_recover(
    clickhouse_server, database, config_data, password_ref, tmp_path
) -> None:
    silent = SilentServer()
    port = free_port()
    r3 = start_server(tmp_path / "r3", port=port)  # private: this test stops and restarts it
    _seed(r3, database).close()
    cfg = parse_config(
        config_data(
            clickhouse={
                "database": database,
                "user": clickhouse_server.user,
                "password": password_ref,
                "replicas": [
                    {"name": "r1", "url": clickhouse_server.url},
                    {"name": "hung", "url": f"http://127.0.0.1:{silent.port}"},
                    {"name": "r3", "url": r3.url},
                ],
            },
            probes={"default": {"interval": "0.3s", "timeout": "1s", "staleness": "30s"}},
        )
    )
    snap = Snapshot()
    stack = AsyncExitStack()
    try:
        specs = await probe.build(cfg, stack=stack)
        sched = Scheduler(specs, snap)
        sched.start()
        stack.push_async_callback(sched.stop)

        async def state(name: str, pred) -> bool:
            return pred(snap.states()[name])

        for replica in ("r1", "r3"):
            await apoll_until(
                lambda r=replica: state(f"clickhouse_storage/{r}", lambda s: s.success),
                timeout=90,
                what=f"{replica} storage answered",
            )
        # while `hung` hangs, what /metrics serves carries the other replicas' results
        runtime = Runtime.create(cfg, snap, sched.ready)
        text = runtime.exposition().decode()
        assert 'torghut_ta_clickhouse_disk_total_bytes{disk="default",replica="r1"}' in text
        await apoll_until(
            lambda: state("clickhouse_storage/hung", lambda s: s.error == "timeout after 1s"),
            timeout=90,
            what="hung replica times out",
        )
        assert snap.states()["clickhouse_storage/r1"].success
        assert snap.states()["clickhouse_freshness"].success  # r1 answers first

        r3.stop()  # r3 stops: connection refused
        await apoll_until(
            lambda: state(
                "clickhouse_replicas/r3", lambda s: s.error == "ClickHouse r3: connection refused"
            ),
            timeout=90,
            what="stopped replica refuses",
        )
        r3 = start_server(tmp_path / "r3", port=port)  # r3 returns on the same port
        await apoll_until(
            lambda: state("clickhouse_replicas/r3", lambda s: s.success), timeout=90, what="r3 back"
        )
        assert snap.states()["clickhouse_storage/hung"].error == "timeout after 1s"
    finally:
        await stack.aclose()
        silent.close()
        r3.stop()
