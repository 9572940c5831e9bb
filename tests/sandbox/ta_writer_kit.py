"""The TA writer tests' helpers: trades to produce, the writer on the sandbox's services, the
FlinkDeployment and ConfigMap it follows, what it wrote and committed."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from kubernetes_asyncio import client as kclient

from sandbox.kafka import Trade
from sandbox.s3 import client as s3_client
from sandbox.s3 import parse_s3_uri
from sandbox.ta_writer import Writer, WriterConfig
from sandbox.util import apoll_until

MERGE = "application/merge-patch+json"
GROUP = "flink"
FD = (GROUP + ".apache.org", "v1beta1", "torghut", "flinkdeployments", "torghut-ta")


def trades(n: int, start: datetime, symbol: str = "NVDA") -> list[Trade]:
    return [Trade(symbol, 100.0 + i, 10.0, start + timedelta(seconds=i)) for i in range(n)]


async def max_event_ts(server: Any, symbol: str) -> datetime | None:
    client = await server.async_client()
    try:
        res = await client.query(
            "SELECT count(), max(event_ts) FROM torghut.ta_signals WHERE symbol = {s:String}",
            parameters={"s": symbol},
        )
        count, ts = res.result_rows[0]
        return ts.replace(tzinfo=UTC) if count else None
    finally:
        await client.close()


@pytest.fixture
async def writer_env(
    kube_api: Any,
    kube_client: kclient.ApiClient,
    trades_topic: str,
    kafka_bootstrap: str,
    s3_endpoint: str,
) -> AsyncIterator[dict[str, Any]]:
    core = kclient.CoreV1Api(kube_client)
    group = f"ta-{trades_topic}"
    await core.patch_namespaced_config_map(
        "torghut-ta-config",
        "torghut",
        {"data": {"TA_TRADES_TOPIC": trades_topic, "TA_GROUP_ID": group}},
    )
    # a checkpoint directory of its own (no state from other tests) and a short interval
    await redeploy(
        kube_client,
        {
            "flinkConfiguration": {
                "execution.checkpointing.interval": "500ms",
                "state.checkpoints.dir": f"s3://torghut-flink/checkpoints/{trades_topic}",
            }
        },
    )
    yield {
        "topic": trades_topic,
        "group": group,
        "kube": kube_api,
        "bootstrap": kafka_bootstrap,
        "s3": s3_endpoint,
    }


async def redeploy(api: kclient.ApiClient, spec: dict[str, Any]) -> dict[str, Any]:
    """Patch the spec and wait until the operator runs a job of the new generation."""
    crd = kclient.CustomObjectsApi(api)
    patched = await crd.patch_namespaced_custom_object(*FD, {"spec": spec}, _content_type=MERGE)
    generation = patched["metadata"]["generation"]

    async def running() -> dict[str, Any] | None:
        fd = await crd.get_namespaced_custom_object(*FD)
        status = fd.get("status") or {}
        ok = status.get("observedGeneration") == generation and (
            (status.get("jobStatus") or {}).get("state") == "RUNNING"
        )
        return fd if ok else None

    return await apoll_until(running, timeout=20, what=f"job of generation {generation} RUNNING")


async def job_state(api: kclient.ApiClient, want: str) -> bool:
    fd = await kclient.CustomObjectsApi(api).get_namespaced_custom_object(*FD)
    return ((fd.get("status") or {}).get("jobStatus") or {}).get("state") == want


@contextlib.asynccontextmanager
async def running_writer(env: dict[str, Any], server: Any) -> AsyncIterator[Writer]:
    """The TA writer on the sandbox's services for the block, stopped and awaited after it."""
    cfg = WriterConfig(
        kubeconfig=env["kube"].kubeconfig,
        clickhouse_url=server.url,
        kafka_bootstrap=env["bootstrap"],
        clickhouse_user=server.user,
        clickhouse_password=server.password,
        poll_seconds=0.1,
        s3_endpoint=env["s3"],
    )
    writer, stop = Writer(cfg), asyncio.Event()
    task = asyncio.create_task(writer.run(stop))
    try:
        yield writer
    finally:
        stop.set()
        await task


async def committed(bootstrap: str, group: str, topic: str) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(3)]
        offsets = await admin.list_consumer_group_offsets(group, partitions=tps)
        return sum(max(m.offset, 0) for m in offsets.values())
    finally:
        await admin.close()


async def equals(aw: Any, want: Any) -> bool:
    return (await aw) == want


async def not_running(api: kclient.ApiClient) -> bool:
    return not await job_state(api, "RUNNING")


def as_async(fn: Any) -> Any:
    async def call() -> Any:
        return fn()

    return call


async def count_signals(server: Any) -> int:
    client = await server.async_client()
    try:
        res = await client.query("SELECT count() FROM torghut.ta_signals")
        return int(res.result_rows[0][0])
    finally:
        await client.close()


async def patch_configmap(api: kclient.ApiClient, data: dict[str, str]) -> None:
    await kclient.CoreV1Api(api).patch_namespaced_config_map(
        "torghut-ta-config", "torghut", {"data": data}
    )


async def until(aw_fn: Any, want: Any, what: str, timeout: float = 30) -> None:
    await apoll_until(lambda: equals(aw_fn(), want), timeout=timeout, what=what)


async def latest_checkpoint(env: dict[str, Any], api: kclient.ApiClient) -> dict[str, Any]:
    fd = await kclient.CustomObjectsApi(api).get_namespaced_custom_object(*FD)
    bucket, prefix = parse_s3_uri(fd["spec"]["flinkConfiguration"]["state.checkpoints.dir"])
    s3 = s3_client(env["s3"])
    job_prefix = f"{prefix}{fd['status']['jobStatus']['jobId']}/chk-"
    listed = await asyncio.to_thread(s3.list_objects_v2, Bucket=bucket, Prefix=job_prefix)
    [obj] = listed["Contents"]  # one retained per job
    body = await asyncio.to_thread(s3.get_object, Bucket=bucket, Key=obj["Key"])
    return dict(json.loads(body["Body"].read()))
