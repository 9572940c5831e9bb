"""The replicas probe against real ReplicatedMergeTree tables on a real ZooKeeper.

The sandbox's replicas are read-only (chdb serves no interserver HTTP) with Keeper reachable and
their metadata in place: read-only, but nothing for Procedure B to restore. Deleting a table's
znodes is the lost metadata Procedure B restores; stopping ZooKeeper expires the session, a
Keeper outage that Procedure B must not touch.
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from exporter.config import Config, parse_config
from exporter.families import clickhouse as probe
from exporter.report import build_report
from exporter.scheduler import Scheduler
from exporter.snapshot import Snapshot
from sandbox.clickhouse.replicated import replica_path, zk_cli
from sandbox.testing.clickhouse import ClickHouseServer
from sandbox.util import apoll_until, stop_pid

pytestmark = [pytest.mark.slow, pytest.mark.replicated]

M = "torghut_ta_clickhouse_replica_"


def _cfg(config_data, server: ClickHouseServer, tmp_path: Path) -> Config:
    secret = tmp_path / "clickhouse-password"
    secret.write_text(server.password)
    return parse_config(
        config_data(
            clickhouse={
                "replicas": [{"name": "chi-0", "url": server.url}],
                "user": server.user,
                "password": {"file": str(secret)},
            },
            probes={"default": {"timeout": "5s"}},
        )
    )


async def _replicas_cycle(cfg: Config) -> Snapshot:
    """One run of the per-replica replication probe only."""
    snap = Snapshot()
    async with AsyncExitStack() as stack:
        specs = [
            s
            for s in await probe.build(cfg, stack=stack)
            if s.name.startswith("clickhouse_replicas/")
        ]
        await Scheduler(specs, snap).run_cycle()
    return snap


def _values(snap: Snapshot, metric: str) -> dict[tuple[str, str], float]:
    return {
        (s.labels["replica"], s.labels["table"]): s.value for s in snap.view().series(M + metric)
    }


async def test_read_only_replicas_without_lost_metadata_are_not_procedure_b(
    replicated_clickhouse: ClickHouseServer, config_data, tmp_path: Path
) -> None:
    cfg = _cfg(config_data, replicated_clickhouse, tmp_path)
    truth = replicated_clickhouse.client().query(
        "SELECT table, is_readonly FROM system.replicas WHERE database = 'torghut'"
    )
    assert sorted(truth.result_rows) == [("ta_microbars", 1), ("ta_signals", 1)]
    snap = await _replicas_cycle(cfg)
    assert snap.states()["clickhouse_replicas/chi-0"].error is None
    assert _values(snap, "readonly") == {
        ("chi-0", "ta_microbars"): 1.0,
        ("chi-0", "ta_signals"): 1.0,
    }
    verdict = {v.component: v for v in build_report(snap.view(), cfg).components}
    replicas = verdict["clickhouse-replicas"]
    assert (replicas.status, replicas.procedure) == ("down", "none")
    assert _values(snap, "metadata_lost") == {
        ("chi-0", "ta_microbars"): 0.0,
        ("chi-0", "ta_signals"): 0.0,
    }
    assert "chi-0/ta_signals" in replicas.summary and "chi-0/ta_microbars" in replicas.summary


async def test_zookeeper_gone_shows_as_an_expired_session(
    fresh_replicated_clickhouse: ClickHouseServer, config_data, tmp_path: Path
) -> None:
    server = fresh_replicated_clickhouse
    assert server.zookeeper_service is not None
    cfg = _cfg(config_data, server, tmp_path)
    before = await _replicas_cycle(cfg)
    assert set(_values(before, "session_expired").values()) == {0.0}

    stop_pid(server.zookeeper_service.pid)

    async def expired() -> Snapshot | None:
        snap = await _replicas_cycle(cfg)
        values = _values(snap, "session_expired")
        return snap if values and set(values.values()) == {1.0} else None

    snap = await apoll_until(expired, timeout=60, interval=0.5, what="session expired exported")
    assert set(_values(snap, "session_expired")) == {
        ("chi-0", "ta_microbars"),
        ("chi-0", "ta_signals"),
    }
    assert set(_values(snap, "readonly").values()) == {1.0}
    # a Keeper outage: its own finding, never Procedure B
    assert set(_values(snap, "keeper_unreachable").values()) == {1.0}
    assert set(_values(snap, "metadata_lost").values()) == {0.0}
    replicas = {v.component: v for v in build_report(snap.view(), cfg).components}[
        "clickhouse-replicas"
    ]
    assert (replicas.status, replicas.procedure) == ("down", "none")
    assert replicas.summary.startswith("Keeper unavailable")
    assert "chi-0/ta_signals" in replicas.summary


async def test_metadata_deleted_on_a_reachable_keeper_points_to_procedure_b(
    fresh_replicated_clickhouse: ClickHouseServer, config_data, tmp_path: Path
) -> None:
    server = fresh_replicated_clickhouse
    assert server.zookeeper is not None
    cfg = _cfg(config_data, server, tmp_path)
    zk_cli(server.zookeeper, "deleteall", replica_path("ta_signals"))
    server.client().command("SYSTEM RESTART REPLICA torghut.ta_signals")  # notices the loss

    async def lost() -> Snapshot | None:
        snap = await _replicas_cycle(cfg)
        return snap if _values(snap, "metadata_lost").get(("chi-0", "ta_signals")) else None

    snap = await apoll_until(lost, timeout=60, interval=0.5, what="lost metadata exported")
    assert _values(snap, "metadata_lost") == {
        ("chi-0", "ta_microbars"): 0.0,
        ("chi-0", "ta_signals"): 1.0,
    }
    assert set(_values(snap, "keeper_unreachable").values()) == {0.0}
    replicas = {v.component: v for v in build_report(snap.view(), cfg).components}[
        "clickhouse-replicas"
    ]
    assert (replicas.status, replicas.procedure) == ("down", "B")
    assert replicas.summary == "Keeper metadata lost, read-only: chi-0/ta_signals"


async def test_a_configured_table_missing_from_system_replicas_is_reported(
    replicated_clickhouse: ClickHouseServer, config_data, tmp_path: Path
) -> None:
    client = replicated_clickhouse.client()
    client.command(
        "CREATE TABLE IF NOT EXISTS torghut.ta_plain (event_ts DateTime64(3), symbol String) "
        "ENGINE = MergeTree PARTITION BY toDate(event_ts) ORDER BY (symbol, event_ts)"
    )
    try:
        secret = tmp_path / "clickhouse-password"
        secret.write_text(replicated_clickhouse.password)
        cfg = parse_config(
            config_data(
                clickhouse={
                    "replicas": [{"name": "chi-0", "url": replicated_clickhouse.url}],
                    "user": replicated_clickhouse.user,
                    "password": {"file": str(secret)},
                    "tables": ["ta_signals", "ta_microbars", "ta_plain"],
                },
                probes={"default": {"timeout": "5s"}},
            )
        )
        snap = await _replicas_cycle(cfg)
    finally:
        client.command("DROP TABLE IF EXISTS torghut.ta_plain")
    assert {t for _, t in _values(snap, "readonly")} == {"ta_signals", "ta_microbars"}
    replicas = {v.component: v for v in build_report(snap.view(), cfg).components}[
        "clickhouse-replicas"
    ]
    assert replicas.details["not_in_system_replicas"] == "chi-0/ta_plain"
