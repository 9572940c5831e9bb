"""Admission in the API stand-in through kubernetes_asyncio: the FlinkDeployment CRD schema, the
Knative env, core objects by Kubernetes' own OpenAPI schema, and `?dryRun=All`."""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from sandbox.testing.kube import KubeSandbox

MERGE = "application/merge-patch+json"
FLINK = ("flink.apache.org", "v1beta1", "torghut", "flinkdeployments")
KSVC = ("serving.knative.dev", "v1", "torghut", "services")


async def invalid(call: Any) -> dict[str, Any]:
    with pytest.raises(ApiException) as err:
        await call
    assert err.value.status == 422
    body: dict[str, Any] = json.loads(err.value.body)
    assert body["reason"] == "Invalid" and body["code"] == 422
    return body


async def test_flinkdeployment_writes_follow_the_crd_schema(kube_client: client.ApiClient) -> None:
    api = client.CustomObjectsApi(kube_client)
    before = await api.get_namespaced_custom_object(*FLINK, "torghut-ta")
    body = await invalid(
        api.patch_namespaced_custom_object(
            *FLINK, "torghut-ta", {"spec": {"restartNonce": "2"}}, _content_type=MERGE
        )
    )
    assert body["message"] == (
        'FlinkDeployment.flink.apache.org "torghut-ta" is invalid: spec.restartNonce: '
        'Invalid value: "string": spec.restartNonce in body must be of type integer'
    )
    assert [c["field"] for c in body["details"]["causes"]] == ["spec.restartNonce"]
    body = await invalid(
        api.patch_namespaced_custom_object(
            *FLINK,
            "torghut-ta",
            {"spec": {"job": {"state": "paused", "upgradeMode": "last_state"}}},
            _content_type=MERGE,
        )
    )
    assert body["message"] == (
        'FlinkDeployment.flink.apache.org "torghut-ta" is invalid: [spec.job.state: '
        'Unsupported value: "paused": supported values: "running", "suspended", '
        'spec.job.upgradeMode: Unsupported value: "last_state": supported values: '
        '"last-state", "savepoint", "stateless"]'
    )
    for patch, field in (
        ({"spec": {"job": {"savepointTriggerNonce": 1.5}}}, "spec.job.savepointTriggerNonce"),
        ({"spec": {"flinkVersion": "v1_12"}}, "spec.flinkVersion"),
        ({"spec": {"mode": "yarn"}}, "spec.mode"),
    ):
        body = await invalid(
            api.patch_namespaced_custom_object(*FLINK, "torghut-ta", patch, _content_type=MERGE)
        )
        assert body["details"]["causes"][0]["field"] == field
    after = await api.get_namespaced_custom_object(*FLINK, "torghut-ta")
    assert after["spec"] == before["spec"]  # nothing refused was stored
    ok = await api.patch_namespaced_custom_object(
        *FLINK, "torghut-ta", {"spec": {"restartNonce": 7}}, _content_type=MERGE
    )
    assert ok["spec"]["restartNonce"] == 7


async def test_knative_env_needs_a_name_and_a_string_value(kube_client: client.ApiClient) -> None:
    api = client.CustomObjectsApi(kube_client)
    svc = await api.get_namespaced_custom_object(*KSVC, "torghut")
    containers = svc["spec"]["template"]["spec"]["containers"]
    containers[0]["env"] = [
        *containers[0].get("env", []),
        {"name": "X", "value": 1},
        {"value": "y"},
    ]
    n = len(containers[0]["env"])
    body = await invalid(
        api.patch_namespaced_custom_object(
            *KSVC, "torghut", {"spec": {"template": {"spec": {"containers": containers}}}},
            _content_type=MERGE,
        )
    )  # fmt: skip
    where = "spec.template.spec.containers[0]"
    assert [(c["field"], c["reason"]) for c in body["details"]["causes"]] == [
        (f"{where}.env[{n - 2}].value", "FieldValueTypeInvalid"),
        (f"{where}.env[{n - 1}].name", "FieldValueRequired"),
    ]
    assert body["message"].startswith('Service.serving.knative.dev "torghut" is invalid: [')


async def test_core_objects_follow_the_kubernetes_schema(kube_client: client.ApiClient) -> None:
    core = client.CoreV1Api(kube_client)
    body = await invalid(
        core.create_namespaced_config_map(
            "torghut", {"metadata": {"name": "typed"}, "data": {"retries": 3}}
        )
    )
    assert body["details"]["causes"][0]["field"] == "data.retries"
    assert body["message"].startswith(
        'ConfigMap "typed" is invalid: data.retries: Invalid value: 3'
    )
    with pytest.raises(ApiException) as err:
        await core.read_namespaced_config_map("typed", "torghut")
    assert err.value.status == 404


async def test_dry_run_validates_authorizes_and_stores_nothing(
    kube_api: KubeSandbox, kube_client: client.ApiClient
) -> None:
    api = client.CustomObjectsApi(kube_client)
    before = await api.get_namespaced_custom_object(*FLINK, "torghut-ta")
    nonce = before["spec"]["restartNonce"] + 1
    would = await api.patch_namespaced_custom_object(
        *FLINK, "torghut-ta", {"spec": {"restartNonce": nonce}}, dry_run="All",
        _content_type=MERGE,
    )  # fmt: skip
    assert would["spec"]["restartNonce"] == nonce  # the object as it would be
    assert would["metadata"]["generation"] == before["metadata"]["generation"] + 1
    after = await api.get_namespaced_custom_object(*FLINK, "torghut-ta")
    assert after["spec"]["restartNonce"] == before["spec"]["restartNonce"]
    assert after["metadata"]["generation"] == before["metadata"]["generation"]
    # schema errors still refuse a dry run
    await invalid(
        api.patch_namespaced_custom_object(
            *FLINK, "torghut-ta", {"spec": {"restartNonce": "x"}}, dry_run="All",
            _content_type=MERGE,
        )
    )  # fmt: skip
    core = client.CoreV1Api(kube_client)
    made = await core.create_namespaced_config_map(
        "torghut", {"metadata": {"name": "dry"}, "data": {"a": "1"}}, dry_run="All"
    )
    assert made.metadata.name == "dry" and made.metadata.uid
    with pytest.raises(ApiException) as err:
        await core.read_namespaced_config_map("dry", "torghut")
    assert err.value.status == 404
    await core.delete_namespaced_config_map("torghut-ta-config", "torghut", dry_run="All")
    assert (await core.read_namespaced_config_map("torghut-ta-config", "torghut")).data
    # and RBAC: the exporter may not even dry-run a patch
    token = kube_api.token_for("torghut-ta-ops", "torghut-ta-ops-exporter")
    code, body = kube_api.raw(
        "PATCH",
        "/apis/flink.apache.org/v1beta1/namespaces/torghut/flinkdeployments/torghut-ta?dryRun=All",
        {"spec": {"restartNonce": nonce}},
        content_type=MERGE,
        token=token,
    )
    assert code == 403 and body["reason"] == "Forbidden"
