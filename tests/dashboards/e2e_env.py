"""The end-to-end query test's environment: scrape jobs, replica names, and the config of the
second exporter (the one that watches the replicated ClickHouse and the real Flink REST)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sandbox.testing.clickhouse import ClickHouseServer

EXPORTER_JOB = "torghut-ta-exporter"
REMEDIATOR_JOB = "torghut-ta-remediator"
STACK_REPLICA = "chi-0"  # the stack exporter's name for the stack's (plain MergeTree) ClickHouse
WATCH_REPLICA = "chi-1"  # the second exporter's name for the replicated server


@dataclass(frozen=True)
class FlinkRest:
    url: str | None


def watch_exporter_config(
    stack_config: dict[str, Any],
    *,
    clickhouse: ClickHouseServer,
    password_file: Path,
    kubeconfig: str,
    flink_rest_url: str | None,
    port: int,
) -> dict[str, Any]:
    """The stack exporter's config with the replicated ClickHouse and the real Flink REST."""
    cfg = {k: v for k, v in stack_config.items() if k != "jangar"}
    cfg["clickhouse"] = {
        "replicas": [{"name": WATCH_REPLICA, "url": clickhouse.url}],
        "user": clickhouse.user,
        "password": {"file": str(password_file)},
    }
    cfg["kubernetes"] = {"kubeconfig": kubeconfig}
    # the cluster's job is submitted under the FlinkDeployment's name, which is how the
    # flink_rest probe picks it (exporter/probes/flink_rest.py pick_job)
    cfg["flink"] = {"deployment": "torghut-ta"}
    if flink_rest_url:
        cfg["flink"]["rest_url"] = flink_rest_url
    cfg["server"] = {"host": "127.0.0.1", "port": port}
    return cfg
