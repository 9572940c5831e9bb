"""The simulated Argo CD: syncs git into the stand-in, one operation at a time, self-heals."""

from __future__ import annotations

from typing import Any

import aiohttp
from kubernetes_asyncio import client

from sandbox.testing.kube import KubeSandbox
from sandbox.util import apoll_until

MERGE = "application/merge-patch+json"
APP = ("argoproj.io", "v1alpha1", "argocd", "applications")
FLINK = ("flink.apache.org", "v1beta1", "torghut", "flinkdeployments")
FD_FILE = "argocd/applications/torghut/ta/flinkdeployment.yaml"
CM_FILE = "argocd/applications/torghut/ta/configmap.yaml"


async def rest_sync(kube_api: KubeSandbox, body: dict[str, Any]) -> tuple[int, Any]:
    """POST the Argo CD REST sync endpoint of the stand-in."""
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{kube_api.argocd_api}/api/v1/applications/torghut-ta/sync",
            json=body,
            headers={"Authorization": f"Bearer {kube_api.argocd_token}"},
        ) as resp,
    ):
        return resp.status, await resp.json()


def sync_operation(user: str = "test") -> dict[str, Any]:
    return {"operation": {"initiatedBy": {"username": user}, "sync": {"revision": "main"}}}


async def application(api: client.ApiClient) -> dict[str, Any]:
    return await client.CustomObjectsApi(api).get_namespaced_custom_object(*APP, "torghut-ta")


async def until_app(api: client.ApiClient, check: Any, what: str, timeout: float = 10) -> dict:
    async def probe() -> dict | None:
        app = await application(api)
        return app if check(app) else None

    return await apoll_until(probe, timeout=timeout, what=what)


def op_phase(app: dict) -> str | None:
    return (app.get("status", {}).get("operationState") or {}).get("phase")


async def test_pushed_commit_reaches_the_cluster_after_a_sync(
    kube_api: KubeSandbox, kube_client: client.ApiClient
) -> None:
    repo = kube_api.repo
    repo.write(
        CM_FILE, repo.read(CM_FILE).replace("TA_GROUP_ID: torghut-ta-v1", "TA_GROUP_ID: replay-1")
    )
    sha = repo.commit_and_push("ta: replay with a fresh consumer group")
    app = await until_app(
        kube_client,
        lambda a: (
            a["status"]["sync"] == {**a["status"]["sync"], "status": "OutOfSync", "revision": sha}
        ),
        "OutOfSync on the new revision",
    )
    core = client.CoreV1Api(kube_client)
    assert (await core.read_namespaced_config_map("torghut-ta-config", "torghut")).data[
        "TA_GROUP_ID"
    ] == "torghut-ta-v1"
    await client.CustomObjectsApi(kube_client).patch_namespaced_custom_object(
        *APP, "torghut-ta", sync_operation(), _content_type=MERGE
    )
    app = await until_app(
        kube_client,
        lambda a: (
            op_phase(a) == "Succeeded"
            and "operation" not in a
            and a["status"]["operationState"]["syncResult"]["revision"] == sha
        ),
        "sync Succeeded",
    )
    state = app["status"]["operationState"]
    assert state["message"] == "successfully synced (all tasks run)"
    assert state["startedAt"] and state["finishedAt"]
    assert {"kind": "ConfigMap", "name": "torghut-ta-config", "status": "Synced"}.items() <= next(
        r for r in state["syncResult"]["resources"] if r["kind"] == "ConfigMap"
    ).items()
    assert app["status"]["sync"]["status"] == "Synced" and app["status"]["sync"]["revision"] == sha
    cm = await core.read_namespaced_config_map("torghut-ta-config", "torghut")
    assert cm.data["TA_GROUP_ID"] == "replay-1"
    assert cm.metadata.labels["app.kubernetes.io/instance"] == "torghut-ta"


async def test_a_kubernetes_patch_overwrites_a_running_operation_only_rest_refuses(
    kube_api: KubeSandbox, kube_client: client.ApiClient
) -> None:
    api = client.CustomObjectsApi(kube_client)
    kube_api.argocd_fault("hang")  # keep the first operation Running
    await api.patch_namespaced_custom_object(
        *APP, "torghut-ta", sync_operation("first"), _content_type=MERGE
    )
    await until_app(kube_client, lambda a: op_phase(a) == "Running", "operation Running")
    # the Kubernetes API refuses nothing: the second operation simply replaces the first
    patched = await api.patch_namespaced_custom_object(
        *APP, "torghut-ta", sync_operation("second"), _content_type=MERGE
    )
    assert patched["operation"]["initiatedBy"]["username"] == "second"
    # Argo CD's own API refuses while an operation is set
    code, body = await rest_sync(kube_api, {})
    assert code == 400 and body["message"] == "another operation is already in progress"
    assert body["code"] == 9
    kube_api.argocd_fault("none")
    done = await until_app(kube_client, lambda a: op_phase(a) == "Succeeded", "first sync done")
    # the running (first) operation completes and clears `operation`: the overwrite is lost
    assert done["status"]["operationState"]["operation"]["initiatedBy"]["username"] == "first"
    assert "operation" not in done


async def test_rest_sync_applies_the_revision(
    kube_api: KubeSandbox, kube_client: client.ApiClient
) -> None:
    repo = kube_api.repo
    repo.write(FD_FILE, repo.read(FD_FILE).replace("restartNonce: 1", "restartNonce: 2"))
    sha = repo.commit_and_push("ta: restart")
    code, _ = await rest_sync(kube_api, {"revision": sha})
    assert code == 200
    await until_app(
        kube_client,
        lambda a: (
            op_phase(a) == "Succeeded"
            and a["status"]["operationState"]["syncResult"]["revision"] == sha
        ),
        "synced",
    )
    fd = await client.CustomObjectsApi(kube_client).get_namespaced_custom_object(
        *FLINK, "torghut-ta"
    )
    assert fd["spec"]["restartNonce"] == 2


async def test_self_heal_undoes_a_live_patch(kube_client: client.ApiClient) -> None:
    api = client.CustomObjectsApi(kube_client)
    await api.patch_namespaced_custom_object(
        *APP,
        "torghut-ta",
        {"spec": {"syncPolicy": {"automated": {"selfHeal": True}}}},
        _content_type=MERGE,
    )
    await api.patch_namespaced_custom_object(
        *FLINK, "torghut-ta", {"spec": {"job": {"state": "suspended"}}}, _content_type=MERGE
    )

    async def healed() -> dict | None:
        fd = await api.get_namespaced_custom_object(*FLINK, "torghut-ta")
        return fd if fd["spec"]["job"]["state"] == "running" else None

    fd = await apoll_until(healed, timeout=60, what="self-heal back to running")
    assert fd["metadata"]["generation"] == 3  # seeded, patched, healed
    app = await until_app(
        kube_client, lambda a: a["status"]["sync"]["status"] == "Synced", "Synced"
    )
    assert app["status"]["operationState"]["operation"]["initiatedBy"] == {"automated": True}


async def test_automated_sync_applies_new_commits(
    kube_api: KubeSandbox, kube_client: client.ApiClient
) -> None:
    await client.CustomObjectsApi(kube_client).patch_namespaced_custom_object(
        *APP,
        "torghut-ta",
        {"spec": {"syncPolicy": {"automated": {"selfHeal": False}}}},
        _content_type=MERGE,
    )
    ksvc_file = "argocd/applications/torghut/knative-service.yaml"
    repo = kube_api.repo
    repo.write(ksvc_file, repo.read(ksvc_file).replace('value: "true"', 'value: "false"'))
    repo.commit_and_push("trading: pause while TA signals are stale")

    async def paused() -> bool:
        ksvc = await client.CustomObjectsApi(kube_client).get_namespaced_custom_object(
            "serving.knative.dev", "v1", "torghut", "services", "torghut"
        )
        env = ksvc["spec"]["template"]["spec"]["containers"][0]["env"]
        return {"name": "TRADING_ENABLED", "value": "false"} in env

    assert await apoll_until(paused, timeout=60, what="TRADING_ENABLED=false applied")


async def test_health_ignores_a_failed_job(
    kube_api: KubeSandbox, kube_client: client.ApiClient
) -> None:
    async def stable() -> bool:
        return kube_api.job()["lifecycleState"] == "STABLE"

    await apoll_until(stable, timeout=60, what="job STABLE")
    kube_api.fail_job("ClickHouse insert failed")
    # Argo CD's FlinkDeployment health reads reconciliation/JobManager status only
    app = await until_app(
        kube_client,
        lambda a: (
            next(r for r in a["status"]["resources"] if r["kind"] == "FlinkDeployment")
            and kube_api.job()["jobState"] == "FAILED"
            and a["status"]["health"]["status"] == "Healthy"
        ),
        "Healthy while the job is FAILED",
    )
    assert app["status"]["health"]["status"] == "Healthy"


async def test_broken_manifest_fails_the_sync_and_changes_nothing(
    kube_api: KubeSandbox, kube_client: client.ApiClient
) -> None:
    repo = kube_api.repo
    before = await client.CustomObjectsApi(kube_client).get_namespaced_custom_object(
        *FLINK, "torghut-ta"
    )
    repo.write(FD_FILE, repo.read(FD_FILE) + "  broken: [unclosed\n")
    repo.commit_and_push("broken yaml")
    await client.CustomObjectsApi(kube_client).patch_namespaced_custom_object(
        *APP, "torghut-ta", sync_operation(), _content_type=MERGE
    )
    app = await until_app(kube_client, lambda a: op_phase(a) == "Error", "sync Error")
    assert "flinkdeployment.yaml" in app["status"]["operationState"]["message"]
    after = await client.CustomObjectsApi(kube_client).get_namespaced_custom_object(
        *FLINK, "torghut-ta"
    )
    assert after["spec"] == before["spec"]
