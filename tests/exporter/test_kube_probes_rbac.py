"""The exporter's Kubernetes reads with its own ServiceAccount token, against the Roles the Helm
chart renders (loaded into the API stand-in, which enforces RBAC): every call the probes make
is allowed, every grant is used, and anything else gets the API server's 403."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest
from kubernetes_asyncio import client, config
from kubernetes_asyncio.client.exceptions import ApiException

from exporter.config import parse_config
from exporter.families import checkpoints, flink, trading
from exporter.families.k8s import KubeAccess
from exporter.families.kafka import configmap_group
from sandbox.kube import chart
from sandbox.testing.kube import KubeSandbox

NS, FD = "torghut", "torghut-ta"
USER = "system:serviceaccount:torghut-ta-ops:torghut-ta-ops-exporter"
MERGE = "application/merge-patch+json"


@pytest.fixture
async def stack() -> AsyncIterator[AsyncExitStack]:
    async with AsyncExitStack() as s:
        yield s


@pytest.fixture
async def exporter_api(kube_api: KubeSandbox, tmp_path: Path) -> AsyncIterator[client.ApiClient]:
    conf = client.Configuration()
    path = kube_api.kubeconfig_for("exporter", tmp_path)
    await config.load_kube_config(config_file=str(path), client_configuration=conf)
    api = client.ApiClient(configuration=conf)
    try:
        yield api
    finally:
        await api.close()


def chart_grants() -> set[tuple[str, str, str, str]]:
    """(group, resource, verb, name or "") the chart's exporter Role grants, flattened."""
    objects = chart.rbac_objects()
    ns, sa = chart.service_account(objects, "exporter")
    bound = {
        b["roleRef"]["name"]
        for b in objects
        if b["kind"] == "RoleBinding"
        and {"kind": "ServiceAccount", "name": sa, "namespace": ns} in b["subjects"]
    }
    return {
        (group, resource, verb, name)
        for role in objects
        if role["kind"] == "Role" and role["metadata"]["name"] in bound
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
        for name in rule.get("resourceNames") or [""]
    }


async def test_the_probes_need_exactly_what_the_chart_grants(
    kube_api: KubeSandbox, config_data: Any, stack: AsyncExitStack, tmp_path: Path,
    s3_endpoint: str, unique_bucket: str, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("CKPT_KEY", "test")
    monkeypatch.setenv("CKPT_SECRET", "test")
    kubeconfig = kube_api.kubeconfig_for("exporter", tmp_path)
    cfg = parse_config(
        config_data(
            kubernetes={"kubeconfig": str(kubeconfig), "request_timeout": 5},
            checkpoint_storage={
                "endpoint_url": s3_endpoint,
                "access_key_id": {"env": "CKPT_KEY"},
                "secret_access_key": {"env": "CKPT_SECRET"},
            },
        )
    )
    for build in (flink.build, trading.build, checkpoints.build):
        for probe in await build(cfg, stack=stack):
            data = await probe.collect()
            assert data is not None, probe.name
    kube = KubeAccess(cfg.kubernetes)
    stack.push_async_callback(kube.close)
    group, _ = await configmap_group(cfg, kube)()
    assert group

    asked = kube_api.audit(USER)
    assert asked, "the probes made no Kubernetes call as the exporter"
    denied = [a for a in asked if not a["allowed"]]
    assert denied == []
    used = {(a["group"], a["resource"], a["verb"], a["name"]) for a in asked}
    # every grant is needed (least privilege) and every need is granted
    assert used == chart_grants()


async def forbidden(call: Any) -> dict[str, Any]:
    with pytest.raises(ApiException) as err:
        await call
    assert err.value.status == 403
    body: dict[str, Any] = json.loads(err.value.body)
    assert body["kind"] == "Status" and body["reason"] == "Forbidden" and body["code"] == 403
    return body


async def test_a_call_outside_the_role_is_403_with_the_api_servers_message(
    kube_api: KubeSandbox, exporter_api: client.ApiClient
) -> None:
    custom = client.CustomObjectsApi(exporter_api)
    core = client.CoreV1Api(exporter_api)
    fd = await custom.get_namespaced_custom_object(
        "flink.apache.org", "v1beta1", NS, "flinkdeployments", FD
    )
    assert fd["metadata"]["name"] == FD

    body = await forbidden(
        custom.patch_namespaced_custom_object(
            "flink.apache.org", "v1beta1", NS, "flinkdeployments", FD,
            {"spec": {"restartNonce": 9}}, _content_type=MERGE,
        )
    )  # fmt: skip
    assert body["message"] == (
        f'flinkdeployments.flink.apache.org "{FD}" is forbidden: User "{USER}" cannot patch '
        f'resource "flinkdeployments" in API group "flink.apache.org" in the namespace "{NS}"'
    )
    assert body["details"] == {"name": FD, "group": "flink.apache.org", "kind": "flinkdeployments"}
    # get on one ConfigMap by name does not grant list, nor get of another one
    body = await forbidden(core.list_namespaced_config_map(NS))
    assert body["message"] == (
        f'configmaps is forbidden: User "{USER}" cannot list resource "configmaps" in API group '
        f'"" in the namespace "{NS}"'
    )
    body = await forbidden(core.read_namespaced_secret("torghut-clickhouse-auth", NS))
    assert 'cannot get resource "secrets"' in body["message"]
    await forbidden(core.read_namespaced_config_map("some-other-config", NS))
    # the admin token still may
    assert kube_api.raw("GET", f"/api/v1/namespaces/{NS}/secrets/torghut-clickhouse-auth")[0] == 200
