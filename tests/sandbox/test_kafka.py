"""sandbox.kafka against a real tansu broker through aiokafka."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.structs import OffsetAndMetadata

from sandbox import kafka
from sandbox.util import pid_alive


def test_tansu_binary_is_found_in_the_wheel() -> None:
    path = kafka.tansu_binary()
    assert path.name == "tansu" and path.is_file()


def test_launch_rejects_unknown_storage(tmp_path) -> None:
    with pytest.raises(ValueError, match="storage"):
        kafka.launch(tmp_path, storage="postgres://x")
    with pytest.raises(ValueError, match="s3_endpoint"):
        kafka.launch(tmp_path, storage="s3://bucket/")


async def test_topic_configs_are_readable(kafka_bootstrap: str, unique_topic: str) -> None:
    spec = kafka.TopicSpec(partitions=3, retention_ms=7 * 24 * 3600 * 1000)
    await kafka.create_topics(kafka_bootstrap, {unique_topic: spec})
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        [described] = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, unique_topic)]
        )
        topics = await admin.describe_topics([unique_topic])
    finally:
        await admin.close()
    [resource] = described.resources
    configs = {entry[0]: entry[1] for entry in resource[4]}
    assert configs["retention.ms"] == str(spec.retention_ms)
    assert len(topics[0]["partitions"]) == 3


async def test_create_topics_reports_duplicates(kafka_bootstrap: str, unique_topic: str) -> None:
    await kafka.create_topics(kafka_bootstrap, {unique_topic: kafka.TopicSpec()})
    with pytest.raises(RuntimeError, match=unique_topic):
        await kafka.create_topics(kafka_bootstrap, {unique_topic: kafka.TopicSpec()})


async def test_produce_consume_commit_and_lag(kafka_bootstrap: str, unique_topic: str) -> None:
    await kafka.create_topics(kafka_bootstrap, {unique_topic: kafka.TopicSpec(partitions=2)})
    start = datetime(2026, 1, 5, 14, 30, tzinfo=UTC)
    trades = kafka.generate_trades(10, start=start, interval=timedelta(milliseconds=250))
    sent = [
        *await kafka.produce_trades(kafka_bootstrap, unique_topic, trades[:6], partition=0),
        *await kafka.produce_trades(kafka_bootstrap, unique_topic, trades[6:], partition=1),
    ]
    assert [m.offset for m in sent] == [0, 1, 2, 3, 4, 5, 0, 1, 2, 3]
    tps = [TopicPartition(unique_topic, 0), TopicPartition(unique_topic, 1)]

    group = f"g-{unique_topic}"
    consumer = AIOKafkaConsumer(
        bootstrap_servers=kafka_bootstrap, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        consumer.assign(tps)  # manual assignment: no 5 s group join
        assert await consumer.end_offsets(tps) == {tps[0]: 6, tps[1]: 4}
        await consumer.seek_to_beginning(*tps)
        got: list = []

        async def read_all() -> bool:
            batch = await consumer.getmany(*tps, timeout_ms=200)
            got.extend(m for msgs in batch.values() for m in msgs)
            return len(got) >= len(trades)

        deadline = asyncio.get_running_loop().time() + 10
        while not await read_all():
            assert asyncio.get_running_loop().time() < deadline, f"read only {len(got)}"
        by_ts = sorted(got, key=lambda m: m.timestamp)
        assert [kafka.Trade.from_json(m.value) for m in by_ts] == trades
        assert [m.timestamp for m in by_ts] == [t.timestamp_ms for t in trades]

        await consumer.commit({tps[0]: OffsetAndMetadata(4, ""), tps[1]: OffsetAndMetadata(1, "")})
        assert await consumer.committed(tps[0]) == 4
        assert await consumer.committed(tps[1]) == 1
    finally:
        await consumer.stop()

    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        committed = await admin.list_consumer_group_offsets(group, partitions=tps)
    finally:
        await admin.close()
    end = {tps[0]: 6, tps[1]: 4}
    lag = {tp: end[tp] - committed[tp].offset for tp in tps}
    assert lag == {tps[0]: 2, tps[1]: 3}


async def test_earliest_record_timestamp_via_beginning_offset(
    kafka_bootstrap: str, unique_topic: str
) -> None:
    await kafka.create_topics(kafka_bootstrap, {unique_topic: kafka.TopicSpec()})
    start = datetime(2025, 12, 1, tzinfo=UTC)
    trades = kafka.generate_trades(3, start=start, interval=timedelta(hours=1))
    await kafka.produce_trades(kafka_bootstrap, unique_topic, trades)
    first = await kafka.record_at(kafka_bootstrap, unique_topic, 0, 0)
    assert first is not None
    assert first[0] == trades[0].timestamp_ms
    assert kafka.Trade.from_json(first[1]) == trades[0]
    assert await kafka.record_at(kafka_bootstrap, unique_topic, 0, 3, timeout=0.3) is None


async def test_stream_trades_keeps_a_steady_rate(kafka_bootstrap: str, unique_topic: str) -> None:
    await kafka.create_topics(kafka_bootstrap, {unique_topic: kafka.TopicSpec()})
    stop = asyncio.Event()
    task = asyncio.create_task(
        kafka.stream_trades(kafka_bootstrap, unique_topic, rate_hz=50, stop=stop)
    )
    tp = TopicPartition(unique_topic, 0)
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap)
    await consumer.start()
    try:
        consumer.assign([tp])
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while (await consumer.end_offsets([tp]))[tp] < 20:
            assert loop.time() < deadline
            await asyncio.sleep(0.05)
    finally:
        await consumer.stop()
        stop.set()
    sent = await asyncio.wait_for(task, 5)
    assert sent >= 20
    records = [await kafka.record_at(kafka_bootstrap, unique_topic, 0, i) for i in (0, 19)]
    span_ms = records[1][0] - records[0][0]  # type: ignore[index]
    assert 19 * 20 * 0.8 <= span_ms <= 19 * 20 * 3  # ~20 ms apart at 50 Hz
    symbols = {kafka.Trade.from_json(r[1]).symbol for r in records}  # type: ignore[index]
    assert symbols <= set(kafka.DEFAULT_SYMBOLS)


def test_trade_from_json_names_bad_input() -> None:
    with pytest.raises(ValueError, match="not a trade"):
        kafka.Trade.from_json(b'{"symbol": "NVDA"}')


def test_generate_trades_needs_aware_start() -> None:
    with pytest.raises(ValueError, match="timezone"):
        kafka.generate_trades(1, start=datetime(2026, 1, 1))


def test_service_is_a_background_process(kafka_service) -> None:
    assert pid_alive(kafka_service.pid)
    assert kafka_service.endpoints["kafka_bootstrap"].startswith("127.0.0.1:")


def test_launch_reports_a_broker_that_dies(tmp_path, kafka_bootstrap: str) -> None:
    taken = int(kafka_bootstrap.rsplit(":", 1)[1])
    with pytest.raises(RuntimeError, match="tansu exited"):
        kafka.launch(tmp_path, port=taken)


async def test_trades_topic_fixture_is_empty_with_retention(
    kafka_bootstrap: str, trades_topic: str
) -> None:
    assert await kafka.record_at(kafka_bootstrap, trades_topic, 0, 0, timeout=0.3) is None
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        [described] = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, trades_topic)]
        )
    finally:
        await admin.close()
    configs = {entry[0]: entry[1] for entry in described.resources[0][4]}
    assert configs["retention.ms"] == str(7 * 24 * 3600 * 1000)
