"""The sandbox's state file: which services run, their PIDs and endpoints."""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path

from sandbox.util import Service, pid_alive

STATE_FILE = "sandbox.json"
# launcher endpoint key -> the name `ta-sandbox status` prints; keys not listed (the kube
# stand-in's bearer token, its admin and Argo CD tokens) are never shown. Credentials appear only
# as files, never as values.
PUBLIC_NAMES = {
    "http": "clickhouse_http",
    "kafka_bootstrap": "kafka_bootstrap",
    "kafka_sasl_bootstrap": "kafka_sasl_bootstrap",
    "kafka_exporter_user": "kafka_exporter_user",  # the exporter's SCRAM user on the SASL listener
    "kafka_exporter_password_file": "kafka_exporter_password_file",
    "kafka_ssl_bootstrap": "kafka_ssl_bootstrap",
    "kafka_ca_file": "kafka_ca_file",
    "kubeconfig": "kubeconfig",
    "git_remote": "git_remote",
    "git_workdir": "git_workdir",
    "prometheus": "prometheus",
    "alertmanager": "alertmanager",
    "exporter": "exporter",
    "remediator": "remediator",
    "s3": "s3",
    "jangar": "jangar",
    "kube_api": "kube_api",
    "github_api": "github_api",
    "github_token_file": "github_token_file",
    **{
        f"clickhouse{role}_{key}": f"clickhouse{role}_{key}"
        for role in ("", "_ops", "_remediator")
        for key in ("user", "password_file")
    },
    "argocd_api": "argocd_api",
    "argocd_token_file": "argocd_token_file",
    "exporter_token_file": "exporter_kube_token_file",
    "remediator_webhook_token_file": "remediator_webhook_token_file",
    "remediator_token_file": "remediator_token_file",  # an operator's: read and approve
    "remediator_config": "remediator_config",
    "remediator_kube_token_file": "remediator_kube_token_file",
    "approvals_page": "approvals_page",  # the remediator's /ui
    "zookeeper": "zookeeper",  # `up --replicated`: the Keeper of the replicated TA tables
    "disk_limit": "clickhouse_disk_limit",  # `up --disk-limit`: the tmpfs under ClickHouse's data
    "disk_limit_mount": "clickhouse_data_mount",
    # how the stack was started (`ta-sandbox scenario` reads them)
    "alert_pace": "alert_pace",
    "remediator_mode": "remediator_mode",
    "timings": "timings",
    "replicated": "replicated",
    "history_hours": "history_hours",  # `up --history-hours`: the past Kafka holds (replay)
    "remediator_scenario_token_file": "remediator_scenario_token_file",
}


def mounted(service: Service) -> bool:
    """Whether this record is a `--disk-limit` tmpfs that is still mounted."""
    path = service.endpoints.get("disk_limit_mount")
    return path is not None and os.path.ismount(path)


def load(workdir: Path) -> list[Service]:
    path = workdir / STATE_FILE
    if not path.exists():
        return []
    return [Service(**s) for s in json.loads(path.read_text())["services"]]


def save(workdir: Path, services: list[Service]) -> None:
    path = workdir / STATE_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"services": [asdict(s) for s in services]}, indent=2))
    os.replace(tmp, path)


def status(services: list[Service]) -> dict[str, object]:
    """One object: each public endpoint, and whether each service is up (its PID alive)."""
    out: dict[str, object] = {}
    up: dict[str, bool] = {}
    for s in services:
        alive = pid_alive(s.pid) if s.pid > 0 else True
        if "disk_limit_mount" in s.endpoints:
            alive = mounted(s)
        up[s.name] = alive
        if alive:
            out.update({PUBLIC_NAMES[k]: v for k, v in s.endpoints.items() if k in PUBLIC_NAMES})
    out["up"] = up
    return out
