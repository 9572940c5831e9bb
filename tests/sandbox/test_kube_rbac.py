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
# The verb semantics below run as a test-made ServiceAccount with Roles of their own (created
# through the API by the admin, and authorized from the store like the chart's), so they do not
# depend on what the chart grants the remediator.
ACTUATOR_SA = "torghut-ta-ops-actuator"
ACTUATOR = f"system:serviceaccount:torghut-ta-ops:{ACTUATOR_SA}"
ACTUATOR_ROLES: dict[str, list[dict[str, Any]]] = {
    "torghut": [
        {"apiGroups": ["flink.apache.org"], "resources": ["flinkdeployments"],
         "verbs": ["get", "list", "watch"]},
        {"apiGroups": ["flink.apache.org"], "resources": ["flinkdeployments"],
         "resourceNames": ["torghut-ta"], "verbs": ["patch"]},
    ],
    "argocd": [
        {"apiGroups": ["argoproj.io"], "resources": ["applications"],
         "resourceNames": ["torghut-ta"], "verbs": ["get", "patch"]},
    ],
    "torghut-ta-ops": [
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"],
         "resourceNames": ["torghut-ta-ops-remediator"], "verbs": ["get", "update"]},
        # create cannot be limited by resourceNames
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]},
    ],
}  # fmt: skip


async def _client_for(path: Path) -> client.ApiClient:
    conf = client.Configuration()
    await config.load_kube_config(config_file=str(path), client_configuration=conf)
    return client.ApiClient(configuration=conf)


@pytest.fixture
async def remediator(kube_api: KubeSandbox, tmp_path: Path) -> AsyncIterator[client.ApiClient]:
    api = await _client_for(kube_api.kubeconfig_for("remediator", tmp_path))
    try:
        yield api
    finally:
        await api.close()


@pytest.fixture
async def actuator(kube_api: KubeSandbox, tmp_path: Path) -> AsyncIterator[client.ApiClient]:
    rbac = "/apis/rbac.authorization.k8s.io/v1/namespaces"
    made = kube_api.raw(
        "POST", "/api/v1/namespaces/torghut-ta-ops/serviceaccounts",
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": ACTUATOR_SA}},
    )  # fmt: skip
    assert made[0] == 201, made
    for ns, rules in ACTUATOR_ROLES.items():
        role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                "metadata": {"name": ACTUATOR_SA}, "rules": rules}  # fmt: skip
        assert kube_api.raw("POST", f"{rbac}/{ns}/roles", role)[0] == 201
        binding = {
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": ACTUATOR_SA},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                        "name": ACTUATOR_SA},
            "subjects": [{"kind": "ServiceAccount", "name": ACTUATOR_SA,
                          "namespace": "torghut-ta-ops"}],
        }  # fmt: skip
        assert kube_api.raw("POST", f"{rbac}/{ns}/rolebindings", binding)[0] == 201
    token = kube_api.token_for("torghut-ta-ops", ACTUATOR_SA)
    api = await _client_for(write_kubeconfig(tmp_path / "kubeconfig-actuator", kube_api.url, token))
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


async def test_patch_and_update_are_different_verbs(actuator: client.ApiClient) -> None:
    api = client.CustomObjectsApi(actuator)
    fd = await api.get_namespaced_custom_object(*FLINK, "torghut-ta")
    nonce = fd["spec"]["restartNonce"] + 1
    patched = await api.patch_namespaced_custom_object(
        *FLINK, "torghut-ta", {"spec": {"restartNonce": nonce}}, _content_type=MERGE
    )
    assert patched["spec"]["restartNonce"] == nonce
    message = await forbidden(api.replace_namespaced_custom_object(*FLINK, "torghut-ta", patched))
    assert message == (
        f'flinkdeployments.flink.apache.org "torghut-ta" is forbidden: User "{ACTUATOR}" '
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


async def test_a_patch_grant_on_the_application_does_not_allow_replacing_it(
    actuator: client.ApiClient,
) -> None:
    api = client.CustomObjectsApi(actuator)
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
    actuator: client.ApiClient,
) -> None:
    api = client.CoordinationV1Api(actuator)
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
    kube_api: KubeSandbox, actuator: client.ApiClient, tmp_path: Path
) -> None:
    api = client.CustomObjectsApi(actuator)
    stream = watch.Watch().stream(api.list_namespaced_custom_object, *FLINK, timeout_seconds=1)
    names = [event["object"]["metadata"]["name"] async for event in stream]
    assert "torghut-ta" in names  # the actuator's Role grants get, list and watch
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


async def test_the_chart_remediator_role_is_its_calls_by_name(
    kube_api: KubeSandbox, remediator: client.ApiClient
) -> None:
    """The chart's remediator Roles as loaded into the stand-in: the exporter's gets, the
    FlinkDeployment patch (not update) by name, the Application by name, nothing listed. Its
    actuators' own calls are proved in tests/remediator/actuators/test_kube_actuator.py."""
    custom = client.CustomObjectsApi(remediator)
    fd = await custom.get_namespaced_custom_object(*FLINK, "torghut-ta")
    assert fd["metadata"]["name"] == "torghut-ta"
    cm = await client.CoreV1Api(remediator).read_namespaced_config_map(
        "torghut-ta-config", "torghut"
    )
    assert cm.metadata.name == "torghut-ta-config"
    message = await forbidden(custom.replace_namespaced_custom_object(*FLINK, "torghut-ta", fd))
    assert message == (
        f'flinkdeployments.flink.apache.org "torghut-ta" is forbidden: User "{REMEDIATOR}" '
        'cannot update resource "flinkdeployments" in API group "flink.apache.org" in the '
        'namespace "torghut"'
    )
    message = await forbidden(
        custom.patch_namespaced_custom_object(
            *FLINK, "torghut-ta-blue", {"spec": {"restartNonce": 1}}, _content_type=MERGE
        )
    )
    assert 'cannot patch resource "flinkdeployments"' in message
    message = await forbidden(custom.list_namespaced_custom_object(*FLINK))
    assert 'cannot list resource "flinkdeployments"' in message
    app_ref = ("argoproj.io", "v1alpha1", "argocd", "applications")
    app = await custom.get_namespaced_custom_object(*app_ref, "torghut-ta")
    message = await forbidden(custom.replace_namespaced_custom_object(*app_ref, "torghut-ta", app))
    assert 'cannot update resource "applications" in API group "argoproj.io"' in message
    message = await forbidden(custom.get_namespaced_custom_object(*app_ref, "other-app"))
    assert 'cannot get resource "applications" in API group "argoproj.io"' in message
    lease = client.V1Lease(metadata=client.V1ObjectMeta(name="torghut-ta-ops-remediator"))
    message = await forbidden(
        client.CoordinationV1Api(remediator).replace_namespaced_lease(
            "torghut-ta-ops-remediator", "torghut-ta-ops", lease
        )
    )
    assert 'cannot update resource "leases"' in message  # only its own Lease, by name
    # its own Lease (remediator.rbac.leaseName): create-on-update needs update by name and create
    coordination = client.CoordinationV1Api(remediator)
    own = client.V1Lease(
        metadata=client.V1ObjectMeta(name="torghut-ta-remediator"),
        spec=client.V1LeaseSpec(holder_identity="r-0", renew_time=datetime.now(UTC)),
    )
    made = await coordination.replace_namespaced_lease(
        "torghut-ta-remediator", "torghut-ta-ops", own
    )
    read = await coordination.read_namespaced_lease("torghut-ta-remediator", "torghut-ta-ops")
    assert made.spec.holder_identity == read.spec.holder_identity == "r-0"
    message = await forbidden(coordination.list_namespaced_lease("torghut-ta-ops"))
    assert message.startswith("leases.coordination.k8s.io is forbidden:")
    allowed = {(a["verb"], a["resource"]) for a in kube_api.audit(REMEDIATOR) if a["allowed"]}
    assert allowed == {
        ("get", "flinkdeployments"), ("get", "configmaps"), ("get", "applications"),
        ("update", "leases"), ("create", "leases"), ("get", "leases"),
    }, kube_api.audit(REMEDIATOR)  # fmt: skip
