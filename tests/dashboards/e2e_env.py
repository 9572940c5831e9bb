"""The end-to-end query test's environment: scrape jobs, replica names, the two installs one
Prometheus holds, and the config of the second exporter (the one that watches the replicated
ClickHouse and the real Flink REST).

Install A (`INSTALL_A`) is the stack's exporter, the watch exporter and the remediator. Install B
(`INSTALL_B`) is the stack's exporter scraped a second time under B's cluster/namespace labels,
keeping only its probe-health series, renamed (`probe="b-<probe>"`): an install whose exporter
answers but whose data is gone. A panel filtered to A must show nothing of B, and filtered to B
nothing of A (B's data panels empty, its stage tiles UNKNOWN). One rule fires an alert per
install, so the alert list is checked per install too."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sandbox.testing.clickhouse import ClickHouseServer

EXPORTER_JOB = "torghut-ta-exporter"
REMEDIATOR_JOB = "torghut-ta-remediator"
STACK_REPLICA = "chi-0"  # the stack exporter's name for the stack's (plain MergeTree) ClickHouse
WATCH_REPLICA = "chi-1"  # the second exporter's name for the replicated server
INSTALL_A = {"cluster": "east", "namespace": "torghut"}
INSTALL_B = {"cluster": "west", "namespace": "torghut-b"}
B_PROBE_PREFIX = "b-"
# install B keeps its probe health only, under other probe names: its data is "gone"
B_RELABEL: tuple[dict[str, Any], ...] = (
    {"source_labels": ["__name__"], "regex": "torghut_ta_probe_.*", "action": "keep"},
    {
        "source_labels": ["probe"],
        "regex": "(.+)",
        "target_label": "probe",
        "replacement": f"{B_PROBE_PREFIX}$1",
    },
)
PER_INSTALL_ALERT = "TAE2eInstallAlert"


def per_install_rules() -> dict[str, Any]:
    """A rule firing once per install that exports probe health: ALERTS carries its labels."""
    return {
        "groups": [
            {
                "name": "e2e",
                "rules": [
                    {
                        "alert": PER_INSTALL_ALERT,
                        "expr": "max by (cluster, namespace) (torghut_ta_probe_success) >= 0",
                        "labels": {"severity": "info"},
                    }
                ],
            }
        ]
    }


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
