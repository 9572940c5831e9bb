"""The TA writer plays the Flink job: it follows the FlinkDeployment and the ConfigMap."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from kubernetes_asyncio import client as kclient

from sandbox.kafka import Trade, produce_trades
from sandbox.s3 import client as s3_client
from sandbox.s3 import parse_s3_uri
from sandbox.ta import Writer, WriterConfig, decode_trade
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
    await apoll_until(
        lambda: _job_state(kube_client, "RUNNING"), timeout=20, what="seeded job RUNNING"
    )
    yield {
        "topic": trades_topic,
        "group": group,
        "kube": kube_api,
        "bootstrap": kafka_bootstrap,
        "s3": s3_endpoint,
    }


async def _job_state(api: kclient.ApiClient, want: str) -> bool:
    fd = await kclient.CustomObjectsApi(api).get_namespaced_custom_object(*FD)
    return ((fd.get("status") or {}).get("jobStatus") or {}).get("state") == want


async def start_writer(
    env: dict[str, Any], server: Any
) -> tuple[Writer, asyncio.Event, asyncio.Task[None]]:
    cfg = WriterConfig(
        kubeconfig=env["kube"].kubeconfig,
        clickhouse_url=server.url,
        kafka_bootstrap=env["bootstrap"],
        clickhouse_user=server.user,
        clickhouse_password=server.password,
        poll_seconds=0.1,
        s3_endpoint=env["s3"],
        checkpoint_interval=0.5,
    )
    writer, stop = Writer(cfg), asyncio.Event()
    return writer, stop, asyncio.create_task(writer.run(stop))


async def committed(bootstrap: str, group: str, topic: str) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(3)]
        offsets = await admin.list_consumer_group_offsets(group, partitions=tps)
        return sum(max(m.offset, 0) for m in offsets.values())
    finally:
        await admin.close()


def test_decode_trade_uses_event_time_and_rejects_garbage() -> None:
    t = decode_trade(b'{"symbol":"NVDA","price":1.5,"size":2,"event_ts":"2026-01-02T03:04:05Z"}', 0)
    assert t is not None and t.event_ts == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert decode_trade(b"not json", 0) is None
    assert decode_trade(b'{"symbol":"NVDA"}', 0) is None


@pytest.mark.slow
async def test_writer_advances_while_running_and_stops_when_suspended(
    writer_env: dict[str, Any], clean_clickhouse: Any, kube_client: kclient.ApiClient
) -> None:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    first = trades(20, start)
    await produce_trades(writer_env["bootstrap"], writer_env["topic"], first)
    writer, stop, task = await start_writer(writer_env, clean_clickhouse)
    try:
        newest = first[-1].event_ts
        await apoll_until(
            lambda: _equals(max_event_ts(clean_clickhouse, "NVDA"), newest),
            timeout=30, what="max(event_ts) reaches the newest trade",
        )  # fmt: skip
        await apoll_until(
            lambda: _equals(committed(writer_env["bootstrap"], writer_env["group"], writer_env["topic"]), 20),
            timeout=15, what="offsets committed for every trade",
        )  # fmt: skip

        fd = await kclient.CustomObjectsApi(kube_client).get_namespaced_custom_object(*FD)
        bucket, prefix = parse_s3_uri(fd["spec"]["flinkConfiguration"]["state.checkpoints.dir"])
        job_prefix = f"{prefix}{fd['status']['jobStatus']['jobId']}/chk-"
        s3 = s3_client(writer_env["s3"])

        async def checkpointed() -> bool:
            listed = await asyncio.to_thread(s3.list_objects_v2, Bucket=bucket, Prefix=job_prefix)
            return any(o["Key"].endswith("/_metadata") for o in listed.get("Contents", []))

        await apoll_until(checkpointed, timeout=60, what="a checkpoint object for the running job")

        await kclient.CustomObjectsApi(kube_client).patch_namespaced_custom_object(
            *FD, {"spec": {"job": {"state": "suspended"}}}, _content_type=MERGE
        )
        await apoll_until(lambda: _not_running(kube_client), timeout=20, what="job leaves RUNNING")
        await produce_trades(
            writer_env["bootstrap"], writer_env["topic"], trades(5, newest + timedelta(seconds=1))
        )
        seen = writer.cycles
        await apoll_until(
            _async(lambda: writer.cycles >= seen + 5), timeout=10, what="writer polls"
        )
        assert await max_event_ts(clean_clickhouse, "NVDA") == newest
        assert (
            await committed(writer_env["bootstrap"], writer_env["group"], writer_env["topic"]) == 20
        )
    finally:
        stop.set()
        await task


async def _equals(aw: Any, want: Any) -> bool:
    return (await aw) == want


async def _not_running(api: kclient.ApiClient) -> bool:
    return not await _job_state(api, "RUNNING")


def _async(fn: Any) -> Any:
    async def call() -> Any:
        return fn()

    return call


@pytest.mark.slow
async def test_writer_reports_failed_job_when_clickhouse_disk_is_full(
    writer_env: dict[str, Any], pressured_clickhouse: Any, kube_client: kclient.ApiClient
) -> None:
    from sandbox.testing.clickhouse import exhaust_disk, fill_disk

    fill_disk(pressured_clickhouse, below_free_ratio=0.02)
    exhaust_disk(pressured_clickhouse)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    await produce_trades(writer_env["bootstrap"], writer_env["topic"], trades(50, start))
    _writer, stop, task = await start_writer(writer_env, pressured_clickhouse)
    try:
        await apoll_until(lambda: _job_state(kube_client, "FAILED"), timeout=30, what="job FAILED")
        fd = await kclient.CustomObjectsApi(kube_client).get_namespaced_custom_object(*FD)
        assert fd["status"]["lifecycleState"] == "FAILED"
        assert "space" in fd["status"]["error"].lower()
        # nothing was committed: after a restart the job must re-read what it failed to write
        assert (
            await committed(writer_env["bootstrap"], writer_env["group"], writer_env["topic"]) == 0
        )
    finally:
        stop.set()
        await task
