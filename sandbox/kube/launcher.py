"""Start the API stand-in as a background process and write the kubeconfig clients load."""

from __future__ import annotations

import json
import secrets
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from sandbox.gitops import APP_PATH, GitRepo, create_repo
from sandbox.kube import chart
from sandbox.kube.client import service_account_token
from sandbox.kube.timings import Timings, resolve
from sandbox.util import Service, free_port, python_module_args, spawn, wait_started

CONTEXT = "torghut-sandbox"


def write_kubeconfig(path: Path, url: str, token: str, namespace: str = "torghut") -> Path:
    """A kubeconfig with one cluster (plain http) and one bearer-token user."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": CONTEXT, "cluster": {"server": url}}],
        "users": [{"name": CONTEXT, "user": {"token": token}}],
        "contexts": [
            {
                "name": CONTEXT,
                "context": {"cluster": CONTEXT, "user": CONTEXT, "namespace": namespace},
            }
        ],
        "current-context": CONTEXT,
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    path.chmod(0o600)
    return path


def _existing_or_new_repo(workdir: Path) -> GitRepo:
    remote, work = workdir / "gitops.git", workdir / "gitops"
    if remote.exists() and work.exists():
        return GitRepo(remote=remote, workdir=work)
    return create_repo(workdir)


def _ready(url: str, token: str) -> bool:
    req = urllib.request.Request(
        f"{url}/sandbox/ready", headers={"Authorization": f"Bearer {token}"}
    )
    try:
        with urllib.request.urlopen(req, timeout=1) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError):
        return False


def launch(
    workdir: Path,
    *,
    seed: bool = True,
    gitops: GitRepo | None = None,
    port: int | None = None,
    token: str | None = None,
    timings: Timings | str = "middle",
    argocd_automated: bool = False,
    argocd_self_heal: bool = False,
    persist: bool = True,
    clickhouse_auth: dict[str, str] | None = None,
    rbac: list[dict[str, Any]] | None = None,
    argocd_token: str | None = None,
    ready_timeout: float = 60.0,
) -> Service:
    """Start `python -m sandbox.kube` and wait until it serves (seeded, when `seed`).

    With `seed` and no `gitops`, a GitOps repo is created (or reused) under `workdir`.
    `rbac`: the ServiceAccounts, Roles and bindings requests are authorized against (loaded at
    every seed and reset); None renders them from the Helm chart (`sandbox.kube.chart`).
    `timings`: "fast" (tests), "middle" (the demo) or "realistic" (a real cluster's pace).
    Endpoints: kube_api, kubeconfig, token (admin), argocd_api, argocd_token, argocd_token_file,
    gitops_remote, gitops_workdir.
    """
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    if seed and gitops is None:
        gitops = _existing_or_new_repo(workdir)
    port = port or free_port()
    token = token or secrets.token_urlsafe(24)
    argocd_token = argocd_token or secrets.token_urlsafe(24)
    url = f"http://127.0.0.1:{port}"
    config: dict[str, Any] = {
        "workdir": str(workdir),
        "port": port,
        "token": token,
        "argocd_token": argocd_token,
        "rbac": chart.rbac_objects() if rbac is None else rbac,
        "seed": seed,
        "persist": persist,
        "timings": resolve(timings).to_dict(),
        "argocd": {"automated": argocd_automated, "self_heal": argocd_self_heal},
        "gitops": (
            {"remote": gitops.url, "branch": gitops.branch, "path": gitops.app_path or APP_PATH}
            if gitops
            else None
        ),
    }
    if clickhouse_auth:
        config["clickhouse_auth"] = clickhouse_auth
    config_path = workdir / "kube-standin.json"
    config_path.write_text(json.dumps(config, indent=2))
    config_path.chmod(0o600)
    kubeconfig = write_kubeconfig(workdir / "kubeconfig", url, token)
    argocd_token_file = workdir / "argocd-token"
    argocd_token_file.write_text(argocd_token)
    argocd_token_file.chmod(0o600)
    log = workdir / "kube.log"
    proc = spawn(python_module_args("sandbox.kube", "--config", str(config_path)), log_path=log)

    wait_started(
        proc.pid, lambda: _ready(url, token), log=log, what="kube stand-in",
        timeout=ready_timeout, interval=0.02,
    )  # fmt: skip
    endpoints = {
        "kube_api": url,
        "kubeconfig": str(kubeconfig),
        "token": token,
        "argocd_api": f"{url}/argocd",
        "argocd_token": argocd_token,
        "argocd_token_file": str(argocd_token_file),
    }
    if gitops is not None:
        endpoints.update(gitops_remote=str(gitops.remote), gitops_workdir=str(gitops.workdir))
    return Service(name="kube", pid=proc.pid, endpoints=endpoints, log=str(log))


def component_kubeconfig(kube: Service, component: str, directory: Path) -> tuple[Path, Path]:
    """A kubeconfig for the chart's ServiceAccount of `component` (exporter, remediator) on the
    running stand-in `kube`, and the token file beside it: (kubeconfig, token file)."""
    ns, name = chart.service_account(chart.rbac_objects(), component)
    url = kube.endpoints["kube_api"]
    token = service_account_token(url, kube.endpoints["token"], ns, name)
    token_file = directory / f"{component}-kube-token"
    token_file.write_text(token)
    token_file.chmod(0o600)
    return write_kubeconfig(directory / f"{component}-kubeconfig", url, token), token_file
