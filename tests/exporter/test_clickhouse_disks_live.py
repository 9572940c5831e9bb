"""Disk pressure counts only the disks that hold the TA tables: a full second disk (backups,
another tenant) on the same real ClickHouse is not Procedure A."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from exporter.config import parse_config
from exporter.families import clickhouse as probe
from exporter.report import build_report
from exporter.scheduler import Scheduler
from exporter.snapshot import Snapshot
from sandbox.clickhouse.pressure import mount_tmpfs, tmpfs_supported, unmount
from sandbox.testing.clickhouse import ClickHouseServer, start_server

pytestmark = pytest.mark.slow

TWO_DISKS = """<clickhouse>
  <storage_configuration>
    <disks><backup><path>{path}/</path></backup></disks>
    <policies><backups><volumes><main><disk>backup</disk></main></volumes></backups></policies>
  </storage_configuration>
</clickhouse>
"""


def _fill(directory: Path) -> None:
    """Write zeros into `directory` (a small tmpfs) until it is full."""
    fd = os.open(directory / "filler.bin", os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        for size in (1 << 20, 1 << 12, 1 << 9):
            try:
                while True:
                    os.write(fd, bytes(size))
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
    finally:
        os.close(fd)


@pytest.fixture
def server_with_full_backup_disk(tmp_path: Path) -> Iterator[ClickHouseServer]:
    if not tmpfs_supported():
        pytest.skip(f"mounting a tmpfs needs root (euid {os.geteuid()})")
    backup = tmp_path / "backup-disk"
    mount_tmpfs(backup, 4)
    try:
        _fill(backup)
        config = tmp_path / "two-disks.xml"
        config.write_text(TWO_DISKS.format(path=backup.resolve()))
        server = start_server(tmp_path / "ch", tmpfs_size_mb=64, config_xml=config)
        try:
            yield server
        finally:
            server.stop()
    finally:
        unmount(backup)


async def test_a_full_disk_that_holds_no_ta_table_is_not_disk_pressure(
    server_with_full_backup_disk: ClickHouseServer, config_data, tmp_path: Path
) -> None:
    server = server_with_full_backup_disk
    client = server.client()
    client.command("INSERT INTO torghut.ta_signals (event_ts, symbol) VALUES (now64(3), 'NVDA')")
    truth = {
        name: (free, total)
        for name, free, total in client.query(
            "SELECT name, free_space, total_space FROM system.disks"
        ).result_rows
    }
    client.close()
    assert set(truth) == {"default", "backup"}
    assert truth["backup"][0] / truth["backup"][1] < 0.01  # the backup disk is full

    secret = tmp_path / "clickhouse-password"
    secret.write_text(server.password)
    cfg = parse_config(
        config_data(
            clickhouse={
                "replicas": [{"name": "r1", "url": server.url}],
                "user": server.user,
                "password": {"file": str(secret)},
            },
            probes={"default": {"timeout": "5s"}},
        )
    )
    snap = Snapshot()
    async with AsyncExitStack() as stack:
        specs = [s for s in await probe.build(cfg, stack=stack) if "storage" in s.name]
        await Scheduler(specs, snap).run_cycle()
    assert snap.states()["clickhouse_storage/r1"].error is None
    disks = {
        s.labels["disk"]: s.value
        for s in snap.view().series("torghut_ta_clickhouse_disk_total_bytes")
    }
    assert disks == {"default": truth["default"][1]}
    disk = {v.component: v for v in build_report(snap.view(), cfg).components}["clickhouse-disk"]
    assert (disk.status, disk.procedure) == ("healthy", "none"), disk.summary
