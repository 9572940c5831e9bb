"""The Kafka probes against real Apache Kafka (sandbox.kafka): ground truth is what we produced."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from exporter.clients.kafka import (
    KafkaClient,
    KafkaProbeError,
    SharedPartitions,
    connection_options,
)
from exporter.config import parse_config
from exporter.families.kafka import collect_lag, collect_retention, fixed_group
from exporter.probes.kafka import KAFKA_DEFAULT_RETENTION_MS, KafkaLag, KafkaRetention
from sandbox.kafka import (
    SCRAM_USERS,
    TopicSpec,
    alter_topic_configs,
    commit_offsets,
    create_topics,
    generate_trades,
    produce_trades,
)
from sandbox.util import apoll_until, free_port


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
    # the newest record over the partitions: whether input still arrives, whatever the lag
    assert by_topic[topic].latest_record_ts == pytest.approx(max(v[-1] for v in sent.values()))
    assert (by_topic[topic].retention_seconds, by_topic[topic].retention_source) == (3600, "topic")
    # a topic without its own retention.ms: Kafka reports the broker default (168 h)
    assert by_topic[plain].retention_seconds == KAFKA_DEFAULT_RETENTION_MS / 1000


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

        service = kafka_factory(port=port)  # a new broker (new workdir) on the same port
        await create_topics(bootstrap, {"trades": TopicSpec(partitions=1, retention_ms=120_000)})
        await produce_trades(bootstrap, "trades", generate_trades(1, start=datetime.now(UTC)))
        again = await collect_retention(client, topics=["trades"], read_budget=2.0)
        assert again.topics[0].retention_seconds == 120
    finally:
        await client.close()


def _secured(
    config_data: Any, tmp_path: Path, bootstrap: str, security: dict[str, Any], password: str
) -> dict[str, Any]:
    """connection_options from a parsed exporter config, as `build` makes them."""
    if "username" in security:
        secret = tmp_path / "kafka-password"
        secret.write_text(password)
        security = {**security, "password": {"file": str(secret)}}
    cfg = parse_config(
        config_data(kafka={"bootstrap_servers": [bootstrap], "topics": ["t"], "security": security})
    )
    return connection_options(cfg.kafka, cfg.secret("kafka.security.password"))


SCRAM = {"protocol": "SASL_PLAINTEXT", "sasl_mechanism": "SCRAM-SHA-512"}


async def test_scram_login_with_the_exporter_config_reads_lag(
    kafka_service, unique_topic: str, config_data, tmp_path: Path
) -> None:
    ep = kafka_service.endpoints
    await create_topics(ep["kafka_bootstrap"], {unique_topic: TopicSpec(partitions=1)})
    await produce_trades(
        ep["kafka_bootstrap"], unique_topic, generate_trades(2, start=datetime.now(UTC))
    )
    [(user, password)] = SCRAM_USERS.items()
    options = _secured(
        config_data, tmp_path, ep["kafka_sasl_bootstrap"], {**SCRAM, "username": user}, password
    )
    client = KafkaClient(options)
    try:
        lag = await collect_lag(
            client, topics=[unique_topic], group_of=fixed_group("g-scram"), read_budget=5.0
        )
    finally:
        await client.close()
    assert lag.topics[0].lag_messages == 2


async def test_wrong_scram_password_is_a_failed_probe_naming_the_reason(
    kafka_service, config_data, tmp_path: Path
) -> None:
    [user] = SCRAM_USERS
    options = _secured(
        config_data,
        tmp_path,
        kafka_service.endpoints["kafka_sasl_bootstrap"],
        {**SCRAM, "username": user},
        "wrong-password",
    )
    client = KafkaClient(options)
    try:
        with pytest.raises(KafkaProbeError) as err:
            await asyncio.wait_for(client.partitions(["trades"]), timeout=30)
    finally:
        await client.close()
    assert "SaslAuthenticationFailed" in str(err.value)
    assert "invalid credentials" in str(err.value)
    assert "wrong-password" not in str(err.value)


async def test_tls_listener_with_the_configured_ca(
    kafka_service, unique_topic: str, config_data, tmp_path: Path
) -> None:
    ep = kafka_service.endpoints
    await create_topics(ep["kafka_bootstrap"], {unique_topic: TopicSpec(partitions=2)})
    tls = {"protocol": "SSL", "ca_file": ep["kafka_ca_file"]}
    client = KafkaClient(_secured(config_data, tmp_path, ep["kafka_ssl_bootstrap"], tls, ""))
    try:
        assert await client.partitions([unique_topic]) == {unique_topic: [0, 1]}
    finally:
        await client.close()

    # without the CA the broker's certificate is not trusted: a failed probe that says why
    plain_tls = {"protocol": "SSL"}
    client = KafkaClient(_secured(config_data, tmp_path, ep["kafka_ssl_bootstrap"], plain_tls, ""))
    try:
        with pytest.raises(KafkaProbeError, match="CERTIFICATE_VERIFY_FAILED"):
            await asyncio.wait_for(client.partitions([unique_topic]), timeout=30)
    finally:
        await client.close()


async def test_real_retention_moves_the_earliest_record(
    kafka_bootstrap: str, unique_topic: str
) -> None:
    week = 7 * 24 * 3600 * 1000
    await create_topics(
        kafka_bootstrap, {unique_topic: TopicSpec(retention_ms=week, segment_ms=100)}
    )
    now = datetime.now(UTC).replace(microsecond=0)
    old = generate_trades(3, start=now - timedelta(hours=3))
    fresh = generate_trades(2, start=now - timedelta(minutes=1), seed=1)
    await produce_trades(kafka_bootstrap, unique_topic, old)
    await produce_trades(kafka_bootstrap, unique_topic, fresh)  # rolls the old segment
    client = _client(kafka_bootstrap)
    try:
        before = await collect_retention(client, topics=[unique_topic], read_budget=3.0)
        assert before.topics[0].earliest_record_ts == old[0].timestamp_ms / 1000

        await alter_topic_configs(
            kafka_bootstrap, unique_topic, {"retention.ms": str(3_600_000), "segment.ms": "100"}
        )

        async def moved() -> float | None:
            got = await collect_retention(client, topics=[unique_topic], read_budget=3.0)
            ts = got.topics[0].earliest_record_ts
            return ts if ts != before.topics[0].earliest_record_ts else None

        earliest = await apoll_until(moved, timeout=60, interval=0.5, what="retention")
    finally:
        await client.close()
    assert earliest == fresh[0].timestamp_ms / 1000


async def test_group_whose_records_expired_is_measured_from_the_earliest_retained_record(
    kafka_bootstrap: str, unique_topic: str
) -> None:
    """Retention deleted records the group never consumed: it resumes at the earliest retained
    record (auto.offset.reset=earliest), so that record's age is the lag, not the lost ones'."""
    await create_topics(
        kafka_bootstrap, {unique_topic: TopicSpec(retention_ms=3_600_000, segment_ms=100)}
    )
    now = datetime.now(UTC).replace(microsecond=0)
    await produce_trades(
        kafka_bootstrap, unique_topic, generate_trades(3, start=now - timedelta(hours=3))
    )
    fresh = generate_trades(2, start=now - timedelta(minutes=2), seed=1)
    await produce_trades(kafka_bootstrap, unique_topic, fresh)
    group = f"g-{unique_topic}"
    await commit_offsets(kafka_bootstrap, group, {TopicPartition(unique_topic, 0): 0})
    client = _client(kafka_bootstrap)
    try:

        async def expired() -> bool:
            got = await collect_retention(client, topics=[unique_topic], read_budget=3.0)
            return got.topics[0].earliest_record_ts == fresh[0].timestamp_ms / 1000

        await apoll_until(expired, timeout=60, interval=0.5, what="old records deleted")
        lag = await collect_lag(
            client, topics=[unique_topic], group_of=fixed_group(group), read_budget=3.0
        )
    finally:
        await client.close()
    (t,) = lag.topics
    assert t.lag_messages == 5  # end minus committed, as kafka-consumer-groups reports it
    assert t.oldest_unconsumed == fresh[0].timestamp_ms / 1000
    assert (t.without_commit, t.unread) == (0, 0)


async def test_new_group_without_commits_counts_from_the_earliest_retained_record(
    kafka_bootstrap: str, unique_topic: str
) -> None:
    await create_topics(kafka_bootstrap, {unique_topic: TopicSpec(partitions=2)})
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=20)
    for p in range(2):
        trades = generate_trades(3, start=start + timedelta(minutes=p), seed=p)
        await produce_trades(kafka_bootstrap, unique_topic, trades, partition=p)
    # the old group committed partition 1 only; the replay group has committed nothing at all
    await commit_offsets(kafka_bootstrap, "g-old", {TopicPartition(unique_topic, 1): 3})
    now = datetime.now(UTC).timestamp()
    client = _client(kafka_bootstrap)
    try:
        old = await collect_lag(
            client, topics=[unique_topic], group_of=fixed_group("g-old"), read_budget=3.0,
            clock=lambda: now,
        )  # fmt: skip
        replay = await collect_lag(
            client, topics=[unique_topic], group_of=fixed_group(f"never-{unique_topic}"),
            read_budget=3.0, clock=lambda: now,
        )  # fmt: skip
    finally:
        await client.close()
    (o,) = old.topics
    assert {p.partition: p.lag for p in o.partitions} == {0: 3, 1: 0}
    assert (o.without_commit, o.unread) == (1, 0)
    assert o.lag_seconds == pytest.approx(now - start.timestamp())  # partition 0 counts
    (r,) = replay.topics
    assert r.lag_messages == 6 and (r.without_commit, r.unread) == (2, 0)
    assert r.oldest_unconsumed == start.timestamp()
    assert r.lag_seconds == pytest.approx(now - start.timestamp())


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
