"""`ta-sandbox up --replicated`: a ZooKeeper and the TA tables replicated on it. The stack's
exporter sees the replicas; a Keeper outage is staged by stopping ZooKeeper; `down` stops it."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sandbox import state
from sandbox.clickhouse.replicated import four_letter, zookeeper_available
from sandbox.testing.stack import exported, run_cli
from sandbox.util import pid_alive, poll_until

pytestmark = [pytest.mark.slow, pytest.mark.replicated]
TABLES = ("ta_microbars", "ta_signals")


@pytest.fixture(scope="module")
def replicated_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    assert zookeeper_available(), "ZooKeeper (Debian package zookeeper) is needed"
    workdir = tmp_path_factory.mktemp("replicated") / "stack"
    pids: list[int] = []
    try:
        done = run_cli("up", "--dir", str(workdir), "--timings", "fast", "--replicated")
        assert done.returncode == 0, done.stdout + done.stderr
        assert "replicated" in done.stdout
        pids = [s.pid for s in state.load(workdir) if s.pid > 0]
        status = json.loads(run_cli("status", "--dir", str(workdir), "--json").stdout)
        status["dir"] = str(workdir)
        yield status
    finally:
        down = run_cli("down", "--dir", str(workdir))
        assert down.returncode == 0, down.stderr
        assert not [p for p in pids if pid_alive(p)], "down left processes running"


def _replica_gauge(status: dict[str, Any], name: str) -> dict[str, float] | None:
    samples = exported(status["exporter"], f"torghut_ta_clickhouse_replica_{name}")
    by_table = {dict(k)["table"]: v for k, v in samples.items() if dict(k)["replica"] == "chi-0"}
    return by_table if set(by_table) == set(TABLES) else None


def test_zookeeper_is_named_the_replicas_are_seen_and_a_keeper_outage_can_be_staged(
    replicated_stack: dict[str, Any],
) -> None:
    status = replicated_stack
    assert status["up"]["zookeeper"]
    assert four_letter(status["zookeeper"]) == "imok"
    readonly = poll_until(
        lambda: _replica_gauge(status, "readonly"), timeout=90, what="replica gauges exported"
    )
    # chdb never activates a replica (no interserver HTTP): read-only from the start
    assert readonly == {t: 1.0 for t in TABLES}
    assert _replica_gauge(status, "keeper_unreachable") == {t: 0.0 for t in TABLES}

    # the outage: ZooKeeper frozen (SIGSTOP), so sessions expire as on a hung Keeper; it is
    # resumed afterwards so that `down` (the fixture) has a live ZooKeeper to stop
    zk = next(s for s in state.load(Path(status["dir"])) if s.name == "zookeeper")
    os.kill(zk.pid, signal.SIGSTOP)
    try:

        def lost() -> bool:
            unreachable = _replica_gauge(status, "keeper_unreachable") or {}
            expired = _replica_gauge(status, "session_expired") or {}
            return all(unreachable.get(t) == 1.0 or expired.get(t) == 1.0 for t in TABLES)

        poll_until(lost, timeout=90, interval=0.5, what="the exporter sees Keeper lost")
    finally:
        os.kill(zk.pid, signal.SIGCONT)
    poll_until(lambda: four_letter(status["zookeeper"]) == "imok", timeout=60, what="ZooKeeper")
