"""RBAC in the API stand-in: ServiceAccount tokens by TokenRequest, authorized against the Roles
the Helm chart renders, with the real API server's verbs and 403 wording."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from kubernetes_asyncio import client, config, watch
from kubernetes_asyncio.client.exceptions import ApiException

from sandbox.kube import write_kubeconfig
from sandbox.testing.kube import KubeSandbox

MERGE = "application/merge-patch+json"
FLINK = ("flink.apache.org", "v1beta1", "torghut", "flinkdeployments")
REMEDIATOR = "system:serviceaccount:torghut-ta-ops:torghut-ta-ops-remediator"


@pytest.fixture
async def remediator(kube_api: KubeSandbox, tmp_path: Path) -> AsyncIterator[client.ApiClient]:
    conf = client.Configuration()
    path = kube_api.kubeconfig_for("remediator", tmp_path)
    await config.load_kube_config(config_file=str(path), client_configuration=conf)
    api = client.ApiClient(configuration=conf)
    try:
        yield api
    finally:
        await api.close()


async def forbidden(call: Any) -> str:
    with pytest.raises(ApiException) as err:
        await call
    assert err.value.status == 403
    body = json.loads(err.value.body)
    assert body["reason"] == "Forbidden"
    return str(body["message"])


async def test_patch_and_update_are_different_verbs(remediator: client.ApiClient) -> None:
    api = client.CustomObjectsApi(remediator)
    fd = await api.get_namespaced_custom_object(*FLINK, "torghut-ta")
    nonce = fd["spec"]["restartNonce"] + 1
    patched = await api.patch_namespaced_custom_object(
        *FLINK, "torghut-ta", {"spec": {"restartNonce": nonce}}, _content_type=MERGE
    )
    assert patched["spec"]["restartNonce"] == nonce
    message = await forbidden(api.replace_namespaced_custom_object(*FLINK, "torghut-ta", patched))
    assert message == (
        f'flinkdeployments.flink.apache.org "torghut-ta" is forbidden: User "{REMEDIATOR}" '
        'cannot update resource "flinkdeployments" in API group "flink.apache.org" in the '
        'namespace "torghut"'
    )
    # resourceNames: the patch grant names torghut-ta only
    message = await forbidden(
        api.patch_namespaced_custom_object(
            *FLINK, "torghut-ta-blue", {"spec": {"restartNonce": 1}}, _content_type=MERGE
        )
    )
    assert 'cannot patch resource "flinkdeployments"' in message
    message = await forbidden(
        api.patch_namespaced_custom_object_status(
            *FLINK, "torghut-ta", {"status": {}}, _content_type=MERGE
        )
    )
    assert 'cannot patch resource "flinkdeployments/status"' in message


async def test_the_remediator_may_patch_its_application_but_not_replace_it(
    remediator: client.ApiClient,
) -> None:
    api = client.CustomObjectsApi(remediator)
    app_ref = ("argoproj.io", "v1alpha1", "argocd", "applications")
    app = await api.get_namespaced_custom_object(*app_ref, "torghut-ta")
    patched = await api.patch_namespaced_custom_object(
        *app_ref, "torghut-ta", {"metadata": {"annotations": {"seen": "yes"}}},
        _content_type=MERGE,
    )  # fmt: skip
    assert patched["metadata"]["annotations"]["seen"] == "yes"
    message = await forbidden(api.replace_namespaced_custom_object(*app_ref, "torghut-ta", app))
    assert 'cannot update resource "applications" in API group "argoproj.io"' in message
    message = await forbidden(api.list_namespaced_custom_object(*app_ref))
    assert 'cannot list resource "applications"' in message


async def test_lease_create_on_update_needs_update_by_name_and_create(
    remediator: client.ApiClient,
) -> None:
    api = client.CoordinationV1Api(remediator)
    body = client.V1Lease(
        metadata=client.V1ObjectMeta(name="torghut-ta-ops-remediator"),
        spec=client.V1LeaseSpec(holder_identity="r-0", renew_time=datetime.now(UTC)),
    )
    made = await api.replace_namespaced_lease("torghut-ta-ops-remediator", "torghut-ta-ops", body)
    assert made.spec.holder_identity == "r-0"
    body.metadata.name = "someone-elses"
    message = await forbidden(api.replace_namespaced_lease("someone-elses", "torghut-ta-ops", body))
    assert 'cannot update resource "leases" in API group "coordination.k8s.io"' in message
    message = await forbidden(api.list_namespaced_lease("torghut-ta-ops"))
    assert message.startswith("leases.coordination.k8s.io is forbidden:")


async def test_cluster_scope_and_other_namespaces_are_denied(
    remediator: client.ApiClient,
) -> None:
    rbac_api = client.RbacAuthorizationV1Api(remediator)
    message = await forbidden(rbac_api.list_cluster_role())
    assert message == (
        f'clusterroles.rbac.authorization.k8s.io is forbidden: User "{REMEDIATOR}" cannot list '
        'resource "clusterroles" in API group "rbac.authorization.k8s.io" at the cluster scope'
    )
    core = client.CoreV1Api(remediator)
    message = await forbidden(core.read_namespaced_secret("torghut-clickhouse-auth", "torghut"))
    assert 'in the namespace "torghut"' in message


async def test_tokens_authenticate_and_admin_reads_the_chart_rbac(
    kube_api: KubeSandbox, kube_client: client.ApiClient, tmp_path: Path
) -> None:
    roles = await client.RbacAuthorizationV1Api(kube_client).list_namespaced_role("torghut")
    assert {r.metadata.name for r in roles.items} == {
        "torghut-ta-ops-exporter",
        "torghut-ta-ops-remediator",
    }
    accounts = await client.CoreV1Api(kube_client).list_namespaced_service_account("torghut-ta-ops")
    assert {a.metadata.name for a in accounts.items} == {
        "torghut-ta-ops-exporter",
        "torghut-ta-ops-remediator",
    }
    code, body = kube_api.raw(
        "POST", "/api/v1/namespaces/torghut-ta-ops/serviceaccounts/nobody/token", {}
    )
    assert code == 404 and body["message"] == 'serviceaccounts "nobody" not found'
    forged = kube_api.token_for("torghut-ta-ops", "torghut-ta-ops-exporter")[:-4] + "AAAA"
    conf = client.Configuration()
    path = write_kubeconfig(tmp_path / "forged", kube_api.url, forged)
    await config.load_kube_config(config_file=str(path), client_configuration=conf)
    async with client.ApiClient(configuration=conf) as api:
        with pytest.raises(ApiException) as err:
            await client.CustomObjectsApi(api).get_namespaced_custom_object(*FLINK, "torghut-ta")
    assert err.value.status == 401
    # the sandbox hooks are the admin's
    exporter = kube_api.token_for("torghut-ta-ops", "torghut-ta-ops-exporter")
    code, body = kube_api.raw("GET", "/sandbox/audit", token=exporter)
    assert code == 403


async def test_watch_is_its_own_verb(
    kube_api: KubeSandbox, remediator: client.ApiClient, tmp_path: Path
) -> None:
    api = client.CustomObjectsApi(remediator)
    stream = watch.Watch().stream(api.list_namespaced_custom_object, *FLINK, timeout_seconds=1)
    names = [event["object"]["metadata"]["name"] async for event in stream]
    assert "torghut-ta" in names  # the remediator's Role grants get, list and watch
    conf = client.Configuration()
    path = kube_api.kubeconfig_for("exporter", tmp_path)
    await config.load_kube_config(config_file=str(path), client_configuration=conf)
    async with client.ApiClient(configuration=conf) as exporter:
        with pytest.raises(ApiException) as err:
            async for _ in watch.Watch().stream(
                client.CustomObjectsApi(exporter).list_namespaced_custom_object,
                *FLINK,
                timeout_seconds=1,
            ):
                pass
    assert err.value.status == 403
    # the Watch helper reads the Status line itself: "<reason>: <message>"
    assert err.value.reason.startswith("Forbidden: flinkdeployments.flink.apache.org is forbidden")
    assert 'cannot watch resource "flinkdeployments"' in err.value.reason
