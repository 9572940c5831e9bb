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

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dashboard_lib import data_panels, metric_names

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
# series of every install whose exporter answers, whatever its probes find
HEALTH_METRICS = frozenset(
    {
        "torghut_ta_probe_success",
        "torghut_ta_probe_duration_seconds",
        "torghut_ta_probe_last_success_timestamp_seconds",
        "up",
        "ALERTS",
    }
)
UNKNOWN_CODE = 2.0  # a stage tile's value for UNKNOWN (dashboards/overview_top.py)


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


def scope_problems(
    board: Mapping[str, Any], results: dict[tuple[str, str], list[dict[str, Any]]], *, mine: str
) -> list[str]:
    """What one install's view shows of the other: foreign probe names or alerts, and (for B,
    whose data is gone) any data series at all or a stage tile other than UNKNOWN."""
    out = []
    for panel in data_panels(board):
        for t in panel["targets"]:
            series = results[(panel["title"], t["refId"])]
            where = f"{panel['title']} {t['refId']}"
            for s in series:
                probe = s["metric"].get("probe", "")
                if probe and probe.startswith(B_PROBE_PREFIX) != (mine == "B"):
                    out.append(f"{where}: probe {probe} of the other install")
                cluster = s["metric"].get("cluster")
                if (
                    cluster is not None
                    and cluster != (INSTALL_A if mine == "A" else INSTALL_B)["cluster"]
                ):
                    out.append(f"{where}: cluster {cluster}")
            if mine != "B" or not series:
                continue
            names = metric_names(t["expr"])
            if names == {"torghut_ta_component_status"}:
                values = {float(s["value"][1]) for s in series}
                if values != {UNKNOWN_CODE}:
                    out.append(f"{where}: stage tile {values}, not UNKNOWN, without data")
            elif not names <= HEALTH_METRICS:
                out.append(f"{where}: {len(series)} series in an install without data")
    return out
