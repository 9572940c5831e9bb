"""The Kafka probes as the exporter wires them (`build`): group from the live ConfigMap, real Kafka."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiokafka import TopicPartition

from exporter.config import parse_config
from exporter.families import kafka as kafka_probe
from sandbox.kafka import TopicSpec, commit_offsets, create_topics, generate_trades, produce_trades

CM_PATH = "/api/v1/namespaces/torghut/configmaps/torghut-ta-config"


@pytest.fixture
async def stack() -> AsyncIterator[AsyncExitStack]:
    async with AsyncExitStack() as s:
        yield s


def _samples(spec: Any, data: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for s in spec.render(data)}


async def test_probes_follow_the_configmap_group_and_export_ground_truth(
    kube_api, kafka_bootstrap, unique_topic, config_data, stack
) -> None:
    group = f"ta-{unique_topic}"
    kube_api.raw(
        "PATCH",
        CM_PATH,
        {"data": {"TA_GROUP_ID": group}},
        content_type="application/merge-patch+json",
    )
    await create_topics(
        kafka_bootstrap, {unique_topic: TopicSpec(partitions=2, retention_ms=86_400_000)}
    )
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    stamps = {}
    for p in range(2):
        trades = generate_trades(3, start=start + timedelta(seconds=p), seed=p)
        await produce_trades(kafka_bootstrap, unique_topic, trades, partition=p)
        stamps[p] = [t.timestamp_ms / 1000 for t in trades]
    await commit_offsets(
        kafka_bootstrap,
        group,
        {TopicPartition(unique_topic, 0): 1, TopicPartition(unique_topic, 1): 3},
    )

    cfg = parse_config(
        config_data(
            kubernetes={"kubeconfig": str(kube_api.kubeconfig)},
            kafka={"bootstrap_servers": [kafka_bootstrap], "topics": [unique_topic]},
        )
    )
    specs = {s.name: s for s in await kafka_probe.build(cfg, stack=stack)}
    lag = await specs["kafka_lag"].collect()
    got = _samples(specs["kafka_lag"], lag)
    labels = (("group", group), ("topic", unique_topic))
    assert (
        got[
            (
                "torghut_ta_kafka_consumer_lag_messages",
                (("group", group), ("partition", "0"), ("topic", unique_topic)),
            )
        ]
        == 2
    )
    assert (
        got[
            (
                "torghut_ta_kafka_consumer_lag_messages",
                (("group", group), ("partition", "1"), ("topic", unique_topic)),
            )
        ]
        == 0
    )
    assert got[("torghut_ta_kafka_oldest_unconsumed_timestamp_seconds", labels)] == pytest.approx(
        stamps[0][1]
    )
    lag_seconds = got[("torghut_ta_kafka_consumer_lag_seconds", labels)]
    now = datetime.now(UTC).timestamp()
    assert now - stamps[0][1] - 5 < lag_seconds <= now - stamps[0][1]

    retention = await specs["kafka_retention"].collect()
    got = _samples(specs["kafka_retention"], retention)
    topic = (("topic", unique_topic),)
    assert got[("torghut_ta_kafka_earliest_record_timestamp_seconds", topic)] == pytest.approx(
        stamps[0][0]
    )
    assert got[("torghut_ta_kafka_retention_seconds", topic)] == 86_400

    # a replay switches TA_GROUP_ID: the probe follows at once. The new group has committed
    # nothing, so it is measured from where it starts, the earliest retained records: its lag
    # and the age of its oldest unconsumed record are visible, not absent
    kube_api.raw(
        "PATCH",
        CM_PATH,
        {"data": {"TA_GROUP_ID": group + "-replay"}},
        content_type="application/merge-patch+json",
    )
    replay = await specs["kafka_lag"].collect()
    assert replay.group == group + "-replay"
    got = _samples(specs["kafka_lag"], replay)
    labels = (("group", group + "-replay"), ("topic", unique_topic))
    for p in range(2):
        part = (("group", group + "-replay"), ("partition", str(p)), ("topic", unique_topic))
        assert got[("torghut_ta_kafka_consumer_lag_messages", part)] == 3
    assert got[("torghut_ta_kafka_partitions_without_commit", labels)] == 2
    assert got[("torghut_ta_kafka_partitions_unknown", labels)] == 0
    assert got[("torghut_ta_kafka_oldest_unconsumed_timestamp_seconds", labels)] == pytest.approx(
        stamps[0][0]
    )
    now = datetime.now(UTC).timestamp()
    lag_seconds = got[("torghut_ta_kafka_consumer_lag_seconds", labels)]
    assert now - stamps[0][0] - 5 < lag_seconds <= now - stamps[0][0]
