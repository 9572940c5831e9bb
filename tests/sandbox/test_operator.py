"""The simulated Flink operator moves FlinkDeployment status like the real one."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from kubernetes_asyncio import client, watch

from sandbox.kube.client import ajob_state
from sandbox.testing.kube import KubeSandbox
from sandbox.util import apoll_until

MERGE = "application/merge-patch+json"
FLINK = ("flink.apache.org", "v1beta1", "torghut", "flinkdeployments")


async def flink(api: client.ApiClient) -> dict[str, Any]:
    return await client.CustomObjectsApi(api).get_namespaced_custom_object(*FLINK, "torghut-ta")


async def patch_spec(api: client.ApiClient, spec: dict[str, Any]) -> dict[str, Any]:
    return await client.CustomObjectsApi(api).patch_namespaced_custom_object(
        *FLINK, "torghut-ta", {"spec": spec}, _content_type=MERGE
    )


async def until_lifecycle(api: client.ApiClient, state: str, timeout: float = 10) -> dict:
    async def check() -> dict | None:
        obj = await flink(api)
        return obj if obj.get("status", {}).get("lifecycleState") == state else None

    return await apoll_until(check, timeout=timeout, what=f"lifecycleState {state}")


async def test_seeded_job_becomes_running_then_stable(kube_client: client.ApiClient) -> None:
    obj = await until_lifecycle(kube_client, "STABLE")
    status = obj["status"]
    assert status["jobStatus"]["state"] == "RUNNING"
    assert status["jobManagerDeploymentStatus"] == "READY"
    assert status["reconciliationStatus"]["state"] == "DEPLOYED"
    assert status["observedGeneration"] == obj["metadata"]["generation"]
    reconciled = json.loads(status["reconciliationStatus"]["lastReconciledSpec"])
    assert reconciled["spec"] == obj["spec"]
    assert (
        status["reconciliationStatus"]["lastStableSpec"]
        == (status["reconciliationStatus"]["lastReconciledSpec"])
    )
    assert len(status["jobStatus"]["jobId"]) == 32 and status["jobStatus"]["startTime"]


@pytest.mark.parametrize(
    ("mode", "stopped"), [("last-state", "FINISHED"), ("stateless", "CANCELED")]
)
async def test_suspend_stops_the_job(
    kube_client: client.ApiClient, mode: str, stopped: str
) -> None:
    await until_lifecycle(kube_client, "STABLE")
    await patch_spec(kube_client, {"job": {"state": "suspended", "upgradeMode": mode}})
    obj = await until_lifecycle(kube_client, "SUSPENDED")
    assert obj["status"]["jobStatus"]["state"] == stopped
    assert obj["status"]["jobManagerDeploymentStatus"] == "MISSING"
    # resume: the job comes back with a new job id
    await patch_spec(kube_client, {"job": {"state": "running"}})
    resumed = await until_lifecycle(kube_client, "STABLE")
    assert resumed["status"]["jobStatus"]["state"] == "RUNNING"


async def test_restart_nonce_bump_walks_upgrading_deployed_stable(
    kube_client: client.ApiClient,
) -> None:
    before = await until_lifecycle(kube_client, "STABLE")
    api = client.CustomObjectsApi(kube_client)
    seen: list[tuple[str, str | None]] = []

    async def record() -> None:
        w = watch.Watch()
        async with w.stream(
            api.list_namespaced_custom_object,
            *FLINK,
            field_selector="metadata.name=torghut-ta",
            resource_version=before["metadata"]["resourceVersion"],
            timeout_seconds=15,
        ) as stream:
            async for event in stream:
                status = event["object"].get("status") or {}
                seen.append(
                    (status.get("lifecycleState"), status.get("jobStatus", {}).get("state"))
                )
                if status.get("lifecycleState") == "STABLE" and len(seen) > 1:
                    return

    task = asyncio.create_task(record())
    await patch_spec(kube_client, {"restartNonce": before["spec"]["restartNonce"] + 1})
    await asyncio.wait_for(task, 15)
    lifecycle = [s for s, _ in seen[1:]]  # seen[0] is our own spec write
    order = [lifecycle.index(s) for s in ("UPGRADING", "DEPLOYED", "STABLE")]
    assert order == sorted(order), seen
    assert ("DEPLOYED", "RECONCILING") in seen and ("DEPLOYED", "RUNNING") in seen
    after = await flink(kube_client)
    assert after["status"]["jobStatus"]["jobId"] != before["status"]["jobStatus"]["jobId"]
    assert after["status"]["observedGeneration"] == before["metadata"]["generation"] + 1


async def test_reported_failure_fails_the_job(
    kube_api: KubeSandbox, kube_client: client.ApiClient
) -> None:
    await until_lifecycle(kube_client, "STABLE")
    view = kube_api.fail_job("Code: 243. DB::Exception: Cannot reserve 1.00 MiB, not enough space")
    assert view["jobState"] == "FAILED" and view["lifecycleState"] == "FAILED"
    obj = await flink(kube_client)
    error = json.loads(obj["status"]["error"])  # the operator's serialized JobException
    assert error["type"] == "org.apache.flink.runtime.JobException"
    assert error["message"].startswith("Recovery is suppressed by ")
    [cause] = error["throwableList"]
    assert cause["type"] == "java.lang.RuntimeException" and "not enough space" in cause["message"]
    # a restartNonce bump redeploys the failed job
    await patch_spec(kube_client, {"restartNonce": obj["spec"]["restartNonce"] + 1})
    healed = await until_lifecycle(kube_client, "STABLE")
    assert "error" not in healed["status"]


async def test_job_view_tracks_desired_state(
    kube_api: KubeSandbox, kube_client: client.ApiClient
) -> None:
    import aiohttp

    async with aiohttp.ClientSession() as session:
        view = await ajob_state(session, kube_api.url, kube_api.token)
        assert view["desiredRunning"] is True and view["desiredState"] == "running"
        await patch_spec(kube_client, {"job": {"state": "suspended"}})
        view = await ajob_state(session, kube_api.url, kube_api.token)
        assert view["desiredRunning"] is False
    await until_lifecycle(kube_client, "SUSPENDED")
    with pytest.raises(RuntimeError, match="409"):
        kube_api.fail_job("a suspended job cannot fail")
