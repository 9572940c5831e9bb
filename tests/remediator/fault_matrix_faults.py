"""The fault matrix's injections on the shared stack, each with what lifts it: the stand-ins'
test-only fault hooks (Kubernetes API, GitHub, Argo CD), SIGSTOP/SIGCONT of a service, a
pre-receive hook in the git remote, the remediator's Role narrowed, the exporter restarted."""

from __future__ import annotations

import json
import os
import signal
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from fault_matrix_kit import World, kube_admin

from sandbox import state
from sandbox.kube import chart
from sandbox.stack import launch_exporter
from sandbox.util import stop_pid


def kube_fault(**fault: Any) -> Callable[[World], None]:
    def inject(w: World) -> None:
        kube_admin(w.stack, "POST", "/sandbox/faults", fault)

    return inject


def kube_lift(w: World) -> None:
    kube_admin(w.stack, "DELETE", "/sandbox/faults")


def _github_admin(stack: dict[str, Any], body: dict[str, Any]) -> None:

    services = state.load(Path(stack["dir"]))
    token_file = next(
        s.endpoints["github_admin_token_file"] for s in services
        if "github_admin_token_file" in s.endpoints
    )  # fmt: skip
    req = urllib.request.Request(
        f"{stack['github_api']}/_sandbox/settings", data=json.dumps(body).encode(), method="PUT",
        headers={"Authorization": f"Bearer {Path(token_file).read_text().strip()}",
                 "Content-Type": "application/json"},
    )  # fmt: skip
    with urllib.request.urlopen(req, timeout=30) as resp:
        assert resp.status == 200


def github_settings(body: dict[str, Any]) -> Callable[[World], None]:
    return lambda w: _github_admin(w.stack, body)


def github_lift(w: World) -> None:
    _github_admin(w.stack, {"outage": {"status": 503, "count": 0},
                            "rate_limit": {"secondary_count": 0, "remaining": 5000}})  # fmt: skip


def argocd(mode: str) -> Callable[[World], None]:
    def inject(w: World) -> None:
        app = yaml.safe_load(w.rem.config.read_text())["remediator"]["argocd"].get(
            "app", "torghut-ta"
        )
        kube_admin(w.stack, "POST", f"/sandbox/argocd/applications/{app}/fault",
                    {"mode": mode, "message": "fault matrix: the sync failed"})  # fmt: skip

    return inject


def _pids(w: World, prefix: str) -> list[int]:
    return [s.pid for s in state.load(Path(w.stack["dir"])) if s.name.startswith(prefix) and s.pid]


def freeze(prefix: str) -> tuple[Callable[[World], None], Callable[[World], None]]:
    """SIGSTOP / SIGCONT every process of the stack's service(s) named `prefix*`."""

    def inject(w: World) -> None:
        for pid in _pids(w, prefix):
            os.kill(pid, signal.SIGSTOP)

    def lift(w: World) -> None:
        for pid in _pids(w, prefix):
            os.kill(pid, signal.SIGCONT)

    return inject, lift


_HOOK = "#!/bin/sh\necho 'fault matrix: pushes are refused by a pre-receive hook' >&2\nexit 1\n"


def _hook(w: World) -> Path:
    return Path(w.stack["git_remote"]) / "hooks" / "pre-receive"


def refuse_pushes(w: World) -> None:
    _hook(w).write_text(_HOOK)
    _hook(w).chmod(0o755)


def allow_pushes(w: World) -> None:
    _hook(w).unlink(missing_ok=True)


def _remediator_role(w: World) -> str:
    _, name = chart.service_account(chart.rbac_objects(), "remediator")
    return f"/apis/rbac.authorization.k8s.io/v1/namespaces/torghut/roles/{name}"


_SAVED_ROLE: list[dict[str, Any]] = []


def narrow_role(w: World) -> None:
    """The remediator's Role in the pipeline's namespace without `create` on Events."""
    role = kube_admin(w.stack, "GET", _remediator_role(w))
    _SAVED_ROLE[:] = [role]
    rules = []
    for rule in role["rules"]:
        if "events" in rule.get("resources", []):
            rule = {**rule, "verbs": [v for v in rule["verbs"] if v != "create"]}
        if rule["verbs"]:
            rules.append(rule)
    kube_admin(w.stack, "PUT", _remediator_role(w), {**role, "rules": rules})


def restore_role(w: World) -> None:
    if _SAVED_ROLE:
        role = kube_admin(w.stack, "GET", _remediator_role(w))
        kube_admin(w.stack, "PUT", _remediator_role(w), {**role, "rules": _SAVED_ROLE[0]["rules"]})
        _SAVED_ROLE.clear()


def restart_exporter(w: World) -> None:
    services = state.load(Path(w.stack["dir"]))
    old = next(s for s in services if s.name == "exporter")
    stop_pid(old.pid)
    port = int(w.stack["exporter"].rsplit(":", 1)[1])
    workdir = Path(w.stack["dir"])
    new = launch_exporter(workdir, workdir / "exporter.yaml", port)
    state.save(workdir, [new if s.name == "exporter" else s for s in services])


def lease_holder(stack: dict[str, Any]) -> str | None:
    path = "/apis/coordination.k8s.io/v1/namespaces/torghut-ta-ops/leases/torghut-ta-remediator"
    holder = kube_admin(stack, "GET", path)["spec"].get("holderIdentity")
    return None if holder is None else str(holder)


def nothing_(_w: World) -> None:
    return None
