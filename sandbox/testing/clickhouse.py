"""pytest fixtures for the sandbox's ClickHouse (chdb behind the ClickHouse HTTP interface).

Every fixture yields a `ClickHouseServer` (host, port, user, password, url, workdir, zookeeper)
with `.client(**kw)` (a `clickhouse_connect` sync client), `await .async_client(**kw)`,
`.truncate()` (empties the seeded tables) and `.stop()`.

Session-scoped (one process for the whole run):
- `clickhouse_server`: seeded database `torghut` (`ta_signals`, `ta_microbars`, ReplacingMergeTree),
  user `torghut` with a password. Shared: truncate what you rely on (see `clean_clickhouse`).
- `zookeeper`: a real ZooKeeper; `zookeeper.endpoints["zookeeper"]` is "127.0.0.1:P".
- `replicated_clickhouse`: seeded with ReplicatedReplacingMergeTree on `zookeeper`. Its replicas are
  read-only (chdb serves no interserver HTTP): good for reading `system.replicas`. Do not break
  its ZooKeeper; use `fresh_replicated_clickhouse` for that.

- `granted_clickhouse`: seeded, with the sandbox's identities held to their grants
  (`sandbox.clickhouse.grants.ROLES`): `torghut` (writer: SELECT, INSERT ON torghut.*),
  `torghut_ops` (read only) and `torghut_remediator` (ALTER DELETE and SYSTEM RESTART/RESTORE
  REPLICA on the TA tables); each user's password is `PASSWORD`. `.client(username=...)`.

Function-scoped:
- `clickhouse_client` / `clickhouse_async_client`: clients of `clickhouse_server` (closed after).
- `clean_clickhouse`: `clickhouse_server` with both seeded tables truncated first.
- `fresh_replicated_clickhouse`: a private ZooKeeper + replicated server for tests that stop
  ZooKeeper or delete znodes (`.zookeeper_service` is the ZooKeeper's Service).
- `pressured_clickhouse`: a server on a 64 MiB tmpfs (root only; skipped otherwise), tables
  truncated first (and any filler file left by `exhaust_disk` removed, before and after);
  `fill_disk(server, below_free_ratio=...)` fills it one daily partition at a time until
  `system.disks` shows less free space than asked. `exhaust_disk(server) -> Path` then takes the
  rest with a plain file, as another tenant or runaway logs would on a shared volume: every
  insert now fails with the engine's own error (Code 243 NOT_ENOUGH_SPACE: the part's space
  reservation fails), nothing is stored. Delete the returned file to relieve the pressure.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import clickhouse_connect
import pytest
from clickhouse_connect.driver.asyncclient import AsyncClient
from clickhouse_connect.driver.client import Client

from sandbox.clickhouse import launch, launch_zookeeper, stop
from sandbox.clickhouse.ddl import DATABASE, TABLES
from sandbox.clickhouse.grants import ROLES
from sandbox.clickhouse.pressure import is_mounted, tmpfs_supported
from sandbox.clickhouse.replicated import zookeeper_available
from sandbox.util import Service, stop_pid

USER = "torghut"
PASSWORD = "sandbox-secret"
ROLE_USERS = {"writer": "torghut", "ops": "torghut_ops", "remediator": "torghut_remediator"}


@dataclass
class ClickHouseServer:
    """A running sandbox ClickHouse and how to reach it."""

    service: Service
    workdir: Path
    host: str
    port: int
    user: str
    password: str
    zookeeper: str | None = None
    zookeeper_service: Service | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def client(self, **kwargs: Any) -> Client:
        """A clickhouse-connect sync client; keyword arguments go to `get_client`."""
        kwargs.setdefault("username", self.user)
        kwargs.setdefault("password", self.password)
        return clickhouse_connect.get_client(host=self.host, port=self.port, **kwargs)

    async def async_client(self, **kwargs: Any) -> AsyncClient:
        """A clickhouse-connect async client; close it with `await client.close()`."""
        kwargs.setdefault("username", self.user)
        kwargs.setdefault("password", self.password)
        return await clickhouse_connect.get_async_client(host=self.host, port=self.port, **kwargs)

    def truncate(self, tables: tuple[str, ...] = TABLES) -> None:
        client = self.client(autogenerate_session_id=False)
        try:
            for table in tables:
                client.command(f"TRUNCATE TABLE IF EXISTS {DATABASE}.{table}")
        finally:
            client.close()

    def stop(self) -> None:
        stop(self.service, self.workdir)
        if self.zookeeper_service is not None:
            stop_pid(self.zookeeper_service.pid)


def start_server(workdir: Path, **options: Any) -> ClickHouseServer:
    """Launch a server (options as `sandbox.clickhouse.launch`) with the fixtures' credentials."""
    options.setdefault("user", USER)
    options.setdefault("password", PASSWORD)
    service = launch(workdir, **options)
    host, _, port = service.endpoints["http"].removeprefix("http://").rpartition(":")
    return ClickHouseServer(
        service, workdir, host, int(port), options["user"], options["password"],
        zookeeper=options.get("replicated"),
    )  # fmt: skip


@contextlib.contextmanager
def replicated_pair(workdir: Path, **options: Any) -> Iterator[ClickHouseServer]:
    """A ZooKeeper and a replicated server of its own (options as `start_server`), both
    stopped on exit."""
    zk = launch_zookeeper(workdir)
    try:
        server = start_server(workdir, replicated=zk.endpoints["zookeeper"], **options)
    except BaseException:
        stop_pid(zk.pid)
        raise
    server.zookeeper_service = zk
    try:
        yield server
    finally:
        server.stop()


def fill_disk(server: ClickHouseServer, *, below_free_ratio: float, rows: int = 100_000) -> float:
    """Insert incompressible rows, one daily partition per insert, until free/total < ratio.

    Returns the free ratio reached. Stops early (without raising) if an insert fails for lack
    of space, so the caller sees the disk as full as it can get.
    """
    client = server.client(autogenerate_session_id=False)

    def free_ratio() -> float:
        free, total = client.query(
            "SELECT free_space, total_space FROM system.disks WHERE name = 'default'"
        ).result_rows[0]
        return free / total

    try:
        for day in range(1, 400):
            ratio = free_ratio()
            if ratio < below_free_ratio:
                return ratio
            try:
                client.command(
                    f"INSERT INTO {DATABASE}.ta_microbars "
                    "(event_ts, symbol, open, high, low, close, volume, trade_count) "
                    f"SELECT now64(3) - INTERVAL {day} DAY + toIntervalMillisecond(number), "
                    "toString(number % 50), rand64() / 1e9, rand64() / 1e9, rand64() / 1e9, "
                    f"rand64() / 1e9, rand64() / 1e9, rand() FROM numbers({int(rows)})"
                )
            except clickhouse_connect.driver.exceptions.DatabaseError:
                return free_ratio()
        return free_ratio()
    finally:
        client.close()


FILLER = "filler.bin"


def exhaust_disk(server: ClickHouseServer) -> Path:
    """Fill what is left of the server's tmpfs data path with zeros until ENOSPC.

    Returns the filler file (`<workdir>/clickhouse-data/filler.bin`); unlink it to give the
    space back. Refuses a data path that is not its own mount, so the host disk is never filled.
    """
    data_dir = server.workdir.resolve() / "clickhouse-data"
    if not is_mounted(data_dir):
        raise RuntimeError(f"{data_dir} is not a mount point: exhaust_disk needs a tmpfs server")
    path = data_dir / FILLER
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        for size in (1 << 20, 1 << 16, 1 << 12, 1 << 9):  # down to the last page
            chunk = bytes(size)
            try:
                while True:
                    os.write(fd, chunk)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
    finally:
        os.close(fd)
    return path


def _remove_filler(server: ClickHouseServer) -> None:
    (server.workdir.resolve() / "clickhouse-data" / FILLER).unlink(missing_ok=True)


def _need_zookeeper() -> None:
    if not zookeeper_available() or shutil.which("java") is None:
        pytest.skip("ZooKeeper (Debian package zookeeper) and java are needed")


@pytest.fixture(scope="session")
def clickhouse_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClickHouseServer]:
    server = start_server(tmp_path_factory.mktemp("clickhouse"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def granted_clickhouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClickHouseServer]:
    users = {ROLE_USERS[role]: (PASSWORD, grants) for role, grants in ROLES.items()}
    server = start_server(tmp_path_factory.mktemp("clickhouse-granted"), users=users)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def clickhouse_client(clickhouse_server: ClickHouseServer) -> Iterator[Client]:
    client = clickhouse_server.client()
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
async def clickhouse_async_client(
    clickhouse_server: ClickHouseServer,
) -> AsyncIterator[AsyncClient]:
    client = await clickhouse_server.async_client()
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
def clean_clickhouse(clickhouse_server: ClickHouseServer) -> ClickHouseServer:
    clickhouse_server.truncate()
    return clickhouse_server


@pytest.fixture(scope="session")
def zookeeper(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    _need_zookeeper()
    service = launch_zookeeper(tmp_path_factory.mktemp("zookeeper"))
    try:
        yield service
    finally:
        stop_pid(service.pid)


@pytest.fixture(scope="session")
def replicated_clickhouse(
    zookeeper: Service, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ClickHouseServer]:
    server = start_server(
        tmp_path_factory.mktemp("clickhouse-replicated"),
        replicated=zookeeper.endpoints["zookeeper"],
    )
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def fresh_replicated_clickhouse(tmp_path: Path) -> Iterator[ClickHouseServer]:
    _need_zookeeper()
    with replicated_pair(tmp_path) as server:
        yield server


@pytest.fixture(scope="session")
def _pressured_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClickHouseServer]:
    if not tmpfs_supported():
        pytest.skip(f"mounting a tmpfs needs root (euid {os.geteuid()})")
    server = start_server(tmp_path_factory.mktemp("clickhouse-pressured"), tmpfs_size_mb=64)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pressured_clickhouse(_pressured_server: ClickHouseServer) -> Iterator[ClickHouseServer]:
    _remove_filler(_pressured_server)
    _pressured_server.truncate()
    try:
        yield _pressured_server
    finally:
        _remove_filler(_pressured_server)
