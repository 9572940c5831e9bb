"""The sandbox's Kafka: the broker launcher (`sandbox.kafka_broker`, re-exported here) plus
helpers to create and alter topics, produce trades and commit offsets.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError
from aiokafka.structs import RecordMetadata

from sandbox.kafka_broker import KAFKA_VERSION as KAFKA_VERSION
from sandbox.kafka_broker import SCRAM_MECHANISM as SCRAM_MECHANISM
from sandbox.kafka_broker import SCRAM_USERS as SCRAM_USERS
from sandbox.kafka_broker import kafka_libs as kafka_libs
from sandbox.kafka_broker import launch as launch
from sandbox.kafka_broker import start as start
from sandbox.util import apoll_until

DEFAULT_SYMBOLS: tuple[str, ...] = ("NVDA", "AAPL", "MSFT", "AMZN", "TSLA")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TopicSpec:
    partitions: int = 1
    retention_ms: int | None = None
    segment_ms: int | None = None  # small values let retention delete old records soon
    extra_configs: Mapping[str, str] | None = None

    def configs(self) -> dict[str, str]:
        out = dict(self.extra_configs or {})
        if self.retention_ms is not None:
            out["retention.ms"] = str(self.retention_ms)
        if self.segment_ms is not None:
            out["segment.ms"] = str(self.segment_ms)
        return out


async def create_topics(
    bootstrap: str, topics: Mapping[str, TopicSpec], *, timeout: float = 30.0, **client_kwargs: Any
) -> None:
    """Create topics with their configs and wait until the broker serves them; an error names
    every topic the broker refused.
    """
    new = [
        NewTopic(name, spec.partitions, 1, topic_configs=spec.configs())
        for name, spec in topics.items()
    ]
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **client_kwargs)
    await admin.start()
    try:
        response = await admin.create_topics(new)
        errors = [(t[0], t[1], t[2]) for t in response.topic_errors if t[1] != 0]
        if errors:
            raise RuntimeError(f"create_topics failed: {errors}")

        # the controller answers once the topics exist; the broker learns them a bit later
        async def known() -> bool:
            described = await admin.describe_topics(list(topics))
            return all(
                t["error_code"] == 0
                and t["partitions"]
                and all(p["leader"] >= 0 for p in t["partitions"])
                for t in described
            )

        await apoll_until(known, timeout=timeout, interval=0.05, what=f"topics {sorted(topics)}")
    finally:
        await admin.close()


async def wait_group_coordinator(
    bootstrap: str, *, timeout: float = 60.0, **client_kwargs: Any
) -> None:
    """Wait until the group coordinator answers (a new broker creates __consumer_offsets on
    first use), so consumer-group calls right after start behave as on a long-running cluster.
    """
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **client_kwargs)
    await admin.start()
    try:

        async def answers() -> bool:
            await admin.list_consumer_group_offsets("sandbox-warm-up")
            return True

        await apoll_until(answers, timeout=timeout, interval=0.2, what="Kafka group coordinator")
    finally:
        await admin.close()


async def alter_topic_configs(
    bootstrap: str, topic: str, configs: Mapping[str, str], **client_kwargs: Any
) -> None:
    """Set topic configs (e.g. retention.ms) on an existing topic through AlterConfigs.

    Like `kafka-configs --alter` without `--incremental`: configs not named return to defaults.
    """
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **client_kwargs)
    await admin.start()
    try:
        resource = ConfigResource(ConfigResourceType.TOPIC, topic, dict(configs))
        responses = await admin.alter_configs([resource])
    finally:
        await admin.close()
    for response in responses:
        for res in response.resources:
            if res[0] != 0:
                raise RuntimeError(f"alter configs of topic {topic!r} failed: {res[0]} {res[1]}")


@dataclass(frozen=True)
class Trade:
    """One trade as torghut-ws would publish it; `event_ts` is timezone-aware UTC."""

    symbol: str
    price: float
    size: int
    event_ts: datetime

    def to_json(self) -> bytes:
        body = asdict(self)
        body["event_ts"] = self.event_ts.astimezone(UTC).isoformat(timespec="milliseconds")
        return json.dumps(body, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> Trade:
        try:
            body = json.loads(raw)
            return cls(
                symbol=str(body["symbol"]),
                price=float(body["price"]),
                size=int(body["size"]),
                event_ts=datetime.fromisoformat(body["event_ts"]),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"not a trade record ({exc!r}): {raw[:200]!r}") from exc

    @property
    def timestamp_ms(self) -> int:
        return round(self.event_ts.timestamp() * 1000)


def generate_trades(
    count: int,
    *,
    start: datetime,
    interval: timedelta = timedelta(seconds=1),
    symbols: Sequence[str] = DEFAULT_SYMBOLS,
    seed: int = 0,
) -> list[Trade]:
    """`count` trades at a steady pace from `start`, cycling through `symbols` (deterministic)."""
    if start.tzinfo is None:
        raise ValueError("start must be timezone-aware")
    rng = random.Random(seed)
    prices = {s: 100.0 + 50.0 * i for i, s in enumerate(symbols)}
    out = []
    for i in range(count):
        symbol = symbols[i % len(symbols)]
        prices[symbol] = round(max(1.0, prices[symbol] * (1 + rng.uniform(-0.002, 0.002))), 2)
        out.append(Trade(symbol, prices[symbol], rng.randint(1, 500), start + i * interval))
    return out


def _live_trades(symbols: Sequence[str], seed: int) -> Iterator[tuple[str, float, int]]:
    """Endless (symbol, price, size), cycling through `symbols`."""
    rng = random.Random(seed)
    prices = {s: 100.0 + 50.0 * i for i, s in enumerate(symbols)}
    i = 0
    while True:
        symbol = symbols[i % len(symbols)]
        prices[symbol] = round(max(1.0, prices[symbol] * (1 + rng.uniform(-0.002, 0.002))), 2)
        yield symbol, prices[symbol], rng.randint(1, 500)
        i += 1


async def produce_trades(
    bootstrap: str,
    topic: str,
    trades: Iterable[Trade],
    *,
    partition: int | None = None,
    producer: AIOKafkaProducer | None = None,
    **client_kwargs: Any,
) -> list[RecordMetadata]:
    """Produce `trades` in as few requests as the producer batches them; metadata in order.

    Records are keyed by symbol and carry event_ts as their timestamp. Pass `producer` to reuse
    a started one; otherwise one is started and stopped here.
    """
    own = producer is None
    if producer is None:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, **client_kwargs)
        await producer.start()
    try:
        futures = [
            await producer.send(
                topic,
                trade.to_json(),
                key=trade.symbol.encode(),
                partition=partition,
                timestamp_ms=trade.timestamp_ms,
            )
            for trade in trades
        ]
        return list(await asyncio.gather(*futures))
    finally:
        if own:
            await producer.stop()


async def stream_trades(
    bootstrap: str,
    topic: str,
    *,
    rate_hz: float,
    stop: asyncio.Event,
    symbols: Sequence[str] = DEFAULT_SYMBOLS,
    seed: int = 0,
    batch_seconds: float = 1.0,
    **client_kwargs: Any,
) -> int:
    """Produce live trades at a steady `rate_hz` until `stop` is set; returns how many were sent.

    Each trade is stamped with its own tick (1/rate_hz apart), and the trades due are sent
    together every `batch_seconds`, as a feed batches its writes: one produce request per
    batch instead of one per trade keeps the feed, the broker and the consumers cheap at rest.
    """
    if rate_hz <= 0:
        raise ValueError("rate_hz must be positive")
    if batch_seconds <= 0:
        raise ValueError("batch_seconds must be positive")
    period = 1.0 / rate_hz
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0, **client_kwargs)
    await producer.start()
    source = _live_trades(symbols, seed)
    sent = 0
    try:
        start = time.monotonic()
        while not stop.is_set():
            now_mono, now_wall = time.monotonic(), datetime.now(UTC)
            due = (
                int((now_mono - start) / period) + 1 - sent
            )  # ticks 0..k with start+k*period <= now
            batch = []
            for k in range(sent, sent + due):
                symbol, price, size = next(source)
                at = now_wall - timedelta(seconds=now_mono - (start + k * period))
                batch.append(Trade(symbol, price, size, at))
            if batch:
                try:
                    await produce_trades(bootstrap, topic, batch, producer=producer)
                except KafkaError as exc:
                    # the broker is away (a Kafka outage game day): a live feed drops what it
                    # cannot publish and carries on, so the signals resume when Kafka does
                    log.warning("dropped %d trades: %r", len(batch), exc)
                sent += len(batch)
            # wait for the next batch, or return at once when asked to stop
            wake = max(now_mono + batch_seconds, start + sent * period)  # next tick due
            delay = max(0.0, wake - time.monotonic())
            try:
                await asyncio.wait_for(stop.wait(), timeout=delay)
            except TimeoutError:
                pass
    finally:
        await producer.stop()
    return sent


async def commit_offsets(
    bootstrap: str, group: str, offsets: Mapping[TopicPartition, int], **client_kwargs: Any
) -> None:
    """Commit `offsets` for `group` without joining it (as `kafka-consumer-groups --reset-offsets`).

    Kafka accepts such a commit only while the group has no active members.
    """
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False, **client_kwargs
    )
    await consumer.start()
    try:
        consumer.assign(list(offsets))
        await consumer.commit(dict(offsets))
    finally:
        await consumer.stop()


async def record_at(
    bootstrap: str, topic: str, partition: int, offset: int, *, timeout: float = 2.0
) -> tuple[int, bytes] | None:
    """(timestamp_ms, value) of the record at `offset`, or None when none arrives in `timeout`."""
    tp = TopicPartition(topic, partition)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign([tp])
        consumer.seek(tp, offset)
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            batch = await consumer.getmany(tp, timeout_ms=int(left * 1000) + 1, max_records=1)
            for msg in batch.get(tp, []):
                if msg.offset == offset:
                    return msg.timestamp, msg.value
                if msg.offset > offset:  # compacted or deleted: there is no such record
                    return None
        return None
    finally:
        await consumer.stop()
