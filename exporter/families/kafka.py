"""The Kafka probes: `kafka_lag` (committed vs end offsets of the group named by the live
ConfigMap's TA_GROUP_ID, so the exporter follows a replay group, and the age of the oldest
unconsumed record; a partition without a committed offset is measured from the earliest
retained one, where the group starts) and `kafka_retention` (earliest retained record,
retention).

Each probe has its own client (a slow record read of one never blocks the other); the topic
metadata, asked for the configured topics only, is read once per cycle and shared.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack

from aiokafka import TopicPartition

from exporter.clients.kafka import (
    KafkaClient,
    KafkaProbeError,
    SharedPartitions,
    connection_options,
)
from exporter.clients.kube import get_configmap_data
from exporter.config import Config
from exporter.families.k8s import KubeAccess, kube_access
from exporter.probes.base import ProbeSpec
from exporter.probes.kafka import (
    KafkaLag,
    KafkaRetention,
    TopicRetention,
    interpret_lag,
    render_lag,
    render_retention,
    resolve_retention,
)

GroupSource = Callable[[], Awaitable[tuple[str, str]]]


async def _existing(
    client: KafkaClient, topics: list[str], shared: SharedPartitions | None
) -> tuple[list[TopicPartition], list[str]]:
    parts = await (client.partitions(topics) if shared is None else shared.get(client))
    missing = [t for t in topics if t not in parts]
    if not parts:
        raise KafkaProbeError(f"Kafka: none of the topics {', '.join(topics)} exists")
    return [TopicPartition(t, p) for t, ps in sorted(parts.items()) for p in ps], missing


async def collect_lag(
    client: KafkaClient,
    *,
    topics: list[str],
    group_of: GroupSource,
    read_budget: float,
    clock: Callable[[], float] = time.time,
    shared: SharedPartitions | None = None,
) -> KafkaLag:
    group, source = await group_of()
    tps, missing = await _existing(client, topics, shared)
    committed = await client.committed(group, tps)
    ends = await client.end_offsets(tps)
    uncommitted = [tp for tp in tps if committed.get(tp, -1) < 0]
    # without a commit the group starts at the earliest retained offset (TA_KAFKA_STARTING_OFFSETS
    # earliest; a later timestamp start makes this an upper bound, the safe side)
    starts = await client.beginning_offsets(uncommitted) if uncommitted else {}
    positions = {}
    for tp in tps:
        pos = starts.get(tp, committed.get(tp, -1))
        if 0 <= pos < ends.get(tp, 0):
            positions[tp] = pos
    record_ms = await client.record_timestamps(positions, budget=read_budget)
    return interpret_lag(
        group=group,
        group_source=source,
        committed=committed,
        ends=ends,
        record_ms=record_ms,
        missing_topics=missing,
        now=clock(),
        starts=starts,
    )


async def collect_retention(
    client: KafkaClient,
    *,
    topics: list[str],
    read_budget: float,
    latest_budget: float | None = None,
    shared: SharedPartitions | None = None,
) -> KafkaRetention:
    """`latest_budget` (default: `read_budget`) bounds the read of each partition's newest
    record, which says whether input still arrives (lag 0 on an idle topic looks healthy)."""
    tps, missing = await _existing(client, topics, shared)
    begins = await client.beginning_offsets(tps)
    ends = await client.end_offsets(tps)
    positions = {tp: b for tp, b in begins.items() if b < ends.get(tp, 0)}
    record_ms = await client.record_timestamps(positions, budget=read_budget)
    lasts = {tp: ends[tp] - 1 for tp in positions}
    latest_ms = await client.record_timestamps(
        lasts, budget=read_budget if latest_budget is None else latest_budget
    )
    present = sorted({tp.topic for tp in tps})
    topic_ms = await client.retention_ms(present)
    broker_ms = None
    if any(v is None for v in topic_ms.values()):
        broker_ms = await client.broker_retention_ms()
    out = []
    for topic in present:
        stamps = [ms / 1000.0 for tp, ms in record_ms.items() if tp.topic == topic and ms >= 0]
        unread = [tp for tp in positions if tp.topic == topic and tp not in record_ms]
        if unread:
            # the earliest record of some partition is unknown: a min without it could lie
            raise KafkaProbeError(
                f"Kafka: earliest record of {topic} partitions "
                f"{sorted(tp.partition for tp in unread)} not read within {read_budget:.1f}s"
            )
        seconds, source = resolve_retention(topic_ms.get(topic), broker_ms)
        newest = [ms / 1000.0 for tp, ms in latest_ms.items() if tp.topic == topic and ms >= 0]
        out.append(
            TopicRetention(
                topic,
                min(stamps) if stamps else None,
                seconds,
                source,
                max(newest) if newest else None,
            )
        )
    return KafkaRetention(tuple(out), tuple(missing))


def configmap_group(cfg: Config, kube: KubeAccess) -> GroupSource:
    """Reads the group id from the live TA ConfigMap on every call (a replay switches it)."""
    key = cfg.kafka.group_id.configmap_key
    where = f"configmap {cfg.namespace}/{cfg.ta_configmap}:{key}"

    async def group_of() -> tuple[str, str]:
        data = await get_configmap_data(
            await kube.api(),
            namespace=cfg.namespace,
            name=cfg.ta_configmap,
            timeout=cfg.kubernetes.request_timeout,
        )
        value = (data.get(key) or "").strip()
        if not value:
            raise KafkaProbeError(f"{where} is missing or empty: no consumer group to measure")
        return value, where

    return group_of


def fixed_group(value: str) -> GroupSource:
    async def group_of() -> tuple[str, str]:
        return value, "config"

    return group_of


async def build(cfg: Config, *, stack: AsyncExitStack) -> list[ProbeSpec]:
    options = connection_options(
        cfg.kafka,
        cfg.secret("kafka.security.password"),
        cfg.secret("kafka.security.key_password"),
    )
    topics = list(cfg.kafka.topics)
    if cfg.kafka.group_id.value:
        group_of = fixed_group(cfg.kafka.group_id.value)
    else:
        group_of = configmap_group(cfg, kube_access(cfg, stack=stack))
    specs = []
    t = cfg.probes.timing("kafka_lag")
    r = cfg.probes.timing("kafka_retention")
    # both probes start together and repeat on their intervals: within half the shorter one,
    # a probe's metadata is the other's of the same cycle
    shared = SharedPartitions(topics, max_age=min(t.interval, r.interval) / 2)
    lag_client = KafkaClient(options)
    stack.push_async_callback(lag_client.close)

    async def lag() -> KafkaLag:
        return await collect_lag(
            lag_client,
            topics=topics,
            group_of=group_of,
            read_budget=t.timeout * 0.5,
            shared=shared,
        )

    specs.append(ProbeSpec("kafka_lag", lag, render_lag, t.interval, t.timeout, t.staleness))
    ret_client = KafkaClient(options)
    stack.push_async_callback(ret_client.close)

    async def retention() -> KafkaRetention:
        return await collect_retention(
            ret_client,
            topics=topics,
            read_budget=r.timeout * 0.4,
            latest_budget=r.timeout * 0.2,
            shared=shared,
        )

    specs.append(
        ProbeSpec(
            "kafka_retention", retention, render_retention, r.interval, r.timeout, r.staleness
        )
    )
    return specs
