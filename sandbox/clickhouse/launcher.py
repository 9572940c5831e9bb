"""`launch(workdir, ...)`: start the chdb ClickHouse server as a background process."""

from __future__ import annotations

import contextlib
import json
import signal
import urllib.request
from pathlib import Path

from sandbox.clickhouse.pressure import mount_tmpfs, unmount
from sandbox.util import (
    Service,
    free_port,
    python_module_args,
    spawn,
    stop_pid,
    wait_started,
)


def _ping(url: str) -> bool:
    with urllib.request.urlopen(f"{url}/ping", timeout=1) as resp:
        return resp.read().strip() == b"Ok."


def launch(
    workdir: Path,
    *,
    port: int | None = None,
    user: str = "default",
    password: str = "",
    seed: bool = True,
    ttl_days: int = 30,
    replicated: str | None = None,
    replica: str = "r1",
    tmpfs_size_mb: int | None = None,
    config_xml: Path | None = None,
    max_partition_size_to_drop: int | None = None,
    users: dict[str, tuple[str, list[str]]] | None = None,
    timeout: float = 90.0,
) -> Service:
    """Start `python -m sandbox.clickhouse` with its data in `workdir/clickhouse-data`.

    `replicated` is a ZooKeeper endpoint (host:port): the seed tables then use
    ReplicatedMergeTree. `tmpfs_size_mb` mounts a tmpfs of that size as the data path (root only;
    undo it with `stop(service)`). `max_partition_size_to_drop` (bytes) sets the server's
    drop-size guard (Code 359 above it). `users` maps more user names to (password, grants), e.g.
    `{"torghut_ops": ("pw", ["SELECT ON torghut.*"])}`; those users (the main `user` too, if
    listed) are held to their grants by the front (`sandbox.clickhouse.grants`), the main `user`
    otherwise may do anything. The Service's endpoints: {"http": "http://127.0.0.1:P"}.
    """
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    data_dir = workdir / "clickhouse-data"
    if tmpfs_size_mb is not None:
        mount_tmpfs(data_dir, tmpfs_size_mb)
    port = port or free_port()
    args = ["--port", str(port), "--data-dir", str(data_dir), "--user", user]
    password_file = workdir / "clickhouse-password"
    password_file.write_text(password)
    password_file.chmod(0o600)
    args += ["--password-file", str(password_file), "--ttl-days", str(ttl_days)]
    if seed:
        args.append("--seed")
    if tmpfs_size_mb is not None:
        args.append("--unmount-on-exit")  # so `ta-sandbox down` (SIGTERM by PID) undoes it too
    if replicated:
        args += ["--engine", "replicated", "--zookeeper", replicated, "--replica", replica]
    if config_xml:
        args += ["--config-xml", str(config_xml)]
    if max_partition_size_to_drop is not None:
        args += ["--max-partition-size-to-drop", str(max_partition_size_to_drop)]
    if users:
        args += ["--users-file", str(_write_users(workdir, users))]
    log = workdir / "clickhouse.log"
    proc = spawn(python_module_args("sandbox.clickhouse", *args), log_path=log)
    url = f"http://127.0.0.1:{port}"

    try:
        wait_started(
            proc.pid, lambda: _ping(url), log=log, what="clickhouse server", timeout=timeout,
            stop_signal=signal.SIGKILL,
        )  # fmt: skip
    except BaseException:
        if tmpfs_size_mb is not None:
            unmount(data_dir)
        raise
    return Service("clickhouse", proc.pid, {"http": url}, str(log))


def _write_users(workdir: Path, users: dict[str, tuple[str, list[str]]]) -> Path:
    spec = {}
    for name, (password, grants) in users.items():
        path = workdir / f"clickhouse-password-{name}"
        path.write_text(password)
        path.chmod(0o600)
        spec[name] = {"password_file": str(path), "grants": grants}
    users_file = workdir / "clickhouse-users.json"
    users_file.write_text(json.dumps(spec, indent=2))
    return users_file


def stop(service: Service, workdir: Path | None = None) -> None:
    """End the server (SIGKILL: chdb with replicated tables hangs on close) and undo any tmpfs."""
    stop_pid(service.pid, timeout=3, sig=signal.SIGKILL)
    if workdir is not None:
        with contextlib.suppress(OSError):
            unmount(Path(workdir).resolve() / "clickhouse-data")
