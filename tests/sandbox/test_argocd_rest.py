"""Argo CD's REST API on the stand-in (Bearer token of its own), sync scope, the three-way diff,
`?refresh=`, and the fault hook that makes a sync hang or fail."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
from kubernetes_asyncio import client

from sandbox.gitops import GitRepo
from sandbox.kube import launch
from sandbox.testing.kube import KubeSandbox
from sandbox.util import apoll_until

MERGE = "application/merge-patch+json"
FLINK = ("flink.apache.org", "v1beta1", "torghut", "flinkdeployments")
FD_FILE = "argocd/applications/torghut/ta/flinkdeployment.yaml"
CM_FILE = "argocd/applications/torghut/ta/configmap.yaml"


async def rest(
    base: str, token: str, method: str, path: str, body: Any = None
) -> tuple[int, dict[str, Any]]:
    async with (
        aiohttp.ClientSession() as session,
        session.request(
            method, f"{base}/api/v1/applications/{path}", json=body,
            headers={"Authorization": f"Bearer {token}"},
        ) as resp,
    ):  # fmt: skip
        return resp.status, await resp.json()


def phase(app: dict[str, Any]) -> str | None:
    return ((app.get("status") or {}).get("operationState") or {}).get("phase")


async def until(kube_api: KubeSandbox, check: Any, what: str) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        _, app = await rest(kube_api.argocd_api, kube_api.argocd_token, "GET", "torghut-ta")
        return app if check(app) else None

    return await apoll_until(probe, timeout=60, what=what)


async def test_rest_sync_needs_the_argocd_token_and_clears_the_previous_state(
    kube_api: KubeSandbox,
) -> None:
    code, body = await rest(kube_api.argocd_api, kube_api.token, "POST", "torghut-ta/sync", {})
    assert code == 401 and body["message"] == "no session information"
    code, _ = await rest(kube_api.argocd_api, kube_api.argocd_token, "POST", "torghut-ta/sync", {})
    assert code == 200
    first = await until(kube_api, lambda a: phase(a) == "Succeeded", "first sync done")
    kube_api.argocd_fault("hang")
    code, app = await rest(
        kube_api.argocd_api, kube_api.argocd_token, "POST", "torghut-ta/sync", {}
    )
    assert code == 200 and app["operation"]["sync"] == {}
    assert "operationState" not in app["status"]  # cleared in the same write
    running = await until(kube_api, lambda a: phase(a) == "Running", "second sync Running")
    assert (
        running["status"]["operationState"]["startedAt"]
        >= (first["status"]["operationState"]["startedAt"])
    )
    kube_api.argocd_fault("none")
    await until(kube_api, lambda a: phase(a) == "Succeeded" and "operation" not in a, "done")


async def test_sync_resources_limits_what_is_applied(
    kube_api: KubeSandbox, kube_client: client.ApiClient
) -> None:
    repo = kube_api.repo
    repo.write(
        CM_FILE, repo.read(CM_FILE).replace("TA_GROUP_ID: torghut-ta-v1", "TA_GROUP_ID: r-2")
    )
    repo.write(FD_FILE, repo.read(FD_FILE).replace("restartNonce: 1", "restartNonce: 5"))
    sha = repo.commit_and_push("replay: new group and restart")
    only_cm = [{"group": "", "kind": "ConfigMap", "name": "torghut-ta-config"}]
    code, _ = await rest(
        kube_api.argocd_api, kube_api.argocd_token, "POST", "torghut-ta/sync",
        {"revision": sha, "resources": only_cm},
    )  # fmt: skip
    assert code == 200
    app = await until(kube_api, lambda a: phase(a) == "Succeeded", "partial sync done")
    result = app["status"]["operationState"]["syncResult"]
    assert [(r["kind"], r["name"]) for r in result["resources"]] == [
        ("ConfigMap", "torghut-ta-config")
    ]
    cm = await client.CoreV1Api(kube_client).read_namespaced_config_map(
        "torghut-ta-config", "torghut"
    )
    assert cm.data["TA_GROUP_ID"] == "r-2"
    fd = await client.CustomObjectsApi(kube_client).get_namespaced_custom_object(
        *FLINK, "torghut-ta"
    )
    assert fd["spec"]["restartNonce"] == 1  # not listed: keeps its live state
    assert app["status"]["sync"]["status"] == "OutOfSync"


async def test_three_way_diff_keeps_a_field_git_never_had(
    kube_api: KubeSandbox, kube_client: client.ApiClient
) -> None:
    api = client.CustomObjectsApi(kube_client)
    await api.patch_namespaced_custom_object(
        *FLINK, "torghut-ta", {"spec": {"job": {"allowNonRestoredState": True}}},
        _content_type=MERGE,
    )  # fmt: skip
    _, app = await rest(
        kube_api.argocd_api, kube_api.argocd_token, "GET", "torghut-ta?refresh=normal"
    )
    assert app["status"]["sync"]["status"] == "Synced"  # not a drift
    await api.patch_namespaced_custom_object(
        *FLINK, "torghut-ta", {"spec": {"job": {"state": "suspended"}}}, _content_type=MERGE
    )
    _, app = await rest(
        kube_api.argocd_api, kube_api.argocd_token, "GET", "torghut-ta?refresh=hard"
    )
    assert app["status"]["sync"]["status"] == "OutOfSync"
    code, _ = await rest(kube_api.argocd_api, kube_api.argocd_token, "POST", "torghut-ta/sync", {})
    assert code == 200
    await until(kube_api, lambda a: phase(a) == "Succeeded", "sync done")
    fd = await api.get_namespaced_custom_object(*FLINK, "torghut-ta")
    assert fd["spec"]["job"]["state"] == "running"  # git's field reverted
    assert fd["spec"]["job"]["allowNonRestoredState"] is True  # the live-only field kept


async def test_a_sync_can_be_made_to_fail(
    kube_api: KubeSandbox, kube_client: client.ApiClient
) -> None:
    repo = kube_api.repo
    repo.write(FD_FILE, repo.read(FD_FILE).replace("restartNonce: 1", "restartNonce: 3"))
    repo.commit_and_push("restart")
    kube_api.argocd_fault("fail", "admission webhook denied the request")
    code, _ = await rest(kube_api.argocd_api, kube_api.argocd_token, "POST", "torghut-ta/sync", {})
    assert code == 200
    app = await until(kube_api, lambda a: phase(a) == "Failed", "sync Failed")
    assert app["status"]["operationState"]["message"] == "admission webhook denied the request"
    assert "operation" not in app
    fd = await client.CustomObjectsApi(kube_client).get_namespaced_custom_object(
        *FLINK, "torghut-ta"
    )
    assert fd["spec"]["restartNonce"] == 1


async def test_realistic_timings_poll_git_rarely_and_refresh_is_honoured(tmp_path: Path) -> None:
    service = launch(tmp_path, timings="realistic", persist=False)
    try:
        base, token = service.endpoints["argocd_api"], service.endpoints["argocd_token"]
        _, before = await rest(base, token, "GET", "torghut-ta")
        old = before["status"]["sync"]["revision"]
        repo = GitRepo(
            remote=Path(service.endpoints["gitops_remote"]),
            workdir=Path(service.endpoints["gitops_workdir"]),
        )
        repo.write(FD_FILE, repo.read(FD_FILE).replace("restartNonce: 1", "restartNonce: 2"))
        sha = repo.commit_and_push("restart")
        _, plain = await rest(base, token, "GET", "torghut-ta")
        assert plain["status"]["sync"]["revision"] == old  # the next git poll is >= 120 s away
        _, fresh = await rest(base, token, "GET", "torghut-ta?refresh=normal")
        assert fresh["status"]["sync"] == {**fresh["status"]["sync"], "status": "OutOfSync"}
        assert fresh["status"]["sync"]["revision"] == sha != old
    finally:
        service.stop()
