"""`ta-sandbox up --disk-limit SIZE`: ClickHouse's data on a tmpfs of that size. The exporter's
disk probe reports the tmpfs; pressure, a full disk (inserts and DROP PARTITION refused with
Code 243) and relief by dropping a partition are seen through the stack's own identities.
Without CAP_SYS_ADMIN the option is refused, naming itself, and nothing is left running."""

from __future__ import annotations

import errno
import json
import os
import random
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import clickhouse_connect
import pytest
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError

from sandbox.clickhouse.pressure import parse_size_mib
from sandbox.testing.stack import exported, run_cli
from sandbox.util import poll_until

pytestmark = pytest.mark.slow

MIB = 2**20
LIMIT_MIB = 64
DISK = "SELECT free_space, total_space FROM system.disks WHERE name = 'default'"
FULL_DISK_CODES = {243, 74, 1001}  # as tests/sandbox/test_clickhouse_pressure.py measured


def _processes_naming(text: str) -> list[int]:
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                cmdline = Path(entry.path, "cmdline").read_bytes()
            except OSError:
                continue
            if text.encode() in cmdline and b"sandbox.cli" not in cmdline:
                found.append(int(entry.name))
    return found


def test_without_cap_sys_admin_the_option_is_refused_and_nothing_starts(tmp_path: Path) -> None:
    workdir = tmp_path / "stack"
    # as root, drop CAP_SYS_ADMIN from the bounding set: what an unprivileged CI runner has
    prefix = ("setpriv", "--bounding-set=-sys_admin") if os.geteuid() == 0 else ()
    done = run_cli("up", "--dir", str(workdir), "--disk-limit", "32M", prefix=prefix)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "--disk-limit" in done.stderr and "CAP_SYS_ADMIN" in done.stderr, done.stderr
    assert json.loads((workdir / "sandbox.json").read_text())["services"] == []
    assert not os.path.ismount(workdir / "clickhouse" / "clickhouse-data")
    assert _processes_naming(str(workdir)) == []


@pytest.mark.parametrize(
    ("text", "mib"), [("64M", 64), ("64MiB", 64), ("64mb", 64), ("1G", 1024), ("2GiB", 2048)]
)
def test_sizes_are_read_in_mib(text: str, mib: int) -> None:
    assert parse_size_mib(text) == mib


@pytest.mark.parametrize("text", ["64", "1T", "8M", "-1G", "sixty"])
def test_sizes_without_a_unit_or_too_small_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match=repr(text)):
        parse_size_mib(text)


def test_a_bad_size_is_a_usage_error_naming_the_option(tmp_path: Path) -> None:
    done = run_cli("up", "--dir", str(tmp_path / "s"), "--disk-limit", "lots")
    assert done.returncode == 64
    assert "--disk-limit" in done.stderr and "'lots'" in done.stderr
    assert not (tmp_path / "s").exists()


@pytest.fixture(scope="module")
def limited_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    if os.geteuid() != 0:
        pytest.skip(f"--disk-limit mounts a tmpfs: needs root (euid {os.geteuid()})")
    workdir = tmp_path_factory.mktemp("limited") / "stack"
    mount = workdir / "clickhouse" / "clickhouse-data"
    try:
        done = run_cli(
            "up", "--dir", str(workdir), "--timings", "fast", "--disk-limit", f"{LIMIT_MIB}M"
        )
        assert done.returncode == 0, done.stdout + done.stderr
        status = json.loads(run_cli("status", "--dir", str(workdir), "--json").stdout)
        status["dir"] = str(workdir)
        yield status
    finally:
        down = run_cli("down", "--dir", str(workdir))
        assert down.returncode == 0, down.stderr
        assert "unmounted" in down.stdout
        assert not os.path.ismount(mount)


def _client(status: dict[str, Any], role: str) -> Client:
    host, _, port = status["clickhouse_http"].removeprefix("http://").rpartition(":")
    return clickhouse_connect.get_client(
        host=host, port=int(port), username=status[f"clickhouse{role}_user"],
        password=Path(status[f"clickhouse{role}_password_file"]).read_text(),
    )  # fmt: skip


def _exported_disk(status: dict[str, Any]) -> tuple[float, float] | None:
    """(free, total) bytes of the `default` disk as the exporter last reported them."""
    free, total = (
        [
            v
            for labels, v in exported(
                status["exporter"], f"torghut_ta_clickhouse_disk_{w}_bytes"
            ).items()
            if dict(labels)["disk"] == "default"
        ]
        for w in ("free", "total")
    )
    return (free[0], total[0]) if len(free) == len(total) == 1 else None


def _old_partition_rows(day: date, n: int) -> list[list[object]]:
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    rnd = random.Random(7)
    return [
        [start + timedelta(milliseconds=i), f"S{i % 50}", rnd.random(), rnd.random(),
         rnd.random(), rnd.random(), rnd.random(), rnd.getrandbits(32)]
        for i in range(n)
    ]  # fmt: skip


COLUMNS = ["event_ts", "symbol", "open", "high", "low", "close", "volume", "trade_count"]


def _take_what_is_left(filler: Path) -> None:
    """Append to `filler` until the volume is full (ENOSPC), down to the last page."""
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        for size in (MIB, 1 << 16, 1 << 12):
            try:
                while True:
                    os.write(fd, bytes(size))
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
    finally:
        os.close(fd)


def test_clickhouse_runs_on_the_tmpfs_and_the_exporter_reports_it(
    limited_stack: dict[str, Any],
) -> None:
    status = limited_stack
    mount = Path(status["clickhouse_data_mount"])
    assert status["clickhouse_disk_limit"] == f"{LIMIT_MIB}MiB"
    assert status["up"]["clickhouse-disk"] and os.path.ismount(mount)
    vfs = os.statvfs(mount)
    assert vfs.f_blocks * vfs.f_frsize == LIMIT_MIB * MIB

    ops = _client(status, "_ops")
    try:
        free_ch, total_ch = ops.query(DISK).result_rows[0]
    finally:
        ops.close()
    assert total_ch == LIMIT_MIB * MIB and free_ch < total_ch
    free, total = poll_until(lambda: _exported_disk(status), timeout=60, what="exported disk")
    assert total == LIMIT_MIB * MIB
    assert 0 < free < total


def test_pressure_full_disk_and_relief_by_dropping_a_partition(
    limited_stack: dict[str, Any],
) -> None:
    status = limited_stack
    mount = Path(status["clickhouse_data_mount"])
    writer, ops, remediator = (_client(status, r) for r in ("", "_ops", "_remediator"))
    day = datetime.now(UTC).date() - timedelta(days=5)
    filler = mount / "filler.bin"  # another tenant of the volume
    try:
        free0 = poll_until(lambda: _exported_disk(status), timeout=60, what="exported disk")[0]
        # pressure: a day of incompressible microbars lands in its own partition
        writer.insert(
            "torghut.ta_microbars", _old_partition_rows(day, 300_000), column_names=COLUMNS
        )
        part_bytes = ops.query(
            "SELECT sum(bytes_on_disk) FROM system.parts WHERE active AND database = 'torghut' "
            f"AND table = 'ta_microbars' AND partition = '{day}'"
        ).result_rows[0][0]
        assert part_bytes > 2 * MIB
        poll_until(
            lambda: (d := _exported_disk(status)) and d[0] < free0 - part_bytes / 2,
            timeout=60, what="the exporter sees the space the partition took",
        )  # fmt: skip

        # a full disk: what is left goes to the other tenant, who keeps writing (merges of the
        # running TA writer's parts free a little now and then; the tenant takes that too)
        seen: list[object] = []

        def full() -> bool:
            _take_what_is_left(filler)
            seen[:] = [
                _exported_disk(status),
                exported(status["exporter"], "torghut_ta_probe_success"),
                os.statvfs(mount).f_bavail * os.statvfs(mount).f_frsize,
            ]
            disk = seen[0]
            return isinstance(disk, tuple) and disk[0] < MIB

        try:
            poll_until(full, timeout=90, interval=0.5, what="the exporter sees the disk full")
        except TimeoutError as exc:  # say what the exporter showed instead
            raise AssertionError(f"{exc}; exported (free, total), probes, statvfs: {seen}") from exc
        _take_what_is_left(filler)
        with pytest.raises(DatabaseError) as ins:
            writer.insert(
                "torghut.ta_signals", [[datetime.now(UTC), "NVDA", 1.0]],
                column_names=["event_ts", "symbol", "macd"],
            )  # fmt: skip
        assert ins.value.code in FULL_DISK_CODES, str(ins.value)
        drop = f"ALTER TABLE torghut.ta_microbars DROP PARTITION '{day}'"
        _take_what_is_left(filler)
        with pytest.raises(DatabaseError) as dropped:  # 100% full: the drop cannot write either
            remediator.command(drop)
        assert dropped.value.code == 243, str(dropped.value)

        # relief: a little space freed outside ClickHouse, then the remediator drops the day
        os.truncate(filler, max(0, filler.stat().st_size - MIB))
        free_before = ops.query(DISK).result_rows[0][0]
        remediator.command(drop)
        poll_until(
            lambda: (d := _exported_disk(status)) and d[0] > free_before + part_bytes / 2,
            timeout=60, what="the exporter sees the space the drop freed",
        )  # fmt: skip
    finally:
        filler.unlink(missing_ok=True)
        for c in (writer, ops, remediator):
            c.close()


def test_down_unmounts_after_a_start_killed_once_mounted(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip(f"--disk-limit mounts a tmpfs: needs root (euid {os.geteuid()})")
    workdir = tmp_path / "stack"
    mount = workdir / "clickhouse" / "clickhouse-data"
    up = subprocess.Popen(
        [sys.executable, "-m", "sandbox.cli", "up", "--dir", str(workdir), "--disk-limit", "32M"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        poll_until(lambda: os.path.ismount(mount), timeout=120, interval=0.05, what="the tmpfs")
    finally:
        up.kill()  # no cleanup runs: the state file alone must let `down` undo the mount
        up.wait()
    recorded = json.loads((workdir / "sandbox.json").read_text())["services"]
    assert recorded[0]["endpoints"]["disk_limit_mount"] == str(mount)
    done = run_cli("down", "--dir", str(workdir))
    assert done.returncode == 0, done.stderr
    assert not os.path.ismount(mount)
    assert _processes_naming(str(workdir)) == []
