"""The API stand-in through kubernetes_asyncio, unchanged: CRUD, patches, errors, selectors."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from sandbox.testing.kube import KubeSandbox
from sandbox.util import apoll_until

MERGE = "application/merge-patch+json"
FLINK = ("flink.apache.org", "v1beta1", "torghut", "flinkdeployments")


def status_of(exc: ApiException) -> dict:
    return json.loads(exc.body)


async def test_get_seeded_flinkdeployment(kube_client: client.ApiClient) -> None:
    api = client.CustomObjectsApi(kube_client)
    obj = await api.get_namespaced_custom_object(*FLINK, "torghut-ta")
    meta = obj["metadata"]
    assert obj["kind"] == "FlinkDeployment"
    assert meta["uid"] and meta["creationTimestamp"] and meta["generation"] == 1
    assert int(meta["resourceVersion"]) > 0
    assert obj["spec"]["job"]["upgradeMode"] == "last-state"
    assert obj["spec"]["flinkConfiguration"]["state.checkpoints.dir"].startswith("s3://")


async def test_missing_object_is_a_404_status(kube_client: client.ApiClient) -> None:
    api = client.CustomObjectsApi(kube_client)
    with pytest.raises(ApiException) as err:
        await api.get_namespaced_custom_object(*FLINK, "nope")
    body = status_of(err.value)
    assert err.value.status == 404
    assert body["kind"] == "Status" and body["status"] == "Failure" and body["code"] == 404
    assert body["reason"] == "NotFound"
    assert body["message"] == 'flinkdeployments.flink.apache.org "nope" not found'
    assert body["details"] == {
        "name": "nope",
        "group": "flink.apache.org",
        "kind": "flinkdeployments",
    }


async def test_create_conflicts_when_the_name_exists(kube_client: client.ApiClient) -> None:
    core = client.CoreV1Api(kube_client)
    cm = client.V1ConfigMap(metadata=client.V1ObjectMeta(name="x"), data={"a": "1"})
    created = await core.create_namespaced_config_map("torghut", cm)
    assert created.metadata.uid and created.data == {"a": "1"}
    with pytest.raises(ApiException) as err:
        await core.create_namespaced_config_map("torghut", cm)
    assert err.value.status == 409
    assert status_of(err.value)["reason"] == "AlreadyExists"
    assert status_of(err.value)["message"] == 'configmaps "x" already exists'


async def test_list_with_label_selectors(kube_client: client.ApiClient) -> None:
    core = client.CoreV1Api(kube_client)
    for name, tier in (("a", "gold"), ("b", "silver"), ("c", None)):
        labels = {"team": "ta", **({"tier": tier} if tier else {})}
        await core.create_namespaced_config_map(
            "torghut", client.V1ConfigMap(metadata=client.V1ObjectMeta(name=name, labels=labels))
        )

    async def names(**kw: str) -> list[str]:
        return [
            i.metadata.name for i in (await core.list_namespaced_config_map("torghut", **kw)).items
        ]

    assert await names(label_selector="tier=gold") == ["a"]
    assert await names(label_selector="team=ta,tier!=gold") == ["b", "c"]
    assert await names(label_selector="tier in (gold, silver)") == ["a", "b"]
    assert await names(label_selector="team,!tier") == ["c"]
    assert await names(field_selector="metadata.name=b") == ["b"]
    listing = await core.list_namespaced_config_map("torghut", label_selector="team=ta")
    assert int(listing.metadata.resource_version) >= 3


async def test_merge_patch_bumps_generation_only_on_spec(kube_client: client.ApiClient) -> None:
    api = client.CustomObjectsApi(kube_client)
    before = await api.get_namespaced_custom_object(*FLINK, "torghut-ta")
    patched = await api.patch_namespaced_custom_object(
        *FLINK, "torghut-ta", {"spec": {"restartNonce": 7}}, _content_type=MERGE
    )
    assert patched["spec"]["restartNonce"] == 7
    assert patched["metadata"]["generation"] == before["metadata"]["generation"] + 1
    labelled = await api.patch_namespaced_custom_object(
        *FLINK, "torghut-ta", {"metadata": {"labels": {"x": "y"}}}, _content_type=MERGE
    )
    assert labelled["metadata"]["labels"]["x"] == "y"
    assert labelled["metadata"]["generation"] == patched["metadata"]["generation"]
    assert int(labelled["metadata"]["resourceVersion"]) > int(
        patched["metadata"]["resourceVersion"]
    )


async def test_json_patch_and_failed_test_op(kube_client: client.ApiClient) -> None:
    api = client.CustomObjectsApi(kube_client)
    ops = [
        {"op": "test", "path": "/spec/job/state", "value": "running"},
        {"op": "replace", "path": "/spec/job/state", "value": "suspended"},
    ]
    patched = await api.patch_namespaced_custom_object(*FLINK, "torghut-ta", ops)
    assert patched["spec"]["job"]["state"] == "suspended"
    with pytest.raises(ApiException) as err:  # the test op now fails
        await api.patch_namespaced_custom_object(*FLINK, "torghut-ta", ops)
    assert err.value.status == 422 and status_of(err.value)["reason"] == "Invalid"
    live = await api.get_namespaced_custom_object(*FLINK, "torghut-ta")
    # the simulated operator may write /status meanwhile (a new resourceVersion); the rejected
    # patch itself must change nothing: same generation, same spec
    assert live["metadata"]["generation"] == patched["metadata"]["generation"]
    assert live["spec"] == patched["spec"]


async def test_dict_body_without_merge_content_type_is_rejected(
    kube_client: client.ApiClient,
) -> None:
    # kubernetes_asyncio sends a dict as application/json-patch+json for custom objects
    api = client.CustomObjectsApi(kube_client)
    with pytest.raises(ApiException) as err:
        await api.patch_namespaced_custom_object(*FLINK, "torghut-ta", {"spec": {"x": 1}})
    assert err.value.status == 400 and status_of(err.value)["reason"] == "BadRequest"


def test_malformed_and_unsupported_patches(kube_api: KubeSandbox) -> None:
    path = "/apis/flink.apache.org/v1beta1/namespaces/torghut/flinkdeployments/torghut-ta"
    code, body = kube_api.raw("PATCH", path, b"{not json", content_type=MERGE)
    assert code == 400 and body["reason"] == "BadRequest" and body["kind"] == "Status"
    code, body = kube_api.raw(
        "PATCH", path, {"spec": {}}, content_type="application/strategic-merge-patch+json"
    )
    assert code == 415 and body["reason"] == "UnsupportedMediaType"
    code, body = kube_api.raw("PATCH", path, {"spec": {}}, content_type="text/plain")
    assert code == 415
    # core kinds accept strategic merge (treated as a merge patch here)
    cm = "/api/v1/namespaces/torghut/configmaps/torghut-ta-config"
    code, body = kube_api.raw(
        "PATCH",
        cm,
        {"data": {"TA_GROUP_ID": "g2"}},
        content_type="application/strategic-merge-patch+json",
    )
    assert code == 200 and body["data"]["TA_GROUP_ID"] == "g2"


def test_missing_or_wrong_token_is_401(kube_api: KubeSandbox) -> None:
    code, body = kube_api.raw("GET", "/api/v1/namespaces/torghut/configmaps", token="wrong")
    assert code == 401 and body["reason"] == "Unauthorized" and body["kind"] == "Status"


async def test_replace_with_stale_resource_version_conflicts(
    kube_client: client.ApiClient,
) -> None:
    api = client.CustomObjectsApi(kube_client)
    stale = await api.get_namespaced_custom_object(*FLINK, "torghut-ta")
    await api.patch_namespaced_custom_object(
        *FLINK, "torghut-ta", {"spec": {"restartNonce": 2}}, _content_type=MERGE
    )
    stale["spec"]["restartNonce"] = 3
    with pytest.raises(ApiException) as err:
        await api.replace_namespaced_custom_object(*FLINK, "torghut-ta", stale)
    body = status_of(err.value)
    assert err.value.status == 409 and body["reason"] == "Conflict"
    assert body["message"] == (
        'Operation cannot be fulfilled on flinkdeployments.flink.apache.org "torghut-ta": the '
        "object has been modified; please apply your changes to the latest version and try again"
    )
    # the operator writes status concurrently, so a fresh read may itself go stale: retry on
    # 409 as real clients do

    async def replace_fresh() -> dict | None:
        fresh = await api.get_namespaced_custom_object(*FLINK, "torghut-ta")
        fresh["spec"]["restartNonce"] = 3
        try:
            return await api.replace_namespaced_custom_object(*FLINK, "torghut-ta", fresh)
        except ApiException as exc:
            if exc.status != 409:
                raise
            return None

    replaced = await apoll_until(replace_fresh, timeout=60, what="replace without conflict")
    assert replaced["spec"]["restartNonce"] == 3


async def test_status_subresource_is_separate(kube_client: client.ApiClient) -> None:
    api = client.CustomObjectsApi(kube_client)

    async def replace_with_status() -> dict | None:
        obj = await api.get_namespaced_custom_object(*FLINK, "torghut-ta")
        # a main-resource write cannot change status
        obj["status"] = {"lifecycleState": "BOGUS"}
        obj["spec"]["restartNonce"] = 42
        try:
            return await api.replace_namespaced_custom_object(*FLINK, "torghut-ta", obj)
        except ApiException as exc:
            if exc.status != 409:  # the operator may write status in between
                raise
            return None

    written = await apoll_until(replace_with_status, timeout=60, what="replace")
    assert written["spec"]["restartNonce"] == 42
    assert (written.get("status") or {}).get("lifecycleState") != "BOGUS"
    # a status write cannot change spec, and does not bump generation
    patched = await api.patch_namespaced_custom_object_status(
        *FLINK,
        "torghut-ta",
        {"spec": {"restartNonce": 99}, "status": {"error": "boom"}},
        _content_type=MERGE,
    )
    assert patched["status"]["error"] == "boom"
    assert patched["spec"]["restartNonce"] == 42
    assert patched["metadata"]["generation"] == written["metadata"]["generation"]


async def test_lease_create_and_stale_replace(kube_client: client.ApiClient) -> None:
    leases = client.CoordinationV1Api(kube_client)
    body = client.V1Lease(
        metadata=client.V1ObjectMeta(name="remediator"),
        spec=client.V1LeaseSpec(holder_identity="a", lease_duration_seconds=15),
    )
    created = await leases.create_namespaced_lease("torghut", body)
    assert created.spec.holder_identity == "a"
    created.spec.holder_identity = "b"
    taken = await leases.replace_namespaced_lease("remediator", "torghut", created)
    assert taken.spec.holder_identity == "b"
    created.spec.holder_identity = "c"  # still carries the old resourceVersion
    with pytest.raises(ApiException) as err:
        await leases.replace_namespaced_lease("remediator", "torghut", created)
    assert err.value.status == 409
    assert (await leases.read_namespaced_lease("remediator", "torghut")).spec.holder_identity == "b"


async def test_secret_and_knative_service_are_seeded(kube_client: client.ApiClient) -> None:
    secret = await client.CoreV1Api(kube_client).read_namespaced_secret(
        "torghut-clickhouse-auth", "torghut"
    )
    assert set(secret.data) == {"username", "password"}
    ksvc = await client.CustomObjectsApi(kube_client).get_namespaced_custom_object(
        "serving.knative.dev", "v1", "torghut", "services", "torghut"
    )
    env = ksvc["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "TRADING_ENABLED", "value": "true"} in env


async def test_delete_returns_object_then_404(kube_client: client.ApiClient) -> None:
    core = client.CoreV1Api(kube_client)
    await core.create_namespaced_config_map(
        "torghut", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="gone"))
    )
    status = await core.delete_namespaced_config_map("gone", "torghut")
    assert status.status == "Success"
    with pytest.raises(ApiException) as err:
        await core.read_namespaced_config_map("gone", "torghut")
    assert err.value.status == 404


async def test_discovery_and_version(kube_client: client.ApiClient) -> None:
    version = await client.VersionApi(kube_client).get_code()
    assert version.major == "1"
    groups = await client.ApisApi(kube_client).get_api_versions()
    assert {"flink.apache.org", "argoproj.io", "coordination.k8s.io"} <= {
        g.name for g in groups.groups
    }


async def test_events_in_both_groups(kube_client: client.ApiClient) -> None:
    events = client.EventsV1Api(kube_client)
    body = client.EventsV1Event(
        metadata=client.V1ObjectMeta(name="remediation.1"),
        regarding=client.V1ObjectReference(
            api_version="flink.apache.org/v1beta1",
            kind="FlinkDeployment",
            name="torghut-ta",
            namespace="torghut",
        ),
        event_time=datetime.now(UTC),
        reason="RemediationStarted",
        note="procedure A",
        action="Suspend",
        reporting_controller="torghut-ta-remediator",
        reporting_instance="r-0",
        type="Normal",
    )
    await events.create_namespaced_event("torghut", body)
    # raw JSON: the operator's legacy events have no eventTime, which kubernetes_asyncio's
    # EventsV1Event model refuses to deserialize (as against a real cluster)
    resp = await events.list_namespaced_event("torghut", _preload_content=False)
    listed = json.loads(await resp.read())["items"]
    assert "RemediationStarted" in [e["reason"] for e in listed]
    # one store behind both groups: the same event through core v1, in its field names
    core = client.CoreV1Api(kube_client)
    same = await core.read_namespaced_event("remediation.1", "torghut")
    assert same.message == "procedure A" and same.reporting_component == "torghut-ta-remediator"
    assert same.involved_object.name == "torghut-ta" and same.action == "Suspend"

    # and the operator's core v1 events through events.k8s.io/v1
    async def operator_events() -> list[client.CoreV1Event] | None:
        items = (await core.list_namespaced_event("torghut")).items
        return [e for e in items if e.metadata.name != "remediation.1"] or None

    operator = await apoll_until(operator_events, timeout=30, what="an operator event")
    assert all(e.source.component == "flink-kubernetes-operator" for e in operator)
    raw = await events.read_namespaced_event(
        operator[0].metadata.name, "torghut", _preload_content=False
    )
    seen = json.loads(await raw.read())
    assert seen["note"] == operator[0].message
    assert seen["deprecatedSource"]["component"] == "flink-kubernetes-operator"


def test_status_path_of_a_kind_without_the_subresource_is_404(kube_api: KubeSandbox) -> None:
    path = "/apis/argoproj.io/v1alpha1/namespaces/argocd/applications/torghut-ta/status"
    code, body = kube_api.raw("GET", path)
    assert code == 404 and body["reason"] == "NotFound"
