"""The chdb server config file: ZooKeeper and macros for replicated tables, disk reserve, the
drop-size guard.

Measured on chdb 26.9: the config file's `<max_partition_size_to_drop>` is honoured (a larger
partition's DROP fails with Code 359 TABLE_SIZE_EXCEEDS_MAX_DROP_SIZE_LIMIT, naming the
`flags/force_drop_table` file), and a query may still raise it with the query setting of the same
name, as on a real server. `<user_directories>` and `<access_control_improvements>` are not
(see `sandbox.clickhouse.grants`).
"""

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
    max_partition_size_to_drop: int | None = None,
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
    if max_partition_size_to_drop is not None:
        if max_partition_size_to_drop < 0:
            raise ValueError(
                f"max_partition_size_to_drop must be >= 0 bytes, got {max_partition_size_to_drop}"
            )
        parts.append(
            f"<max_partition_size_to_drop>{int(max_partition_size_to_drop)}"
            "</max_partition_size_to_drop>"
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
