"""The TA writer plays the Flink job: it follows the FlinkDeployment and the ConfigMap."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from kubernetes_asyncio import client as kclient

from sandbox.kafka import Trade, commit_offsets, produce_trades
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
        # a poll begun before the suspend may still return records, as a cancelling job does
        await apoll_until(_async(lambda: writer.job is None), timeout=10, what="job stopped")
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
        # the operator's serialized JobException, with the JDBC sink's cause chain
        error = json.loads(fd["status"]["error"])
        assert error["type"] == "org.apache.flink.runtime.JobException"
        assert error["message"].startswith("Recovery is suppressed by ")
        root = error["throwableList"][-1]
        assert root["type"] == "com.clickhouse.client.ClickHouseException"
        assert root["message"].startswith("Code: 243. DB::Exception:"), root
        assert "NOT_ENOUGH_SPACE" in root["message"], root
        assert error["throwableList"][0]["type"] == "java.sql.SQLException"
        # nothing was committed: after a restart the job must re-read what it failed to write
        assert (
            await committed(writer_env["bootstrap"], writer_env["group"], writer_env["topic"]) == 0
        )
    finally:
        stop.set()
        await task


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
    await apoll_until(lambda: _equals(aw_fn(), want), timeout=timeout, what=what)


async def latest_checkpoint(env: dict[str, Any], api: kclient.ApiClient) -> dict[str, Any]:
    fd = await kclient.CustomObjectsApi(api).get_namespaced_custom_object(*FD)
    bucket, prefix = parse_s3_uri(fd["spec"]["flinkConfiguration"]["state.checkpoints.dir"])
    s3 = s3_client(env["s3"])
    job_prefix = f"{prefix}{fd['status']['jobStatus']['jobId']}/chk-"
    listed = await asyncio.to_thread(s3.list_objects_v2, Bucket=bucket, Prefix=job_prefix)
    [obj] = listed["Contents"]  # one retained per job
    body = await asyncio.to_thread(s3.get_object, Bucket=bucket, Key=obj["Key"])
    return dict(json.loads(body["Body"].read()))


@pytest.mark.slow
async def test_configmap_reaches_the_job_on_restart_and_a_new_group_alone_replays_nothing(
    writer_env: dict[str, Any], clean_clickhouse: Any, kube_client: kclient.ApiClient
) -> None:
    env, start = writer_env, datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    boot, topic, old_group, new_group = env["bootstrap"], env["topic"], env["group"], "replay-1"
    await produce_trades(boot, topic, trades(10, start))
    writer, stop, task = await start_writer(env, clean_clickhouse)
    try:
        await until(lambda: committed(boot, old_group, topic), 10, "first checkpoint commits")
        # envFrom: the running job keeps the group it started with
        await patch_configmap(kube_client, {"TA_GROUP_ID": new_group})
        await produce_trades(boot, topic, trades(5, start + timedelta(seconds=10)))
        await until(lambda: committed(boot, old_group, topic), 15, "old group still commits")
        assert await committed(boot, new_group, topic) == 0
        # a restart (last-state) reads the new group but restores offsets from the checkpoint
        fd = await kclient.CustomObjectsApi(kube_client).get_namespaced_custom_object(*FD)
        await redeploy(kube_client, {"restartNonce": fd["spec"]["restartNonce"] + 1})
        await apoll_until(_async(lambda: len(writer.starts) == 2), timeout=20, what="restart")
        await produce_trades(boot, topic, trades(5, start + timedelta(seconds=15)))
        await until(lambda: committed(boot, new_group, topic), 20, "new group commits")
        assert await count_signals(clean_clickhouse) == 20  # nothing was read twice
        assert writer.starts[-1].startswith("checkpoint "), writer.starts
        cp = await latest_checkpoint(env, kube_client)
        assert cp["offsets"] == [{"topic": topic, "partition": 0, "offset": 20}]
    finally:
        stop.set()
        await task


@pytest.mark.slow
async def test_stateless_restart_with_a_new_group_replays_from_the_start_position(
    writer_env: dict[str, Any], clean_clickhouse: Any, kube_client: kclient.ApiClient
) -> None:
    env, start = writer_env, datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    await produce_trades(env["bootstrap"], env["topic"], trades(10, start))
    writer, stop, task = await start_writer(env, clean_clickhouse)
    try:
        await until(lambda: committed(env["bootstrap"], env["group"], env["topic"]), 10, "commit")
        await patch_configmap(kube_client, {"TA_GROUP_ID": "replay-2"})
        await redeploy(kube_client, {"job": {"upgradeMode": "stateless"}})
        await until(lambda: committed(env["bootstrap"], "replay-2", env["topic"]), 10, "replay")
        assert writer.starts[-1] == "TA_KAFKA_STARTING_OFFSETS=earliest", writer.starts
        assert await count_signals(clean_clickhouse) == 20  # every trade written again
    finally:
        stop.set()
        await task


@pytest.mark.slow
@pytest.mark.parametrize(
    ("position", "preset", "written"),
    [("latest", None, 3), ("timestamp", None, 4 + 3), ("committed", 7, 3 + 3)],
)
async def test_a_first_deployment_starts_at_the_configured_position(
    writer_env: dict[str, Any],
    clean_clickhouse: Any,
    kube_client: kclient.ApiClient,
    position: str,
    preset: int | None,
    written: int,
) -> None:
    env, start = writer_env, datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    first = trades(10, start)
    await produce_trades(env["bootstrap"], env["topic"], first)
    if position == "timestamp":  # the first record at or after trade 6's time
        position = f"timestamp:{first[6].timestamp_ms}"
    if preset is not None:
        await commit_offsets(env["bootstrap"], env["group"], {TopicPartition(env["topic"], 0): 7})
    await patch_configmap(kube_client, {"TA_KAFKA_STARTING_OFFSETS": position})
    # last-state, but no checkpoint in this directory yet: the start position applies
    writer, stop, task = await start_writer(env, clean_clickhouse)
    try:
        await apoll_until(_async(lambda: writer.starts), timeout=20, what="job started")
        assert writer.starts == [f"TA_KAFKA_STARTING_OFFSETS={position.split(':')[-1]}"]
        await produce_trades(
            env["bootstrap"], env["topic"], trades(3, start + timedelta(seconds=60))
        )
        await until(lambda: committed(env["bootstrap"], env["group"], env["topic"]), 13, "commit")
        assert await count_signals(clean_clickhouse) == written
    finally:
        stop.set()
        await task


@pytest.mark.slow
@pytest.mark.parametrize(
    ("position", "java_type", "text"),
    [
        ("committed", "org.apache.kafka.clients.consumer.NoOffsetForPartitionException", "-0]"),
        ("yesterday", "java.lang.IllegalArgumentException", "TA_KAFKA_STARTING_OFFSETS='yest"),
    ],
)
async def test_a_start_position_that_cannot_be_met_fails_the_job(
    writer_env: dict[str, Any],
    clean_clickhouse: Any,
    kube_client: kclient.ApiClient,
    position: str,
    java_type: str,
    text: str,
) -> None:
    await patch_configmap(kube_client, {"TA_KAFKA_STARTING_OFFSETS": position})
    _writer, stop, task = await start_writer(writer_env, clean_clickhouse)
    try:
        await apoll_until(lambda: _job_state(kube_client, "FAILED"), timeout=20, what="FAILED")
        fd = await kclient.CustomObjectsApi(kube_client).get_namespaced_custom_object(*FD)
        [cause] = json.loads(fd["status"]["error"])["throwableList"]
        assert cause["type"] == java_type and text in cause["message"], cause
    finally:
        stop.set()
        await task


@pytest.mark.slow
async def test_offsets_are_committed_only_when_a_checkpoint_completes(
    writer_env: dict[str, Any], clean_clickhouse: Any, kube_client: kclient.ApiClient
) -> None:
    env, start = writer_env, datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    await redeploy(kube_client, {"flinkConfiguration": {"execution.checkpointing.interval": "1h"}})
    await produce_trades(env["bootstrap"], env["topic"], trades(10, start))
    writer, stop, task = await start_writer(env, clean_clickhouse)
    try:
        await until(lambda: count_signals(clean_clickhouse), 10, "every trade written")
        seen = writer.cycles
        await apoll_until(_async(lambda: writer.cycles >= seen + 5), timeout=10, what="polls")
        # written, but no checkpoint has completed: Kafka still sees the group at 0
        assert await committed(env["bootstrap"], env["group"], env["topic"]) == 0
        assert writer.checkpoint_id == 0
    finally:
        stop.set()
        await task


@pytest.mark.slow
async def test_a_savepoint_trigger_writes_the_source_offsets_under_the_savepoints_dir(
    writer_env: dict[str, Any], clean_clickhouse: Any, kube_client: kclient.ApiClient
) -> None:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    await produce_trades(writer_env["bootstrap"], writer_env["topic"], trades(12, start))
    crd = kclient.CustomObjectsApi(kube_client)
    savepoints = f"s3://torghut-flink/savepoints/{writer_env['topic']}"
    fd = await redeploy(kube_client, {"flinkConfiguration": {"state.savepoints.dir": savepoints}})
    job_id = fd["status"]["jobStatus"]["jobId"]
    _, stop, task = await start_writer(writer_env, clean_clickhouse)
    try:
        await apoll_until(
            lambda: _equals(max_event_ts(clean_clickhouse, "NVDA"), start + timedelta(seconds=11)),
            timeout=30, what="every trade processed",
        )  # fmt: skip
        nonce = int(fd["spec"]["job"].get("savepointTriggerNonce") or 0) + 1
        await crd.patch_namespaced_custom_object(
            *FD, {"spec": {"job": {"savepointTriggerNonce": nonce}}}, _content_type=MERGE
        )

        async def saved() -> dict[str, Any] | None:
            obj = await crd.get_namespaced_custom_object(*FD)
            info = obj["status"]["jobStatus"].get("savepointInfo") or {}
            last = info.get("lastSavepoint") or {}
            return obj if last.get("triggerNonce") == nonce else None

        obj = await apoll_until(saved, timeout=30, what="savepointInfo.lastSavepoint")
        last = obj["status"]["jobStatus"]["savepointInfo"]["lastSavepoint"]
        assert last["location"].startswith(f"{savepoints}/savepoint-{job_id[:6]}-")
        assert obj["status"]["jobStatus"]["jobId"] == job_id  # the job was not restarted
        bucket, prefix = parse_s3_uri(last["location"] + "/")
        s3 = s3_client(writer_env["s3"])
        body = await asyncio.to_thread(s3.get_object, Bucket=bucket, Key=f"{prefix}_metadata")
        doc = json.loads(body["Body"].read())
        assert doc["job"] == job_id
        assert sum(o["offset"] for o in doc["offsets"]) == 12  # the source's position
    finally:
        stop.set()
        await task
