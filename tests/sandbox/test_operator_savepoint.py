"""Manual savepoints through `spec.job.savepointTriggerNonce`, as the Flink operator takes them.

The operator is driven pass by pass on its own store (timings zero), so "nothing happened" is
observable without waiting; the HTTP hook the job reports through is tested on the sandbox API.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes_asyncio import client

from sandbox.kube import errors
from sandbox.kube.operator import FlinkOperator
from sandbox.kube.resources import CORE_EVENT, FLINK
from sandbox.kube.store import Store
from sandbox.kube.timings import Timings
from sandbox.testing.kube import KubeSandbox
from sandbox.util import apoll_until

NS, NAME = "torghut", "torghut-ta"
SAVEPOINTS = "s3://bucket/savepoints/torghut-ta"


def _fd() -> dict[str, Any]:
    return {
        "apiVersion": "flink.apache.org/v1beta1",
        "kind": "FlinkDeployment",
        "metadata": {"name": NAME, "namespace": NS},
        "spec": {
            "flinkConfiguration": {"state.savepoints.dir": SAVEPOINTS},
            "job": {"state": "running", "upgradeMode": "last-state"},
        },
    }


def _op() -> tuple[Store, FlinkOperator]:
    store = Store()
    store.create(FLINK, NS, _fd(), admit=False)
    return store, FlinkOperator(store, Timings(tick=0, operator_step=0, stable_period=0))


def _settle(store: Store, op: FlinkOperator, passes: int = 8) -> dict[str, Any]:
    for _ in range(passes):
        op.reconcile(store.get(FLINK, NS, NAME))
    return store.get(FLINK, NS, NAME)


def _set_spec(store: Store, change: dict[str, Any]) -> None:
    def mutate(obj: dict[str, Any]) -> None:
        obj["spec"]["job"].update(change)

    store.update(FLINK, NS, NAME, mutate)


def _info(obj: dict[str, Any]) -> dict[str, Any]:
    return obj["status"]["jobStatus"].get("savepointInfo") or {}


def _reconciled_nonce(obj: dict[str, Any], key: str = "lastReconciledSpec") -> Any:
    spec = json.loads(obj["status"]["reconciliationStatus"][key])["spec"]
    return spec["job"].get("savepointTriggerNonce")


def _events(store: Store, reason: str) -> list[str]:
    return [e["message"] for e in store.list(CORE_EVENT, NS) if e["reason"] == reason]


def test_a_nonce_bump_on_a_running_job_triggers_a_savepoint_and_restarts_nothing() -> None:
    store, op = _op()
    stable = _settle(store, op)
    assert stable["status"]["lifecycleState"] == "STABLE"
    job_id = stable["status"]["jobStatus"]["jobId"]
    _set_spec(store, {"savepointTriggerNonce": 1})
    pending = _settle(store, op)
    info = _info(pending)
    assert info["triggerType"] == "MANUAL" and info["formatType"] == "CANONICAL"
    assert len(info["triggerId"]) == 32 and info["triggerTimestamp"] > 0
    assert info["lastSavepoint"] is None and info["lastPeriodicSavepointTimestamp"] == 0
    assert pending["status"]["jobStatus"]["jobId"] == job_id  # no upgrade, no restart
    assert pending["status"]["reconciliationStatus"]["state"] == "DEPLOYED"
    assert pending["status"]["observedGeneration"] == pending["metadata"]["generation"]
    assert pending["status"]["lifecycleState"] == "STABLE"
    assert _reconciled_nonce(pending) is None  # reconciled only when the trigger completes

    location = f"{SAVEPOINTS}/savepoint-{job_id[:6]}-0123456789ab"
    op.savepoint_completed(NS, NAME, info["triggerId"], location)
    done = _settle(store, op)
    info = _info(done)
    assert info["lastSavepoint"]["location"] == location
    assert info["lastSavepoint"]["triggerType"] == "MANUAL"
    assert info["lastSavepoint"]["formatType"] == "CANONICAL"
    assert info["lastSavepoint"]["triggerNonce"] == 1
    assert info["savepointHistory"] == [info["lastSavepoint"]]
    assert info["triggerId"] is None and info["lastPeriodicSavepointTimestamp"] == 0
    assert _reconciled_nonce(done) == 1 and _reconciled_nonce(done, "lastStableSpec") == 1
    assert done["status"]["lifecycleState"] == "STABLE"
    assert done["status"]["jobStatus"]["jobId"] == job_id
    assert _events(store, "SavepointCreated") == [f"Savepoint created: {location}"]
    # the trigger is complete: a second report of it is refused
    with pytest.raises(errors.ApiError) as refused:
        op.savepoint_completed(NS, NAME, str(info["lastSavepoint"]["triggerNonce"]), location)
    assert refused.value.code == 409


def test_a_nonce_bump_on_a_suspended_job_is_not_acted_on() -> None:
    store, op = _op()
    _settle(store, op)
    _set_spec(store, {"state": "suspended"})
    suspended = _settle(store, op)
    assert suspended["status"]["lifecycleState"] == "SUSPENDED"
    _set_spec(store, {"savepointTriggerNonce": 7})
    after = _settle(store, op)
    assert not _info(after).get("triggerId")
    assert not (_info(after).get("lastSavepoint"))
    assert _reconciled_nonce(after) is None  # the nonce waits, unreconciled
    assert after["status"]["observedGeneration"] == after["metadata"]["generation"]
    assert after["status"]["lifecycleState"] == "SUSPENDED"


def test_a_job_that_stops_before_its_savepoint_fails_the_trigger() -> None:
    store, op = _op()
    _settle(store, op)
    _set_spec(store, {"savepointTriggerNonce": 3})
    trigger = _info(_settle(store, op))["triggerId"]
    assert trigger
    op.fail(NS, NAME, "the job died while taking the savepoint")
    after = _settle(store, op)
    info = _info(after)
    assert info["triggerId"] is None and info["lastSavepoint"] is None
    assert _reconciled_nonce(after) == 3  # not retried
    assert _events(store, "SavepointError") == ["Savepoint failed for savepointTriggerNonce : 3"]
    with pytest.raises(errors.ApiError) as late:
        op.savepoint_completed(NS, NAME, trigger, f"{SAVEPOINTS}/savepoint-late")
    assert late.value.code == 409


async def test_the_job_reports_its_savepoint_through_the_sandbox_hook(
    kube_api: KubeSandbox, kube_client: client.ApiClient
) -> None:
    crd = client.CustomObjectsApi(kube_client)
    fd = ("flink.apache.org", "v1beta1", NS, "flinkdeployments", NAME)

    async def stable() -> dict[str, Any] | None:
        obj = await crd.get_namespaced_custom_object(*fd)
        return obj if obj.get("status", {}).get("lifecycleState") == "STABLE" else None

    await apoll_until(stable, timeout=30, what="STABLE")
    await crd.patch_namespaced_custom_object(
        *fd,
        {"spec": {"job": {"savepointTriggerNonce": 41}}},
        _content_type="application/merge-patch+json",
    )

    async def triggered() -> dict[str, Any] | None:
        obj = await crd.get_namespaced_custom_object(*fd)
        return obj if _info(obj).get("triggerId") else None

    pending = await apoll_until(triggered, timeout=30, what="a savepoint trigger")
    trigger = _info(pending)["triggerId"]
    assert pending["status"]["observedGeneration"] == pending["metadata"]["generation"]
    hook = f"/sandbox/flinkdeployments/{NS}/{NAME}/savepoint"
    code, body = kube_api.raw("POST", hook, {"triggerId": trigger})
    assert code == 400 and "location" in json.dumps(body)
    code, _ = kube_api.raw("POST", hook, {"triggerId": "not-it", "location": "s3://b/sp"})
    assert code == 409
    code, _ = kube_api.raw("POST", hook, {"triggerId": trigger, "location": "s3://b/sp-1"})
    assert code == 200
    obj = await crd.get_namespaced_custom_object(*fd)
    assert _info(obj)["lastSavepoint"]["location"] == "s3://b/sp-1"
    assert obj["status"]["lifecycleState"] == "STABLE"
