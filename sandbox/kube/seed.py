"""First-start objects: the ClickHouse auth Secret (never in git) and the Argo CD Application,
whose initial sync creates everything under the GitOps path (FlinkDeployment, ConfigMap,
Knative Service) exactly as a later sync would."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

from sandbox.kube.argocd import NAMESPACE, ArgoCD
from sandbox.kube.resources import APPLICATION, SECRET
from sandbox.kube.store import Store, resource_for

APP_NAME = "torghut-ta"
TARGET_NAMESPACE = "torghut"


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def application(gitops: dict[str, Any], *, automated: bool, self_heal: bool) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "project": "default",
        "source": {
            "repoURL": gitops["remote"],
            "targetRevision": gitops.get("branch", "main"),
            "path": gitops.get("path", "argocd/applications/torghut"),
            "directory": {"recurse": True},
        },
        "destination": {"server": "https://kubernetes.default.svc", "namespace": TARGET_NAMESPACE},
        "syncPolicy": {"syncOptions": ["CreateNamespace=false"]},
    }
    if automated:
        spec["syncPolicy"]["automated"] = {"prune": False, "selfHeal": self_heal}
    return {
        "apiVersion": APPLICATION.api_version,
        "kind": APPLICATION.kind,
        "metadata": {"name": APP_NAME, "namespace": NAMESPACE},
        "spec": spec,
    }


def load_rbac(store: Store, objects: list[dict[str, Any]]) -> None:
    """ServiceAccounts, Roles and bindings (the rendered chart's) that are not there yet."""
    for obj in objects:
        res = resource_for(obj["apiVersion"], obj["kind"])
        meta = obj.get("metadata") or {}
        ns = (meta.get("namespace") or "default") if res.namespaced else ""
        if store.find(res, ns, meta["name"]) is None:
            store.create(res, ns, obj)


async def seed(store: Store, argocd: ArgoCD, config: dict[str, Any]) -> None:
    """Create what is missing (a restart with a state file keeps existing objects as they are)."""
    load_rbac(store, config.get("rbac") or [])
    secret = config.get("clickhouse_auth") or {"username": "torghut", "password": "sandbox"}
    if store.find(SECRET, TARGET_NAMESPACE, "torghut-clickhouse-auth") is None:
        store.create(
            SECRET,
            TARGET_NAMESPACE,
            {
                "metadata": {"name": "torghut-clickhouse-auth"},
                "type": "Opaque",
                "data": {k: _b64(v) for k, v in secret.items()},
            },
        )
    gitops = config.get("gitops")
    if gitops is None or store.find(APPLICATION, NAMESPACE, APP_NAME) is not None:
        return
    argocd_cfg = config.get("argocd") or {}
    app = application(
        gitops,
        automated=bool(argocd_cfg.get("automated")),
        self_heal=bool(argocd_cfg.get("self_heal")),
    )
    app["operation"] = {"initiatedBy": {"username": "sandbox-seed"}, "sync": {}}
    store.create(APPLICATION, NAMESPACE, app)
    # Registered before the next await, so a running controller loop does not start it twice.
    task = asyncio.create_task(argocd.operate(APP_NAME, delay=False))
    argocd.tasks[APP_NAME] = task
    await task
