"""Fail safe against the real sandbox ClickHouse: an unreadable source keeps its last known
freshness exported and makes the report say unknown; a hung replica does not starve the others;
future-dated rows and silent symbols do not pass for fresh data."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import AsyncExitStack
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from exporter.config import Config, parse_config
from exporter.families import clickhouse as probe
from exporter.probes.base import Sample
from exporter.report import build_report
from exporter.scheduler import Scheduler
from exporter.server import Exposition
from exporter.snapshot import Snapshot
from sandbox.clickhouse.ddl import seed_statements
from sandbox.faults import SilentServer
from sandbox.testing.clickhouse import ClickHouseServer, start_server
from sandbox.util import apoll_until, free_port

M = "torghut_ta_"
ALWAYS_OPEN = {
    "timezone": "UTC",
    "sessions": [
        {
            "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
            "open": "00:00",
            "close": "24:00",
        }
    ],
}


def _seed(server: ClickHouseServer, name: str) -> None:
    client = server.client()
    try:
        for sql in seed_statements(ttl_days=3650):
            client.command(sql.replace("torghut", name))
    finally:
        client.close()


@pytest.fixture
def database(clickhouse_server: ClickHouseServer) -> Iterator[str]:
    name = f"t_{uuid.uuid4().hex[:10]}"
    _seed(clickhouse_server, name)
    yield name
    client = clickhouse_server.client()
    client.command(f"DROP DATABASE IF EXISTS {name}")
    client.close()


def _cfg(config_data, server: ClickHouseServer, tmp_path: Path, replicas, **extra) -> Config:
    secret = tmp_path / "clickhouse-password"
    secret.write_text(server.password)
    clickhouse = {"user": server.user, "password": {"file": str(secret)}, "replicas": replicas}
    clickhouse |= extra.pop("clickhouse", {})
    extra.setdefault("watch_symbols", ["NVDA", "AAPL"])
    return parse_config(config_data(clickhouse=clickhouse, market=ALWAYS_OPEN, **extra))


def _values(snap: Snapshot, metric: str) -> dict[tuple[str, ...], float]:
    return {tuple(s.labels.values()): s.value for s in snap.view().series(M + metric)}


async def _freshness_once(cfg: Config) -> Snapshot:
    snap = Snapshot()
    async with AsyncExitStack() as stack:
        specs = [s for s in await probe.build(cfg, stack=stack) if s.name == "clickhouse_freshness"]
        await Scheduler(specs, snap).run_cycle()
    return snap


@pytest.mark.slow
async def test_unreadable_clickhouse_keeps_the_last_timestamp_and_reports_unknown(
    config_data, tmp_path: Path
) -> None:
    server = start_server(tmp_path / "ch")  # private: this test stops it
    now = int(time.time())
    client = server.client()
    client.command(f"INSERT INTO torghut.ta_signals (event_ts, symbol) VALUES ({now - 5}, 'NVDA')")
    client.close()
    cfg = _cfg(
        config_data,
        server,
        tmp_path,
        [{"name": "r1", "url": server.url}],
        clickhouse={"database": "torghut", "tables": ["ta_signals"]},
        watch_symbols=["NVDA"],
        probes={"default": {"interval": "0.3s", "timeout": "1s", "staleness": "1s"}},
    )
    snap = Snapshot()
    snap.register("context", staleness=3600)  # the market session and the trading switch
    snap.record_success(
        "context", (Sample(M + "market_open", 1), Sample(M + "trading_enabled", 1)), duration=0
    )
    stack = AsyncExitStack()
    try:
        specs = [s for s in await probe.build(cfg, stack=stack) if s.name == "clickhouse_freshness"]
        scheduler = Scheduler(specs, snap)
        scheduler.start()
        stack.push_async_callback(scheduler.stop)
        await apoll_until(
            lambda: _async(snap.states()["clickhouse_freshness"].success), timeout=20, what="read"
        )
        verdicts = {v.component: v for v in build_report(snap.view(), cfg).components}
        assert (verdicts["freshness"].status, verdicts["trading"].status) == ("healthy", "healthy")

        server.stop()  # ClickHouse goes away during market hours
        await apoll_until(
            lambda: _async("clickhouse_freshness" in snap.view().stale),
            timeout=20,
            what="freshness data older than its staleness",
        )
        assert snap.states()["clickhouse_freshness"].error == "ClickHouse r1: connection refused"
        scraped = _scrape(snap)
        # the last known timestamp is still exported, and so is the last successful read
        assert scraped[(M + "table_last_event_timestamp_seconds", ("ta_signals",))] == now - 5
        assert scraped[(M + "probe_success", ("clickhouse_freshness",))] == 0.0
        last_read = scraped[(M + "probe_last_success_timestamp_seconds", ("clickhouse_freshness",))]
        assert last_read < time.time() - 1  # older than the staleness bound
        assert not [k for k in scraped if k[0] == M + "table_future_rows"]  # not persisted
        verdicts = {v.component: v for v in build_report(snap.view(), cfg).components}
        assert verdicts["freshness"].status == "unknown"
        assert "connection refused" in verdicts["freshness"].summary
        assert verdicts["trading"].status == "down"
        assert "unknown" in verdicts["trading"].summary
    finally:
        await stack.aclose()
        server.stop()


async def _async(value):  # type: ignore[no-untyped-def]
    return value


def _scrape(snap: Snapshot) -> dict[tuple[str, tuple[str, ...]], float]:
    """What /metrics serves (`exporter.server.Exposition`) for the snapshot now."""
    text = Exposition().render(snap.states(), snap.stale_probes()).decode()
    return {
        (s.name, tuple(s.labels.values())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


@pytest.mark.slow
async def test_a_hung_first_replica_does_not_starve_the_second(
    clickhouse_server: ClickHouseServer, database: str, config_data, tmp_path: Path
) -> None:
    now = int(time.time())
    client = clickhouse_server.client()
    client.command(
        f"INSERT INTO {database}.ta_signals (event_ts, symbol) VALUES ({now - 7}, 'NVDA')"
    )
    client.close()
    silent = SilentServer()
    try:
        cfg = _cfg(
            config_data,
            clickhouse_server,
            tmp_path,
            [
                {"name": "hung", "url": f"http://127.0.0.1:{silent.port}"},
                {"name": "r2", "url": clickhouse_server.url},
            ],
            clickhouse={"database": database, "replica_timeout": "1s"},
            probes={"default": {"timeout": "3s"}},
        )
        snap = await _freshness_once(cfg)
    finally:
        silent.close()
    state = snap.states()["clickhouse_freshness"]
    assert state.error is None, state.error
    assert _values(snap, "table_last_event_timestamp_seconds") == {("ta_signals",): now - 7}
    assert _values(snap, "replica_freshness_success") == {("hung",): 0.0, ("r2",): 1.0}
    assert _values(snap, "replica_table_last_event_timestamp_seconds") == {
        ("r2", "ta_signals"): now - 7
    }
    assert state.data.failed == {"hung": "ClickHouse hung: timeout after 1s"}


@pytest.mark.slow
async def test_freshness_is_the_newest_across_replicas_and_fails_only_when_none_answers(
    clickhouse_server: ClickHouseServer, database: str, config_data, tmp_path: Path
) -> None:
    now = int(time.time())
    r2 = start_server(tmp_path / "r2", port=free_port())
    try:
        _seed(r2, database)
        for server, age in ((clickhouse_server, 40), (r2, 4)):
            c = server.client()
            c.command(f"INSERT INTO {database}.ta_signals (event_ts, symbol) VALUES ({now - age}, 'NVDA')")  # fmt: skip
            c.close()
        replicas = [
            {"name": "r1", "url": clickhouse_server.url},
            {"name": "r2", "url": r2.url},
        ]
        cfg = _cfg(config_data, clickhouse_server, tmp_path, replicas, clickhouse={"database": database})  # fmt: skip
        snap = await _freshness_once(cfg)
        assert _values(snap, "table_last_event_timestamp_seconds")[("ta_signals",)] == now - 4
        assert _values(snap, "replica_table_last_event_timestamp_seconds") == {
            ("r1", "ta_signals"): now - 40,
            ("r2", "ta_signals"): now - 4,
        }
    finally:
        r2.stop()
    dead = [{"name": "r2", "url": r2.url}, {"name": "r3", "url": r2.url.rsplit(":", 1)[0] + f":{free_port()}"}]  # fmt: skip
    snap = await _freshness_once(_cfg(config_data, clickhouse_server, tmp_path, dead))
    assert snap.states()["clickhouse_freshness"].error == (
        "ClickHouse r2: connection refused; ClickHouse r3: connection refused"
    )


async def test_future_dated_rows_are_ignored_and_counted_and_silent_symbols_reported(
    clickhouse_server: ClickHouseServer, database: str, config_data, tmp_path: Path
) -> None:
    now = int(time.time())
    client = clickhouse_server.client()
    rows = [
        (now - 600, "NVDA"),
        (now - 30, "NVDA"),
        (now + 3600, "NVDA"),
        (now + 86400 * 2, "MSFT"),
    ]
    values = ", ".join(f"({ts}, '{s}')" for ts, s in rows)
    client.command(f"INSERT INTO {database}.ta_signals (event_ts, symbol) VALUES {values}")
    client.close()
    cfg = _cfg(
        config_data,
        clickhouse_server,
        tmp_path,
        [{"name": "r1", "url": clickhouse_server.url}],
        clickhouse={"database": database, "tables": ["ta_signals"], "future_tolerance": "60s"},
    )
    snap = await _freshness_once(cfg)
    assert snap.states()["clickhouse_freshness"].error is None
    assert _values(snap, "table_last_event_timestamp_seconds") == {("ta_signals",): now - 30}
    assert _values(snap, "symbol_last_event_timestamp_seconds") == {
        ("ta_signals", "NVDA"): now - 30
    }
    assert _values(snap, "table_future_rows") == {("ta_signals",): 2.0}
    assert _values(snap, "symbol_missing") == {
        ("ta_signals", "AAPL"): 1.0,
        ("ta_signals", "NVDA"): 0.0,
    }
    snap.register("context", staleness=3600)
    snap.record_success("context", (Sample(M + "market_open", 1),), duration=0)
    freshness = {v.component: v for v in build_report(snap.view(), cfg).components}["freshness"]
    assert freshness.status == "degraded"
    assert "ta_signals/AAPL" in freshness.summary
    assert freshness.details["future_rows ta_signals"] == "2 ignored"
