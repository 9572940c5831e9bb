"""The replicas probe against real ReplicatedMergeTree tables on a real ZooKeeper.

The sandbox's replicas are read-only (chdb serves no interserver HTTP), which is exactly the
production failure procedure B handles; stopping ZooKeeper expires their session.
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


async def test_read_only_replicas_are_exported_and_point_to_procedure_b(
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
    assert (replicas.status, replicas.procedure) == ("down", "B")
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
