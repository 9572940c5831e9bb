"""The TA writer's start position: the ConfigMap read at each (re)start, a new group alone, a
stateless restart, the configured first position, and a position that cannot be met."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiokafka import TopicPartition
from kubernetes_asyncio import client as kclient
from ta_writer_kit import (
    FD,
    as_async,
    committed,
    count_signals,
    job_state,
    latest_checkpoint,
    patch_configmap,
    redeploy,
    running_writer,
    trades,
    until,
)

from sandbox.kafka import commit_offsets, produce_trades
from sandbox.util import apoll_until


@pytest.mark.slow
async def test_configmap_reaches_the_job_on_restart_and_a_new_group_alone_replays_nothing(
    writer_env: dict[str, Any], clean_clickhouse: Any, kube_client: kclient.ApiClient
) -> None:
    env, start = writer_env, datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    boot, topic, old_group, new_group = env["bootstrap"], env["topic"], env["group"], "replay-1"
    await produce_trades(boot, topic, trades(10, start))
    async with running_writer(env, clean_clickhouse) as writer:
        await until(lambda: committed(boot, old_group, topic), 10, "first checkpoint commits")
        # envFrom: the running job keeps the group it started with
        await patch_configmap(kube_client, {"TA_GROUP_ID": new_group})
        await produce_trades(boot, topic, trades(5, start + timedelta(seconds=10)))
        await until(lambda: committed(boot, old_group, topic), 15, "old group still commits")
        assert await committed(boot, new_group, topic) == 0
        # a restart (last-state) reads the new group but restores offsets from the checkpoint
        fd = await kclient.CustomObjectsApi(kube_client).get_namespaced_custom_object(*FD)
        await redeploy(kube_client, {"restartNonce": fd["spec"]["restartNonce"] + 1})
        await apoll_until(as_async(lambda: len(writer.starts) == 2), timeout=20, what="restart")
        await produce_trades(boot, topic, trades(5, start + timedelta(seconds=15)))
        await until(lambda: committed(boot, new_group, topic), 20, "new group commits")
        assert await count_signals(clean_clickhouse) == 20  # nothing was read twice
        assert writer.starts[-1].startswith("checkpoint "), writer.starts
        cp = await latest_checkpoint(env, kube_client)
        assert cp["offsets"] == [{"topic": topic, "partition": 0, "offset": 20}]


@pytest.mark.slow
async def test_stateless_restart_with_a_new_group_replays_from_the_start_position(
    writer_env: dict[str, Any], clean_clickhouse: Any, kube_client: kclient.ApiClient
) -> None:
    env, start = writer_env, datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    await produce_trades(env["bootstrap"], env["topic"], trades(10, start))
    async with running_writer(env, clean_clickhouse) as writer:
        await until(lambda: committed(env["bootstrap"], env["group"], env["topic"]), 10, "commit")
        await patch_configmap(kube_client, {"TA_GROUP_ID": "replay-2"})
        await redeploy(kube_client, {"job": {"upgradeMode": "stateless"}})
        await until(lambda: committed(env["bootstrap"], "replay-2", env["topic"]), 10, "replay")
        assert writer.starts[-1] == "TA_KAFKA_STARTING_OFFSETS=earliest", writer.starts
        assert await count_signals(clean_clickhouse) == 20  # every trade written again


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
    async with running_writer(env, clean_clickhouse) as writer:
        await apoll_until(as_async(lambda: writer.starts), timeout=20, what="job started")
        assert writer.starts == [f"TA_KAFKA_STARTING_OFFSETS={position.split(':')[-1]}"]
        await produce_trades(
            env["bootstrap"], env["topic"], trades(3, start + timedelta(seconds=60))
        )
        await until(lambda: committed(env["bootstrap"], env["group"], env["topic"]), 13, "commit")
        assert await count_signals(clean_clickhouse) == written


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
    async with running_writer(writer_env, clean_clickhouse):
        await apoll_until(lambda: job_state(kube_client, "FAILED"), timeout=20, what="FAILED")
        fd = await kclient.CustomObjectsApi(kube_client).get_namespaced_custom_object(*FD)
        [cause] = json.loads(fd["status"]["error"])["throwableList"]
        assert cause["type"] == java_type and text in cause["message"], cause
