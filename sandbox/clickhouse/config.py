"""The chdb server config file: ZooKeeper and macros for replicated tables, disk reserve."""

from __future__ import annotations

from pathlib import Path
from xml.sax.saxutils import escape


def parse_endpoint(endpoint: str) -> tuple[str, int]:
    """'host:port' -> (host, port), with a clear error for anything else."""
    host, sep, port = endpoint.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"ZooKeeper endpoint must look like host:port, got {endpoint!r}")
    return host, int(port)


def config_xml(
    *,
    zookeeper: str | None = None,
    replica: str = "r1",
    shard: str = "01",
    zk_session_timeout_ms: int = 3000,
    keep_free_space_bytes: int | None = None,
) -> str:
    """A ClickHouse <clickhouse> config with only the sections asked for."""
    parts: list[str] = []
    if zookeeper:
        host, port = parse_endpoint(zookeeper)
        parts.append(
            "<zookeeper>"
            f"<node><host>{escape(host)}</host><port>{port}</port></node>"
            f"<session_timeout_ms>{zk_session_timeout_ms}</session_timeout_ms>"
            f"<operation_timeout_ms>{min(zk_session_timeout_ms, 3000)}</operation_timeout_ms>"
            "</zookeeper>"
            f"<macros><shard>{escape(shard)}</shard><replica>{escape(replica)}</replica></macros>"
        )
    if keep_free_space_bytes is not None:
        parts.append(
            "<storage_configuration><disks><default>"
            f"<keep_free_space_bytes>{int(keep_free_space_bytes)}</keep_free_space_bytes>"
            "</default></disks></storage_configuration>"
        )
    return "<clickhouse>\n  " + "\n  ".join(parts) + "\n</clickhouse>\n"


# An insert into a read-only replica retries Keeper for ~2.5 min with the defaults (20 retries,
# backoff up to 10 s) before TABLE_IS_READ_ONLY; the sandbox fails it in well under a second.
# chdb ignores <profiles> in the config file, so these go to the engine as startup settings.
REPLICATED_STARTUP_SETTINGS = {
    "insert_keeper_max_retries": "2",
    "insert_keeper_retry_max_backoff_ms": "200",
}


def write_config(path: Path, **options: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(config_xml(**options))  # type: ignore[arg-type]
    return path
