"""The remediator on the stack: `ta-remediator serve` with its own credentials, and the
Alertmanager routing that feeds it.

- Kubernetes: the chart's remediator ServiceAccount (the stand-in authorizes it with the Role the
  rendered chart grants), through its own kubeconfig and token file.
- ClickHouse: the probes read as the exporter's read-only user (the chart renders one shared
  config for both components); actions run as `torghut_remediator` through
  `remediator.clickhouse_remediation` wherever the config has that section.
- Tokens (files under DIR/secrets): the webhook token Alertmanager posts with, and one
  operator's API token (read and approve). The journal lives under DIR/remediator/.
- Alertmanager: the shipped routes of `alerts/alertmanager/remediator-route.yml` (procedure A/B
  alerts and TATradingOnStaleSignals), pointed at this remediator with the webhook token file.
"""

from __future__ import annotations

import copy
import secrets
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from remediator.config import RemediatorSection
from sandbox import kube
from sandbox.kube.chart import NAMESPACE as LEASE_NAMESPACE
from sandbox.util import Service, free_port, python_module_args, spawn, wait_started

REPO_ROOT = Path(__file__).resolve().parent.parent
ROUTE_FILE = REPO_ROOT / "alerts" / "alertmanager" / "remediator-route.yml"
MODES = ("observe", "propose", "auto")
OPERATOR = "sandbox-operator"
SCENARIO = "scenario"  # `ta-sandbox scenario --approve`: approvals journaled under this name
SCRAPE_JOB = "torghut-ta-remediator"
RECEIVER = "torghut-ta-remediator"
# A triage runs one fresh cycle of the exporter's probes: on a loaded machine the stack
# exporter's 2 s timeout would turn a slow answer into "unknown" and refuse the run.
PROBES = {"interval": "30s", "timeout": "20s", "staleness": "60s"}
# The sandbox's pace: notifications within seconds, not the shipped 10 s / 1 m.
TIMINGS = {"group_wait": "1s", "group_interval": "5s"}


class ModeRefused(ValueError):
    """The remediator's config does not accept the requested mode."""


def check_mode(mode: str) -> None:
    """Raise ModeRefused with the config's own reason when `remediator.mode` refuses `mode`
    (asked of the config model itself, so a mode it accepts later works here unchanged)."""
    try:
        RemediatorSection.model_validate({"mode": mode})
    except ValidationError as exc:
        why = "; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())
        raise ModeRefused(f"--remediator-mode {mode}: remediator.mode: {why}") from None


@dataclass(frozen=True)
class Credentials:
    kubeconfig: Path
    kube_token_file: Path
    webhook_token_file: Path
    operator_token_file: Path
    scenario_token_file: Path


def _token_file(path: Path) -> Path:
    path.write_text(secrets.token_urlsafe(32))
    path.chmod(0o600)
    return path


def credentials(kube_service: Service, secrets_dir: Path) -> Credentials:
    kubeconfig, kube_token = kube.component_kubeconfig(kube_service, "remediator", secrets_dir)
    return Credentials(
        kubeconfig,
        kube_token,
        _token_file(secrets_dir / "remediator-webhook-token"),
        _token_file(secrets_dir / "remediator-operator-token"),
        _token_file(secrets_dir / "remediator-scenario-token"),
    )


def remediator_config(
    exporter_cfg: dict[str, Any],
    *,
    mode: str,
    port: int,
    journal: Path,
    creds: Credentials,
    clickhouse_user: str,
    clickhouse_password_file: Path,
    alertmanager_url: str,
    gitops: dict[str, Any] | None = None,
    argocd: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The stack exporter's config plus the `remediator:` section. `gitops`/`argocd`: the
    actuators' sections (what propose and auto need), from the stack's git remote, GitHub
    stand-in and Argo CD."""
    cfg = copy.deepcopy(exporter_cfg)
    cfg["kubernetes"] = {**cfg.get("kubernetes", {}), "kubeconfig": str(creds.kubeconfig)}
    cfg["probes"] = {**cfg.get("probes", {}), "default": dict(PROBES)}
    section: dict[str, Any] = {
        "mode": mode,
        "listen": {"host": "127.0.0.1", "port": port},
        "webhook_token": {"file": str(creds.webhook_token_file)},
        "api_tokens": [
            {
                "name": OPERATOR,
                "token": {"file": str(creds.operator_token_file)},
                "may_approve": True,
            },
            {
                "name": SCENARIO,
                "token": {"file": str(creds.scenario_token_file)},
                "may_approve": True,
            },
        ],
        "journal_path": str(journal),
        # the chart's Role grants the Lease in the release namespace; outside a pod it is named
        "lease": {"namespace": LEASE_NAMESPACE},
    }
    if gitops is not None:
        section["gitops"] = gitops
    if argocd is not None:
        section["argocd"] = argocd
    fields = RemediatorSection.model_fields
    if "clickhouse_remediation" in fields:  # the ClickHouse actuator's own identity
        section["clickhouse_remediation"] = {
            "user": clickhouse_user,
            "password": {"file": str(clickhouse_password_file)},
        }
    if "alertmanager" in fields:  # where it posts its own alerts (escalations)
        section["alertmanager"] = {
            "urls": [alertmanager_url],
            "run_url_base": f"http://127.0.0.1:{port}",
        }
    cfg["remediator"] = section
    return cfg


def launch(workdir: Path, config_path: Path, port: int, creds: Credentials) -> Service:
    """Start `ta-remediator serve` and wait until /readyz answers (its journal is open)."""
    log_path = workdir / "logs" / "remediator.log"
    args = python_module_args("remediator.cli", "serve", "--config", str(config_path))
    proc = spawn(args, log_path=log_path)
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        with urllib.request.urlopen(f"{url}/readyz", timeout=1) as resp:
            return resp.status == 200

    wait_started(proc.pid, ready, log=log_path, what="remediator", timeout=60, interval=0.2)
    endpoints = {
        "remediator": url,
        "approvals_page": f"{url}/ui",  # log in with the operator's token (remediator_token_file)
        "remediator_webhook_token_file": str(creds.webhook_token_file),
        "remediator_token_file": str(creds.operator_token_file),
        "remediator_scenario_token_file": str(creds.scenario_token_file),
        "remediator_config": str(config_path),
        "remediator_kube_token_file": str(creds.kube_token_file),
    }
    return Service("remediator", proc.pid, endpoints, str(log_path))


def start(
    workdir: Path,
    *,
    mode: str,
    exporter_cfg: dict[str, Any],
    kube_service: Service,
    clickhouse_user: str,
    clickhouse_password_file: Path,
    alertmanager_url: str,
    gitops: dict[str, Any] | None = None,
    argocd: dict[str, Any] | None = None,
    overrides: dict[str, Any] | None = None,
) -> Service:
    """Credentials, config (DIR/remediator.yaml) and the process. `overrides`: merged into the
    config last, key by key (e.g. `{"remediator": {"policy": {"drop": {"keep_days": 1}}}}`)."""
    creds = credentials(kube_service, workdir / "secrets")
    port = free_port()
    home = workdir / "remediator"
    home.mkdir(exist_ok=True)
    cfg = remediator_config(
        exporter_cfg,
        mode=mode,
        port=port,
        journal=home / "journal.sqlite3",
        creds=creds,
        clickhouse_user=clickhouse_user,
        clickhouse_password_file=clickhouse_password_file,
        alertmanager_url=alertmanager_url,
        gitops=gitops,
        argocd=argocd,
    )
    merge_into(cfg, overrides or {})
    config_path = workdir / "remediator.yaml"
    config_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return launch(workdir, config_path, port, creds)


def merge_into(base: dict[str, Any], overrides: dict[str, Any]) -> None:
    """Overrides win; mappings merge key by key, anything else replaces."""
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            merge_into(base[key], value)
        else:
            base[key] = copy.deepcopy(value)


def actuator_sections(
    *, git_remote: str, github: Service, kube_service: Service, repo: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """`remediator.gitops` and `remediator.argocd` for the stack: the protected git remote, the
    GitHub stand-in's write token (PRs, merges) and Argo CD's API and token."""
    gitops = {
        "remote_url": git_remote,
        "github": {
            "api_url": github.endpoints["github_api"],
            "repo": repo,
            "token": {"file": github.endpoints["github_token_file"]},
        },
    }
    argocd = {
        "api_url": kube_service.endpoints["argocd_api"],
        "token": {"file": kube_service.endpoints["argocd_token_file"]},
    }
    return gitops, argocd


def alertmanager_config(remediator: Service) -> dict[str, Any]:
    """The shipped remediator routes and receiver, pointed at this remediator; every other
    alert goes to a receiver without integrations (the sandbox pages nobody)."""
    shipped = yaml.safe_load(ROUTE_FILE.read_text())
    routes = [{**r, **TIMINGS} for r in shipped["route"]["routes"]]
    (receiver,) = [r for r in shipped["receivers"] if r["name"] == RECEIVER]
    hooks = []
    for hook in receiver["webhook_configs"]:
        hook = copy.deepcopy(hook)
        hook["url"] = f"{remediator.endpoints['remediator']}/webhook/alertmanager"
        auth = hook["http_config"]["authorization"]
        auth["credentials_file"] = remediator.endpoints["remediator_webhook_token_file"]
        hooks.append(hook)
    return {
        "route": {
            "receiver": "null",
            "group_by": ["alertname"],
            "routes": [*routes, {"receiver": "null"}],
        },
        "receivers": [{"name": "null"}, {"name": RECEIVER, "webhook_configs": hooks}],
    }


def scrape_target(remediator: Service) -> tuple[str, str]:
    """(job, host:port) of the remediator's /metrics for the stack's Prometheus."""
    return (SCRAPE_JOB, remediator.endpoints["remediator"].removeprefix("http://"))
