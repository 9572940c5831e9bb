"""The TA writer plays the Flink job: it follows the FlinkDeployment, writes and commits at
checkpoints, fails on a full disk, takes savepoints."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from kubernetes_asyncio import client as kclient
from ta_writer_kit import (
    FD,
    MERGE,
    as_async,
    committed,
    count_signals,
    equals,
    job_state,
    max_event_ts,
    not_running,
    redeploy,
    running_writer,
    trades,
    until,
)

from sandbox.kafka import produce_trades
from sandbox.s3 import client as s3_client
from sandbox.s3 import parse_s3_uri
from sandbox.util import apoll_until


@pytest.mark.slow
async def test_writer_advances_while_running_and_stops_when_suspended(
    writer_env: dict[str, Any], clean_clickhouse: Any, kube_client: kclient.ApiClient
) -> None:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    first = trades(20, start)
    await produce_trades(writer_env["bootstrap"], writer_env["topic"], first)
    async with running_writer(writer_env, clean_clickhouse) as writer:
        newest = first[-1].event_ts
        await apoll_until(
            lambda: equals(max_event_ts(clean_clickhouse, "NVDA"), newest),
            timeout=30, what="max(event_ts) reaches the newest trade",
        )  # fmt: skip
        await apoll_until(
            lambda: equals(committed(writer_env["bootstrap"], writer_env["group"], writer_env["topic"]), 20),
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
        await apoll_until(lambda: not_running(kube_client), timeout=20, what="job leaves RUNNING")
        # a poll begun before the suspend may still return records, as a cancelling job does
        await apoll_until(as_async(lambda: writer.job is None), timeout=10, what="job stopped")
        await produce_trades(
            writer_env["bootstrap"], writer_env["topic"], trades(5, newest + timedelta(seconds=1))
        )
        seen = writer.cycles
        await apoll_until(
            as_async(lambda: writer.cycles >= seen + 5), timeout=10, what="writer polls"
        )
        assert await max_event_ts(clean_clickhouse, "NVDA") == newest
        assert (
            await committed(writer_env["bootstrap"], writer_env["group"], writer_env["topic"]) == 20
        )


@pytest.mark.slow
async def test_writer_reports_failed_job_when_clickhouse_disk_is_full(
    writer_env: dict[str, Any], pressured_clickhouse: Any, kube_client: kclient.ApiClient
) -> None:
    from sandbox.testing.clickhouse import exhaust_disk, fill_disk

    fill_disk(pressured_clickhouse, below_free_ratio=0.02)
    exhaust_disk(pressured_clickhouse)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    await produce_trades(writer_env["bootstrap"], writer_env["topic"], trades(50, start))
    async with running_writer(writer_env, pressured_clickhouse):
        await apoll_until(lambda: job_state(kube_client, "FAILED"), timeout=30, what="job FAILED")
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


@pytest.mark.slow
async def test_offsets_are_committed_only_when_a_checkpoint_completes(
    writer_env: dict[str, Any], clean_clickhouse: Any, kube_client: kclient.ApiClient
) -> None:
    env, start = writer_env, datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    await redeploy(kube_client, {"flinkConfiguration": {"execution.checkpointing.interval": "1h"}})
    await produce_trades(env["bootstrap"], env["topic"], trades(10, start))
    async with running_writer(env, clean_clickhouse) as writer:
        await until(lambda: count_signals(clean_clickhouse), 10, "every trade written")
        seen = writer.cycles
        await apoll_until(as_async(lambda: writer.cycles >= seen + 5), timeout=10, what="polls")
        # written, but no checkpoint has completed: Kafka still sees the group at 0
        assert await committed(env["bootstrap"], env["group"], env["topic"]) == 0
        assert writer.checkpoint_id == 0


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
    async with running_writer(writer_env, clean_clickhouse):
        await apoll_until(
            lambda: equals(max_event_ts(clean_clickhouse, "NVDA"), start + timedelta(seconds=11)),
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
