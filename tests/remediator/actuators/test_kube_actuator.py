"""The Kubernetes actuator against the API stand-in, as the chart's remediator ServiceAccount:
the job patch, its read-modify-write under concurrent changes, Argo CD self-heal (which undoes a
live patch unless turned off first), and the error mapping."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from remediator_kit import remediator_data

from exporter.clients.kube import KubeError
from remediator.actuators import ActuationError, NotLeader, no_fence
from remediator.actuators import kube as act
from remediator.config import RemediatorConfig, parse_remediator_config
from sandbox.kube import write_kubeconfig
from sandbox.kube.timings import FAST
from sandbox.testing.kube import KubeSandbox
from sandbox.util import apoll_until, free_port

NS, FD, APP = "torghut", "torghut-ta", "torghut-ta"
FD_PATH = f"/apis/flink.apache.org/v1beta1/namespaces/{NS}/flinkdeployments/{FD}"
APP_PATH = f"/apis/argoproj.io/v1alpha1/namespaces/argocd/applications/{APP}"
MERGE = "application/merge-patch+json"
USER = "system:serviceaccount:torghut-ta-ops:torghut-ta-ops-remediator"


def config(kubeconfig: Path, tmp_path: Path) -> RemediatorConfig:
    data = remediator_data(tmp_path)
    data["kubernetes"] = {"kubeconfig": str(kubeconfig), "request_timeout": 10}
    return parse_remediator_config(data)


@pytest.fixture
def cfg(kube_api: KubeSandbox, tmp_path: Path) -> RemediatorConfig:
    """The remediator's own identity: the chart's ServiceAccount and Roles."""
    return config(kube_api.kubeconfig_for("remediator", tmp_path), tmp_path)


def admin_patch(kube_api: KubeSandbox, path: str, body: dict[str, Any]) -> dict[str, Any]:
    code, obj = kube_api.raw("PATCH", path, body, content_type=MERGE)
    assert code == 200, obj
    return obj


def spec_of(kube_api: KubeSandbox) -> dict[str, Any]:
    code, obj = kube_api.raw("GET", FD_PATH)
    assert code == 200, obj
    return dict(obj["spec"])


async def test_read_job(cfg: RemediatorConfig, kube_api: KubeSandbox) -> None:
    before = kube_api.raw("GET", FD_PATH)[1]
    view = await act.read_job(cfg=cfg, namespace=NS, name=FD)
    live = kube_api.raw("GET", FD_PATH)[1]
    assert (view.namespace, view.name, view.uid) == (NS, FD, live["metadata"]["uid"])
    assert view.desired_state == "running"
    assert view.restart_nonce == live["spec"]["restartNonce"]
    # the simulated operator may move the lifecycle on between the reads, or not have written
    # a status yet (both seen under load)
    seen = {(o.get("status") or {}).get("lifecycleState") for o in (before, live)}
    assert view.lifecycle in seen, (view.lifecycle, seen)


async def test_patch_job_suspends_and_bumps_in_one_write(
    cfg: RemediatorConfig, kube_api: KubeSandbox
) -> None:
    before = spec_of(kube_api)
    fenced: list[int] = []
    view = await act.patch_job(
        cfg=cfg, namespace=NS, name=FD, state="suspended", bump_nonce=True,
        fence=lambda: fenced.append(1),
    )  # fmt: skip
    assert view.desired_state == "suspended"
    assert view.restart_nonce == before["restartNonce"] + 1
    # fenced before every write attempt: the operator's status writes can make one 409 and retry
    writes = [a for a in kube_api.audit(USER) if a["verb"] == "patch"]
    assert writes and fenced == [1] * len(writes)
    after = spec_of(kube_api)
    assert after["job"]["state"] == "suspended"
    assert after["restartNonce"] == before["restartNonce"] + 1

    # the operator suspends the job: the patch reached the real controller loop
    async def suspended() -> bool:
        return bool(kube_api.job()["lifecycleState"] == "SUSPENDED")

    await apoll_until(suspended, timeout=60, what="job SUSPENDED")
    # nothing to change: no write, no fence
    again = await act.patch_job(
        cfg=cfg, namespace=NS, name=FD, state="suspended", bump_nonce=False,
        fence=lambda: fenced.append(2),
    )  # fmt: skip
    assert (
        2 not in fenced
        and again.resource_version == kube_api.raw("GET", FD_PATH)[1]["metadata"]["resourceVersion"]
    )
    patches = [a for a in kube_api.audit(USER) if a["verb"] == "patch"]
    assert len(patches) == len(writes)


async def stable(kube_api: KubeSandbox) -> None:
    """Wait until the operator is done with its status writes (each one is a change, too)."""

    async def check() -> bool:
        return bool(kube_api.job()["lifecycleState"] == "STABLE")

    await apoll_until(check, timeout=60, what="job STABLE")


async def test_a_concurrent_change_is_re_read_not_overwritten(
    cfg: RemediatorConfig, kube_api: KubeSandbox
) -> None:
    await stable(kube_api)
    start = spec_of(kube_api)["restartNonce"]
    calls: list[int] = []

    def someone_else_bumps_first() -> None:
        # between our GET and our PATCH, a person bumps the nonce once
        if not calls:
            admin_patch(kube_api, FD_PATH, {"spec": {"restartNonce": start + 10}})
        calls.append(1)

    view = await act.patch_job(
        cfg=cfg, namespace=NS, name=FD, state=None, bump_nonce=True,
        fence=someone_else_bumps_first,
    )  # fmt: skip
    # the first PATCH met 409 (the operator's own status writes may add more): the one that
    # landed was computed from a fresh read, on top of the person's change, not over it
    assert len(calls) >= 2
    assert view.restart_nonce == start + 11 == spec_of(kube_api)["restartNonce"]


async def test_changes_on_every_attempt_end_retryable(
    cfg: RemediatorConfig, kube_api: KubeSandbox
) -> None:
    counter = iter(range(100, 200))

    def always_changed() -> None:
        admin_patch(kube_api, FD_PATH, {"metadata": {"annotations": {"x": str(next(counter))}}})

    with pytest.raises(ActuationError) as err:
        await act.patch_job(
            cfg=cfg, namespace=NS, name=FD, state="suspended", bump_nonce=False,
            fence=always_changed,
        )  # fmt: skip
    assert err.value.code == "409" and err.value.retryable and not err.value.escalate
    assert "the object has been modified" in str(err.value)
    assert spec_of(kube_api)["job"]["state"] == "running"


async def test_a_lost_lease_changes_nothing(cfg: RemediatorConfig, kube_api: KubeSandbox) -> None:
    def lost() -> None:
        raise NotLeader("lease lost")

    with pytest.raises(NotLeader):
        await act.patch_job(cfg=cfg, namespace=NS, name=FD, state="suspended", bump_nonce=True,
                            fence=lost)  # fmt: skip
    admin_patch(kube_api, APP_PATH, {"spec": {"syncPolicy": {"automated": {"selfHeal": True}}}})
    with pytest.raises(NotLeader):
        await act.set_self_heal(cfg=cfg, app=APP, enabled=False, fence=lost)
    assert spec_of(kube_api)["job"]["state"] == "running"
    assert act.self_heal_of(kube_api.raw("GET", APP_PATH)[1]) is True


async def test_calls_outside_the_role_are_403_and_escalate(
    cfg: RemediatorConfig, kube_api: KubeSandbox
) -> None:
    with pytest.raises(ActuationError) as err:
        await act.patch_job(cfg=cfg, namespace=NS, name="torghut-ta-blue", state="suspended",
                            bump_nonce=False, fence=no_fence)  # fmt: skip
    assert err.value.code == "403" and err.value.escalate and not err.value.retryable
    assert 'cannot get resource "flinkdeployments"' in str(err.value)
    assert "the remediator's Role lacks" in str(err.value)
    with pytest.raises(ActuationError) as err:
        await act.set_self_heal(cfg=cfg, app="payments", enabled=False, fence=no_fence)
    assert err.value.code == "403"
    assert 'cannot get resource "applications" in API group "argoproj.io"' in str(err.value)
    with pytest.raises(ActuationError) as err:
        await act.read_job(cfg=cfg, namespace="kube-system", name=FD)
    assert err.value.code == "403" and 'in the namespace "kube-system"' in str(err.value)


async def test_every_call_the_actuator_made_is_a_grant_of_the_chart(
    cfg: RemediatorConfig, kube_api: KubeSandbox
) -> None:
    await act.read_job(cfg=cfg, namespace=NS, name=FD)
    await act.patch_job(cfg=cfg, namespace=NS, name=FD, state="suspended", bump_nonce=True,
                        fence=no_fence)  # fmt: skip
    admin_patch(kube_api, APP_PATH, {"spec": {"syncPolicy": {"automated": {"selfHeal": True}}}})
    assert await act.set_self_heal(cfg=cfg, app=APP, enabled=False, fence=no_fence) is True
    made = {
        (a["verb"], a["resource"], a["namespace"], a["name"], a["allowed"])
        for a in kube_api.audit(USER)
    }
    assert made == {
        ("get", "flinkdeployments", NS, FD, True),
        ("patch", "flinkdeployments", NS, FD, True),
        ("get", "applications", "argocd", APP, True),
        ("patch", "applications", "argocd", APP, True),
    }


async def test_not_found_escalates(kube_api: KubeSandbox, tmp_path: Path) -> None:
    admin = config(kube_api.kubeconfig, tmp_path)  # past RBAC, to meet the API's own 404
    with pytest.raises(ActuationError) as err:
        await act.read_job(cfg=admin, namespace=NS, name="torghut-ta-blue")
    assert err.value.code == "404" and err.value.escalate and not err.value.retryable
    assert "torghut-ta-blue" in str(err.value)


async def test_unreachable_api_is_retryable(tmp_path: Path) -> None:
    path = write_kubeconfig(tmp_path / "kc", f"http://127.0.0.1:{free_port()}", "t0k3n-secret")
    cfg = config(path, tmp_path)
    with pytest.raises(ActuationError) as err:
        await act.read_job(cfg=cfg, namespace=NS, name=FD)
    assert err.value.retryable and not err.value.escalate
    assert "cannot connect" in str(err.value) and "t0k3n-secret" not in str(err.value)


@pytest.mark.parametrize(
    ("status", "retryable", "escalate"),
    [(422, False, True), (404, False, True), (409, True, False), (500, True, False),
     (503, True, False), (None, True, False), (403, False, True)],
)  # fmt: skip
def test_status_mapping(status: int | None, retryable: bool, escalate: bool) -> None:
    exc = KubeError(
        "flinkdeployments.flink.apache.org torghut/torghut-ta",
        'HTTP 422 FlinkDeployment "torghut-ta" is invalid: spec.restartNonce: Invalid value',
        status=status,
    )
    mapped = act._actuation_error("PATCH", exc)
    assert (mapped.retryable, mapped.escalate) == (retryable, escalate)
    assert "spec.restartNonce" in str(mapped)  # a 422 names the field


async def argocd_refresh(kube_api: KubeSandbox) -> dict[str, Any]:
    """Make the stand-in's Argo CD compare git with live now (it also decides self-heal then)."""
    async with (
        aiohttp.ClientSession() as session,
        session.get(
            f"{kube_api.argocd_api}/api/v1/applications/{APP}?refresh=normal",
            headers={"Authorization": f"Bearer {kube_api.argocd_token}"},
        ) as resp,
    ):
        assert resp.status == 200
        body: dict[str, Any] = await resp.json()
        return body


async def test_self_heal_undoes_the_patch_unless_turned_off_first(
    cfg: RemediatorConfig, kube_api: KubeSandbox
) -> None:
    admin_patch(kube_api, APP_PATH, {"spec": {"syncPolicy": {"automated": {"selfHeal": True}}}})
    # with self-heal on, the emergency patch is undone by Argo CD
    await act.patch_job(cfg=cfg, namespace=NS, name=FD, state="suspended", bump_nonce=False,
                        fence=no_fence)  # fmt: skip

    async def healed() -> bool:
        await argocd_refresh(kube_api)
        return spec_of(kube_api)["job"]["state"] == "running"

    await apoll_until(healed, timeout=60, what="Argo CD self-heal reverting the patch")

    # the caller turns self-heal off first: the patch then stays
    previous = await act.set_self_heal(cfg=cfg, app=APP, enabled=False, fence=no_fence)
    assert previous is True
    assert act.self_heal_of(kube_api.raw("GET", APP_PATH)[1]) is False
    await act.patch_job(cfg=cfg, namespace=NS, name=FD, state="suspended", bump_nonce=False,
                        fence=no_fence)  # fmt: skip
    # Argo CD compares again and again (driven here) and sees the drift, for ten times the
    # stand-in's first self-heal backoff (0.2 s in the fast timings): it leaves it alone
    compared, start = 0, time.monotonic()
    while compared < 20 or time.monotonic() - start < 10 * FAST.selfheal_backoff:
        status = (await argocd_refresh(kube_api))["status"]["sync"]["status"]
        assert status == "OutOfSync"
        assert spec_of(kube_api)["job"]["state"] == "suspended"
        compared += 1

    # restoring the previous value brings self-heal back, which then undoes the drift
    assert await act.set_self_heal(cfg=cfg, app=APP, enabled=previous, fence=no_fence) is False
    assert act.self_heal_of(kube_api.raw("GET", APP_PATH)[1]) is True
    await apoll_until(healed, timeout=60, what="self-heal back on reverting the drift")


async def test_self_heal_stays_off_where_automated_sync_is_off(
    cfg: RemediatorConfig, kube_api: KubeSandbox
) -> None:
    # the fixture's Application syncs by hand only: self-heal is off, and turning it on would
    # start automated syncs, which is not the actuator's to decide
    assert await act.set_self_heal(cfg=cfg, app=APP, enabled=False, fence=no_fence) is False
    with pytest.raises(ActuationError) as err:
        await act.set_self_heal(cfg=cfg, app=APP, enabled=True, fence=no_fence)
    assert err.value.escalate and "automated sync off" in str(err.value)
    assert "automated" not in kube_api.raw("GET", APP_PATH)[1]["spec"]["syncPolicy"]


def test_the_job_view_reads_the_savepoint_trigger_and_the_last_savepoint() -> None:
    from remediator.actuators.kube import job_view

    obj = {
        "metadata": {"name": "torghut-ta", "namespace": "torghut"},
        "spec": {"job": {"savepointTriggerNonce": 4}},
        "status": {
            "jobStatus": {
                "savepointInfo": {
                    "lastSavepoint": {"location": "s3://b/savepoint-1", "triggerNonce": 3},
                    "triggerId": "t",
                }
            }
        },
    }
    view = job_view(obj)
    assert (view.savepoint_trigger_nonce, view.savepoint_location, view.savepoint_nonce) == (
        4,
        "s3://b/savepoint-1",
        3,
    )
    empty = job_view({"metadata": {}, "spec": {"job": {"savepointTriggerNonce": True}}})
    assert (empty.savepoint_trigger_nonce, empty.savepoint_location, empty.savepoint_nonce) == (
        None,
        None,
        None,
    )
