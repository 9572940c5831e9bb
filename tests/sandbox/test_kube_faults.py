"""The stand-in's test-only fault hook on the Kubernetes API (`POST /sandbox/faults`): the next
N requests of a method on a resource get a `Status` error or hang, then it lifts by itself."""

from __future__ import annotations

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from sandbox.kube import chart
from sandbox.kube.faults import resource_of
from sandbox.testing.kube import NAMESPACE, KubeSandbox


def test_resource_of_names_the_plural_of_core_grouped_and_namespaced_paths() -> None:
    assert resource_of("/api/v1/namespaces/torghut/events") == "events"
    assert resource_of("/api/v1/namespaces/torghut/events/x") == "events"
    assert resource_of("/apis/coordination.k8s.io/v1/namespaces/a/leases/b") == "leases"
    assert resource_of("/api/v1/namespaces") == "namespaces"
    assert resource_of("/apis/flink.apache.org/v1beta1") is None
    assert resource_of("/sandbox/faults") is None


async def test_a_status_fault_answers_count_requests_then_lifts(
    kube_api: KubeSandbox, kube_client: client.ApiClient
) -> None:
    code, body = kube_api.raw(
        "POST", "/sandbox/faults", {"method": "GET", "resource": "events", "status": 500,
                                    "count": 2}
    )  # fmt: skip
    assert code == 200 and body["faults"][0]["count"] == 2, body
    api = client.CoreV1Api(kube_client)
    for _ in range(2):
        with pytest.raises(ApiException) as err:
            await api.list_namespaced_event(NAMESPACE)
        assert err.value.status == 500 and "injected fault: GET events" in err.value.body
    # other resources and methods were never touched; the third request passes
    await api.list_namespaced_config_map(NAMESPACE)
    await api.list_namespaced_event(NAMESPACE)
    assert kube_api.raw("GET", "/sandbox/faults")[1]["faults"][0]["hits"] == 2


async def test_a_conflict_and_a_timeout_look_like_the_api_servers(
    kube_api: KubeSandbox, kube_client: client.ApiClient
) -> None:
    api = client.CoreV1Api(kube_client)
    kube_api.raw("POST", "/sandbox/faults",
                 {"method": "GET", "resource": "configmaps", "status": 409})  # fmt: skip
    with pytest.raises(ApiException) as err:
        await api.list_namespaced_config_map(NAMESPACE)
    assert err.value.status == 409 and '"reason": "Conflict"' in err.value.body.replace(
        '":"', '": "'
    )
    kube_api.raw("POST", "/sandbox/faults",
                 {"method": "GET", "resource": "configmaps", "timeout": 0.2})  # fmt: skip
    with pytest.raises(ApiException) as err:
        await api.list_namespaced_config_map(NAMESPACE)
    assert err.value.status == 504 and "Timeout" in err.value.body
    # a client whose own deadline is shorter gives up first, as against a slow API server
    kube_api.raw("POST", "/sandbox/faults",
                 {"method": "GET", "resource": "configmaps", "timeout": 5})  # fmt: skip
    with pytest.raises(TimeoutError):
        await api.list_namespaced_config_map(NAMESPACE, _request_timeout=0.5)


def test_delete_lifts_every_fault_and_bad_bodies_name_the_field(kube_api: KubeSandbox) -> None:
    kube_api.raw("POST", "/sandbox/faults",
                 {"method": "PUT", "resource": "leases", "status": 503, "count": 9})  # fmt: skip
    assert kube_api.raw("DELETE", "/sandbox/faults") == (200, {"faults": []})
    for body, words in (
        ({"method": "GET", "resource": "events", "status": 418}, "fault status must be one of"),
        ({"method": "GET", "resource": "events"}, "exactly one of status and timeout"),
        ({"method": "BREW", "resource": "events", "status": 500}, "fault method must be"),
        ({"method": "GET", "resource": "events", "status": 500, "count": 0}, "fault count"),
        ({"method": "GET", "resource": "events", "status": 500, "verb": "x"}, "'verb'"),
    ):
        code, answer = kube_api.raw("POST", "/sandbox/faults", body)
        assert code == 400 and words in answer["message"], (body, answer)


def test_only_the_admin_reaches_the_hook(kube_api: KubeSandbox) -> None:
    ns, name = chart.service_account(chart.rbac_objects(), "remediator")
    token = kube_api.token_for(ns, name)
    code, _ = kube_api.raw("DELETE", "/sandbox/faults", token=token)
    assert code == 403
