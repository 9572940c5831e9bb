"""sandbox.kafka against a real Apache Kafka broker through aiokafka."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaConnectionError
from aiokafka.helpers import create_ssl_context
from aiokafka.structs import OffsetAndMetadata

from sandbox import kafka
from sandbox.util import apoll_until, pid_alive


def test_missing_kafka_jars_name_the_fetch_script(tmp_path) -> None:
    with pytest.raises(RuntimeError, match=r"0\.0\.0-absent.*scripts/fetch-kafka\.sh"):
        kafka.launch(tmp_path, version="0.0.0-absent")


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
    # recent timestamps: the broker's default 7-day retention deletes older records for real
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    trades = kafka.generate_trades(10, start=start, interval=timedelta(milliseconds=250))
    # each call is batched into one produce request: end offsets count every record
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
        consumer.assign(tps)
        assert await consumer.end_offsets(tps) == {tps[0]: 6, tps[1]: 4}
        await consumer.seek_to_beginning(*tps)
        got: list = []

        async def read_all() -> bool:
            batch = await consumer.getmany(*tps, timeout_ms=200)
            got.extend(m for msgs in batch.values() for m in msgs)
            return len(got) >= len(trades)

        # generous: a just-started broker on a loaded machine may take seconds to serve a new topic
        deadline = asyncio.get_running_loop().time() + 60
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
        everything = await admin.list_consumer_group_offsets(group)  # all partitions it has
    finally:
        await admin.close()
    end = {tps[0]: 6, tps[1]: 4}
    lag = {tp: end[tp] - committed[tp].offset for tp in tps}
    assert lag == {tps[0]: 2, tps[1]: 3}
    assert {tp: m.offset for tp, m in everything.items()} == {tps[0]: 4, tps[1]: 1}


async def test_earliest_record_timestamp_via_beginning_offset(
    kafka_bootstrap: str, unique_topic: str
) -> None:
    await kafka.create_topics(kafka_bootstrap, {unique_topic: kafka.TopicSpec()})
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
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
    with pytest.raises(RuntimeError, match="kafka exited"):
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


async def _beginning(bootstrap: str, tp: TopicPartition) -> int:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        return int((await consumer.beginning_offsets([tp]))[tp])
    finally:
        await consumer.stop()


async def test_retention_deletes_old_records_and_moves_the_beginning(
    kafka_bootstrap: str, unique_topic: str
) -> None:
    week = 7 * 24 * 3600 * 1000
    await kafka.create_topics(
        kafka_bootstrap, {unique_topic: kafka.TopicSpec(retention_ms=week, segment_ms=100)}
    )
    now = datetime.now(UTC).replace(microsecond=0)
    old = kafka.generate_trades(3, start=now - timedelta(hours=2))
    fresh = kafka.generate_trades(2, start=now, seed=1)
    await kafka.produce_trades(kafka_bootstrap, unique_topic, old)
    # the segment holding `old` is older than segment.ms by its record timestamps: this rolls it
    await kafka.produce_trades(kafka_bootstrap, unique_topic, fresh)
    tp = TopicPartition(unique_topic, 0)
    assert await _beginning(kafka_bootstrap, tp) == 0
    first = await kafka.record_at(kafka_bootstrap, unique_topic, 0, 0)
    assert first is not None and first[0] == old[0].timestamp_ms

    await kafka.alter_topic_configs(
        kafka_bootstrap, unique_topic, {"retention.ms": str(3_600_000), "segment.ms": "100"}
    )
    await apoll_until(
        lambda: _is(_beginning(kafka_bootstrap, tp), 3), timeout=60, interval=0.5, what="retention"
    )
    earliest = await kafka.record_at(kafka_bootstrap, unique_topic, 0, 3)
    assert earliest is not None and kafka.Trade.from_json(earliest[1]) == fresh[0]


async def _is(value: Awaitable[int], expected: int) -> bool:
    return await value == expected


async def test_alter_configs_of_a_missing_topic_names_it(kafka_bootstrap: str) -> None:
    with pytest.raises(RuntimeError, match="no-such-topic"):
        await kafka.alter_topic_configs(kafka_bootstrap, "no-such-topic", {"retention.ms": "1"})


@pytest.mark.slow
async def test_relaunch_on_the_same_workdir_keeps_topics_records_and_offsets(tmp_path) -> None:
    first = kafka.launch(tmp_path)
    try:
        bootstrap = first.endpoints["kafka_bootstrap"]
        await kafka.create_topics(bootstrap, {"trades": kafka.TopicSpec(retention_ms=86_400_000)})
        # recent records: older ones would really be deleted by the 1-day retention
        start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
        trades = kafka.generate_trades(3, start=start)
        await kafka.produce_trades(bootstrap, "trades", trades)
        await kafka.commit_offsets(bootstrap, "g", {TopicPartition("trades", 0): 2})
    finally:
        first.stop()
    port = int(bootstrap.rsplit(":", 1)[1])
    second = kafka.launch(tmp_path, port=port)
    try:
        assert second.pid != first.pid
        # the restarted broker loads its logs first: allow it time
        record = await kafka.record_at(bootstrap, "trades", 0, 2, timeout=60)
        assert record is not None and kafka.Trade.from_json(record[1]) == trades[2]
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()

        async def committed() -> dict[TopicPartition, int] | None:
            # the group coordinator answers only once __consumer_offsets is loaded again: until
            # then the broker says GroupCoordinatorNotAvailable or lists nothing
            offsets = await admin.list_consumer_group_offsets("g")
            return {tp: m.offset for tp, m in offsets.items()} or None

        try:
            found = await apoll_until(committed, timeout=90, interval=0.5, what="offsets reloaded")
        finally:
            await admin.close()
        assert found == {TopicPartition("trades", 0): 2}
    finally:
        second.stop()


async def test_scram_login_and_tls_listener(kafka_service, unique_topic: str) -> None:
    ep = kafka_service.endpoints
    await kafka.create_topics(ep["kafka_bootstrap"], {unique_topic: kafka.TopicSpec()})
    [(user, password)] = kafka.SCRAM_USERS.items()
    sasl = {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": user,
        "sasl_plain_password": password,
    }
    tls = {
        "security_protocol": "SSL",
        "ssl_context": create_ssl_context(cafile=ep["kafka_ca_file"]),
    }
    for bootstrap, options in (
        (ep["kafka_sasl_bootstrap"], sasl),
        (ep["kafka_ssl_bootstrap"], tls),
    ):
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **options)
        await asyncio.wait_for(admin.start(), 30)
        try:
            names = {t["topic"] for t in await admin.describe_topics([unique_topic])}
        finally:
            await admin.close()
        assert names == {unique_topic}


async def test_tls_listener_rejects_a_client_without_the_ca(kafka_service) -> None:
    admin = AIOKafkaAdminClient(
        bootstrap_servers=kafka_service.endpoints["kafka_ssl_bootstrap"],
        security_protocol="SSL",
        ssl_context=create_ssl_context(),  # system CAs only
        request_timeout_ms=5000,
    )
    with pytest.raises(KafkaConnectionError):
        await asyncio.wait_for(admin.start(), 30)
    await admin.close()


async def test_offsets_for_times_answers_by_record_timestamp(
    kafka_bootstrap: str, unique_topic: str
) -> None:
    await kafka.create_topics(kafka_bootstrap, {unique_topic: kafka.TopicSpec()})
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    trades = kafka.generate_trades(3, start=start, interval=timedelta(minutes=10))
    await kafka.produce_trades(kafka_bootstrap, unique_topic, trades)
    tp = TopicPartition(unique_topic, 0)
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap)
    await consumer.start()
    try:
        # written just now, stamped an hour ago: the answer follows the record timestamps
        found = await consumer.offsets_for_times({tp: trades[1].timestamp_ms - 1})
    finally:
        await consumer.stop()
    assert found[tp] is not None
    assert (found[tp].offset, found[tp].timestamp) == (1, trades[1].timestamp_ms)
