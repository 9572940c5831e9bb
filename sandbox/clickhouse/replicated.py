"""A real ZooKeeper (Debian `zookeeper` 3.8 jars) for ReplicatedMergeTree, and its CLI.

The jar's manifest carries its own Class-Path, so `java -cp zookeeper.jar` is enough.
"""

from __future__ import annotations

import signal
import socket
import subprocess
from pathlib import Path

from sandbox.util import Service, free_port, spawn, wait_started

ZOOKEEPER_JAR = Path("/usr/share/java/zookeeper.jar")
_SERVER_MAIN = "org.apache.zookeeper.server.ZooKeeperServerMain"
_CLI_MAIN = "org.apache.zookeeper.ZooKeeperMain"
_JVM = ["java", "-Xms32m", "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"]


def zookeeper_available() -> bool:
    return ZOOKEEPER_JAR.exists()


def four_letter(endpoint: str, word: str = "ruok", timeout: float = 1.0) -> str:
    """Send one of ZooKeeper's four-letter commands and return its answer."""
    host, _, port = endpoint.rpartition(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(word.encode())
        chunks = []
        while chunk := sock.recv(4096):
            chunks.append(chunk)
    return b"".join(chunks).decode()


def zoo_cfg(data_dir: Path, port: int) -> str:
    return "\n".join(
        [
            "tickTime=500",
            "minSessionTimeout=1000",
            "maxSessionTimeout=10000",
            f"dataDir={data_dir}",
            f"clientPort={port}",
            "clientPortAddress=127.0.0.1",
            "maxClientCnxns=0",
            "admin.enableServer=false",
            "4lw.commands.whitelist=ruok,srvr,stat,mntr,cons",
            "",
        ]
    )


def launch_zookeeper(workdir: Path, *, port: int | None = None, timeout: float = 60.0) -> Service:
    """Start a standalone ZooKeeper on 127.0.0.1 with its data in `workdir`; wait for `imok`."""
    if not zookeeper_available():
        raise FileNotFoundError(f"{ZOOKEEPER_JAR} missing: apt-get install zookeeper")
    workdir = Path(workdir).resolve()
    data_dir = workdir / "zookeeper-data"
    data_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    cfg = workdir / "zoo.cfg"
    cfg.write_text(zoo_cfg(data_dir, port))
    log = workdir / "zookeeper.log"
    proc = spawn(
        [
            *_JVM,
            "-Dzookeeper.admin.enableServer=false",
            "-cp",
            str(ZOOKEEPER_JAR),
            _SERVER_MAIN,
            str(cfg),
        ],
        log_path=log,
    )
    endpoint = f"127.0.0.1:{port}"

    wait_started(
        proc.pid, lambda: four_letter(endpoint) == "imok", log=log, what="ZooKeeper",
        timeout=timeout, interval=0.2, stop_signal=signal.SIGKILL,
    )  # fmt: skip
    return Service("zookeeper", proc.pid, {"zookeeper": endpoint}, str(log))


def zk_cli(endpoint: str, *command: str, timeout: float = 60.0) -> str:
    """Run one ZooKeeper CLI command (e.g. `deleteall /path`) and return its output."""
    done = subprocess.run(
        [*_JVM, "-cp", str(ZOOKEEPER_JAR), _CLI_MAIN, "-server", endpoint, *command],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"zkCli {' '.join(command)} failed: {done.stderr[-2000:]}")
    return done.stdout


def zk_exists(endpoint: str, path: str) -> bool:
    """Whether a znode exists (the CLI exits non-zero and says so when it does not)."""
    try:
        zk_cli(endpoint, "stat", path)
    except RuntimeError as exc:
        if "Node does not exist" in str(exc):
            return False
        raise
    return True


def replica_path(table: str, *, shard: str = "01", database: str = "torghut") -> str:
    """The table's znode, as the seed DDL names it."""
    return f"/clickhouse/tables/{shard}/{database}/{table}"
