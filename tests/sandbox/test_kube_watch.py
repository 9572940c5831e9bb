"""Watch streams as kubernetes_asyncio.watch.Watch consumes them."""

from __future__ import annotations

import asyncio

import pytest
from kubernetes_asyncio import client, watch
from kubernetes_asyncio.client.exceptions import ApiException

from sandbox.testing.kube import KubeSandbox

MERGE = "application/merge-patch+json"


async def test_watch_sees_added_modified_deleted(kube_client: client.ApiClient) -> None:
    core = client.CoreV1Api(kube_client)
    listing = await core.list_namespaced_config_map("torghut")
    seen: list[tuple[str, str]] = []

    async def consume() -> None:
        w = watch.Watch()
        async with w.stream(
            core.list_namespaced_config_map,
            "torghut",
            resource_version=listing.metadata.resource_version,
            label_selector="watched=yes",
            timeout_seconds=10,
        ) as stream:
            async for event in stream:
                seen.append((event["type"], event["object"].metadata.name))
                if event["type"] == "DELETED":
                    return

    task = asyncio.create_task(consume())
    meta = client.V1ObjectMeta(name="w", labels={"watched": "yes"})
    await core.create_namespaced_config_map("torghut", client.V1ConfigMap(metadata=meta))
    await core.create_namespaced_config_map(  # filtered out by the selector
        "torghut", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="other"))
    )
    await core.patch_namespaced_config_map("w", "torghut", {"data": {"k": "v"}})
    await core.delete_namespaced_config_map("w", "torghut")
    await asyncio.wait_for(task, 10)
    assert seen == [("ADDED", "w"), ("MODIFIED", "w"), ("DELETED", "w")]


async def test_watch_without_resource_version_starts_with_current_objects(
    kube_client: client.ApiClient,
) -> None:
    api = client.CustomObjectsApi(kube_client)
    w = watch.Watch()
    async with w.stream(
        api.list_namespaced_custom_object,
        "flink.apache.org",
        "v1beta1",
        "torghut",
        "flinkdeployments",
        timeout_seconds=10,
    ) as stream:
        async for event in stream:
            assert event["type"] == "ADDED"
            assert event["object"]["metadata"]["name"] == "torghut-ta"
            break


def test_watch_rejects_a_malformed_resource_version(kube_api: KubeSandbox) -> None:
    code, body = kube_api.raw(
        "GET", "/api/v1/namespaces/torghut/configmaps?watch=true&resourceVersion=x"
    )
    assert code == 400 and body["kind"] == "Status"


async def test_watch_from_a_compacted_resource_version_is_410(
    kube_client: client.ApiClient,
) -> None:
    # the fixture's reset drops the event history, so resourceVersion 1 is too old
    core = client.CoreV1Api(kube_client)
    w = watch.Watch()
    with pytest.raises(ApiException) as err:
        async with w.stream(
            core.list_namespaced_config_map, "torghut", resource_version="1", timeout_seconds=5
        ) as stream:
            async for _ in stream:
                pass
    assert err.value.status == 410
