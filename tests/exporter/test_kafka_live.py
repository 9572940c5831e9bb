"""The Kafka probes against a real Kafka-protocol broker (tansu): ground truth is what we produced."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from exporter.clients.kafka import KafkaClient, KafkaProbeError, SharedPartitions
from exporter.families.kafka import collect_lag, collect_retention, fixed_group
from exporter.probes.kafka import KAFKA_DEFAULT_RETENTION_MS, KafkaLag, KafkaRetention
from sandbox.kafka import TopicSpec, commit_offsets, create_topics, generate_trades, produce_trades
from sandbox.util import free_port


def _client(bootstrap: str) -> KafkaClient:
    return KafkaClient({"bootstrap_servers": [bootstrap], "request_timeout_ms": 3000})


async def test_lag_and_retention_equal_what_was_produced_and_committed(
    kafka_bootstrap: str, unique_topic: str
) -> None:
    topic, plain = unique_topic, unique_topic + "-plain"
    await create_topics(
        kafka_bootstrap,
        {topic: TopicSpec(partitions=3, retention_ms=3_600_000), plain: TopicSpec(partitions=1)},
    )
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
    sent = {}
    for p in range(3):
        trades = generate_trades(4, start=base + timedelta(seconds=10 * p), seed=p)
        await produce_trades(kafka_bootstrap, topic, trades, partition=p)
        sent[p] = [t.timestamp_ms / 1000 for t in trades]
    await produce_trades(kafka_bootstrap, plain, generate_trades(1, start=base), partition=0)
    committed = {0: 1, 1: 4, 2: 0}  # p1 is caught up
    group = f"g-{topic}"
    await commit_offsets(
        kafka_bootstrap, group, {TopicPartition(topic, p): o for p, o in committed.items()}
    )
    now = datetime.now(UTC).timestamp()

    client = _client(kafka_bootstrap)
    try:
        lag = await collect_lag(
            client,
            topics=[topic, "no-such-topic"],
            group_of=fixed_group(group),
            read_budget=3.0,
            clock=lambda: now,
        )
        retention = await collect_retention(client, topics=[topic, plain], read_budget=3.0)
    finally:
        await client.close()

    assert lag.group == group and lag.missing_topics == ("no-such-topic",)
    (t,) = lag.topics
    assert {p.partition: p.lag for p in t.partitions} == {p: 4 - o for p, o in committed.items()}
    oldest = min(sent[0][1], sent[2][0])  # records at the committed offsets of lagging partitions
    assert t.oldest_unconsumed == pytest.approx(oldest)
    assert t.lag_seconds == pytest.approx(now - oldest)

    by_topic = {r.topic: r for r in retention.topics}
    assert by_topic[topic].earliest_record_ts == pytest.approx(min(v[0] for v in sent.values()))
    assert (by_topic[topic].retention_seconds, by_topic[topic].retention_source) == (3600, "topic")
    # tansu reports neither a topic nor a broker value: Kafka's own default applies
    assert by_topic[plain].retention_seconds == KAFKA_DEFAULT_RETENTION_MS / 1000
    assert by_topic[plain].retention_source == "kafka default"


async def test_caught_up_group_reports_zero_lag(kafka_bootstrap: str, unique_topic: str) -> None:
    await create_topics(kafka_bootstrap, {unique_topic: TopicSpec(partitions=2)})
    start = datetime.now(UTC) - timedelta(minutes=1)
    for p in range(2):
        await produce_trades(
            kafka_bootstrap, unique_topic, generate_trades(2, start=start), partition=p
        )
    group = f"g-{unique_topic}"
    await commit_offsets(
        kafka_bootstrap, group, {TopicPartition(unique_topic, p): 2 for p in range(2)}
    )
    client = _client(kafka_bootstrap)
    try:
        lag = await collect_lag(
            client, topics=[unique_topic], group_of=fixed_group(group), read_budget=2.0
        )
    finally:
        await client.close()
    (t,) = lag.topics
    assert t.lag_messages == 0 and t.lag_seconds == 0.0 and t.oldest_unconsumed is None


@pytest.mark.slow
async def test_probe_fails_while_broker_is_down_and_recovers_by_itself(kafka_factory) -> None:
    port = free_port()
    service = kafka_factory(port=port)
    bootstrap = service.endpoints["kafka_bootstrap"]
    spec = {"trades": TopicSpec(partitions=1, retention_ms=60_000)}
    await create_topics(bootstrap, spec)
    await produce_trades(bootstrap, "trades", generate_trades(1, start=datetime.now(UTC)))
    client = _client(bootstrap)
    try:
        first = await collect_retention(client, topics=["trades"], read_budget=2.0)
        assert first.topics[0].retention_seconds == 60

        service.stop()
        with pytest.raises((KafkaProbeError, TimeoutError)) as err:
            # the scheduler bounds every run like this
            await asyncio.wait_for(
                collect_retention(client, topics=["trades"], read_budget=1.0), timeout=8
            )
        assert "Kafka" in str(err.value) or err.type is TimeoutError

        service = kafka_factory(port=port)  # memory engine: the broker comes back empty
        await create_topics(bootstrap, {"trades": TopicSpec(partitions=1, retention_ms=120_000)})
        await produce_trades(bootstrap, "trades", generate_trades(1, start=datetime.now(UTC)))
        again = await collect_retention(client, topics=["trades"], read_budget=2.0)
        assert again.topics[0].retention_seconds == 120
    finally:
        await client.close()


async def test_rejected_credentials_fail_with_a_clear_reason(kafka_factory) -> None:
    service = kafka_factory(authentication=True)
    client = KafkaClient(
        {
            "bootstrap_servers": [service.endpoints["kafka_bootstrap"]],
            "request_timeout_ms": 3000,
            "security_protocol": "SASL_PLAINTEXT",
            "sasl_mechanism": "SCRAM-SHA-256",
            "sasl_plain_username": "exporter",
            "sasl_plain_password": "wrong",
        }
    )
    try:
        with pytest.raises(KafkaProbeError, match=r"SASL|authentic|connect"):
            await asyncio.wait_for(client.partitions(["trades"]), timeout=8)
    finally:
        await client.close()


async def test_all_topics_missing_is_an_error_naming_them(kafka_bootstrap: str) -> None:
    client = _client(kafka_bootstrap)
    try:
        with pytest.raises(KafkaProbeError, match="none of the topics absent-a, absent-b"):
            await collect_retention(client, topics=["absent-a", "absent-b"], read_budget=1.0)
    finally:
        await client.close()


async def _all_topics(bootstrap: str) -> set[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
    await admin.start()
    try:
        return set(await admin.list_topics())
    finally:
        await admin.close()


async def test_metadata_is_asked_for_the_configured_topics_only(
    kafka_bootstrap: str, unique_topic: str
) -> None:
    configured, other = unique_topic, unique_topic + "-not-configured"
    missing = unique_topic + "-missing"
    await create_topics(
        kafka_bootstrap, {configured: TopicSpec(partitions=2), other: TopicSpec(partitions=1)}
    )
    client = _client(kafka_bootstrap)
    try:
        answer = await client.describe_topics([configured, missing])
        parts = await client.partitions([configured, missing])
    finally:
        await client.close()
    # the broker answered about exactly the topics asked for: not the whole cluster
    assert set(answer) == {configured, missing}
    assert other not in answer
    assert answer[configured].error_code == 0 and answer[configured].partitions == (0, 1)
    assert answer[missing].error_code != 0
    assert parts == {configured: [0, 1]}
    # and asking never creates a topic
    topics = await _all_topics(kafka_bootstrap)
    assert configured in topics and other in topics and missing not in topics


async def test_lag_and_retention_share_one_metadata_read_per_cycle(
    kafka_bootstrap: str, unique_topic: str
) -> None:
    await create_topics(kafka_bootstrap, {unique_topic: TopicSpec(partitions=2)})
    start = datetime.now(UTC) - timedelta(minutes=1)
    await produce_trades(
        kafka_bootstrap, unique_topic, generate_trades(2, start=start), partition=0
    )
    now = [1000.0]
    shared = SharedPartitions([unique_topic], max_age=5.0, clock=lambda: now[0])
    lag_client, ret_client = _client(kafka_bootstrap), _client(kafka_bootstrap)

    async def cycle() -> tuple[KafkaLag, KafkaRetention]:
        lag, retention = await asyncio.gather(
            collect_lag(
                lag_client,
                topics=[unique_topic],
                group_of=fixed_group(f"g-{unique_topic}"),
                read_budget=3.0,
                shared=shared,
            ),
            collect_retention(ret_client, topics=[unique_topic], read_budget=3.0, shared=shared),
        )
        return lag, retention

    try:
        lag, retention = await cycle()
        assert shared.reads == 1
        assert [t.topic for t in lag.topics] == [unique_topic]
        assert [len(t.partitions) for t in lag.topics] == [2]
        assert [t.topic for t in retention.topics] == [unique_topic]
        now[0] += 10.0  # the next cycle reads again
        await cycle()
        assert shared.reads == 2
    finally:
        await lag_client.close()
        await ret_client.close()
