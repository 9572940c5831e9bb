"""Lease and Event semantics of the API stand-in, through kubernetes_asyncio, as the remediator's
leader election and audit trail will meet them on a real cluster."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

NS = "torghut-ta-ops"
LEASE = "torghut-ta-ops-remediator"


def lease(holder: str, rv: str | None = None) -> client.V1Lease:
    return client.V1Lease(
        metadata=client.V1ObjectMeta(name=LEASE, resource_version=rv),
        spec=client.V1LeaseSpec(
            holder_identity=holder, lease_duration_seconds=15, renew_time=datetime.now(UTC)
        ),
    )


async def refused(call: Any, status: int) -> dict[str, Any]:
    with pytest.raises(ApiException) as err:
        await call
    assert err.value.status == status
    body: dict[str, Any] = json.loads(err.value.body)
    return body


async def test_lease_create_on_update_and_no_unconditional_update(
    kube_client: client.ApiClient,
) -> None:
    api = client.CoordinationV1Api(kube_client)
    would = await api.replace_namespaced_lease(LEASE, NS, lease("a"), dry_run="All")
    assert would.spec.holder_identity == "a"
    await refused(api.read_namespaced_lease(LEASE, NS), 404)  # a dry run stores nothing
    created = await api.replace_namespaced_lease(LEASE, NS, lease("a"))  # PUT to a missing Lease
    assert created.spec.holder_identity == "a" and created.metadata.resource_version
    body = await refused(api.replace_namespaced_lease(LEASE, NS, lease("b")), 422)
    assert body["message"] == (
        f'leases.coordination.k8s.io "{LEASE}" is invalid: metadata.resourceVersion: '
        "Invalid value: 0x0: must be specified for an update"
    )
    renewed = await api.replace_namespaced_lease(
        LEASE, NS, lease("a", created.metadata.resource_version)
    )
    body = await refused(
        api.replace_namespaced_lease(LEASE, NS, lease("b", created.metadata.resource_version)), 409
    )
    assert body["reason"] == "Conflict"
    assert body["message"] == (
        f'Operation cannot be fulfilled on leases.coordination.k8s.io "{LEASE}": the object has '
        "been modified; please apply your changes to the latest version and try again"
    )
    now = await api.read_namespaced_lease(LEASE, NS)
    assert now.spec.holder_identity == "a"
    assert now.metadata.resource_version == renewed.metadata.resource_version


def event(**fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": {"name": "remediation.2"},
        "regarding": {"kind": "FlinkDeployment", "name": "torghut-ta", "namespace": "torghut"},
        "eventTime": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "action": "Suspend",
        "reason": "RemediationStarted",
        "reportingController": "torghut-ta-remediator",
        "reportingInstance": "r-0",
        "type": "Normal",
        "note": "procedure A",
    }
    body.update(fields)
    return {k: v for k, v in body.items() if v is not None}


async def test_events_k8s_io_validation(kube_client: client.ApiClient) -> None:
    api = client.EventsV1Api(kube_client)
    body = await refused(
        api.create_namespaced_event(
            "torghut", event(action=None, reportingInstance=None, type="Info", note="n" * 1025)
        ),
        422,
    )
    causes = {c["field"]: c["message"] for c in body["details"]["causes"]}
    assert causes == {
        "reportingInstance": "Required value",
        "action": "Required value",
        "note": 'Invalid value: "": can have at most 1024 characters',
        "type": 'Invalid value: "": has invalid value: Info',
    }
    assert body["message"].startswith('Event.events.k8s.io "remediation.2" is invalid: [')
    body = await refused(api.create_namespaced_event("torghut", event(eventTime=None)), 422)
    assert [c["field"] for c in body["details"]["causes"]] == ["eventTime"]
    ok = await api.create_namespaced_event("torghut", event())
    assert ok.note == "procedure A"


async def test_core_event_namespace_must_match_the_involved_object(
    kube_client: client.ApiClient,
) -> None:
    core = client.CoreV1Api(kube_client)
    body = await refused(
        core.create_namespaced_event(
            "torghut",
            {
                "metadata": {"name": "elsewhere.1"},
                "involvedObject": {"kind": "Lease", "name": LEASE, "namespace": NS},
                "reason": "LeaderElection",
                "message": "r-0 became leader",
                "type": "Normal",
            },
        ),
        422,
    )
    assert body["message"] == (
        'Event "elsewhere.1" is invalid: involvedObject.namespace: '
        f'Invalid value: "{NS}": does not match event.namespace'
    )
    made = await core.create_namespaced_event(
        NS,
        {
            "metadata": {"name": "here.1"},
            "involvedObject": {"kind": "Lease", "name": LEASE, "namespace": NS},
            "reason": "LeaderElection",
            "message": "r-0 became leader",
            "type": "Normal",
        },
    )
    assert made.involved_object.namespace == NS
    # the same object through events.k8s.io/v1 (raw: it has no eventTime, which the generated
    # EventsV1Event model refuses to deserialize)
    resp = await client.EventsV1Api(kube_client).read_namespaced_event(
        "here.1", NS, _preload_content=False
    )
    same = json.loads(await resp.read())
    assert same["regarding"]["name"] == LEASE and same["note"] == "r-0 became leader"
