"""Kafka reads through aiokafka: partitions, committed/beginning/end offsets, record timestamps, retention.

One `KafkaClient` owns an admin client and a group-less consumer, started lazily. Any failure
(or a cancelled call) marks it broken; the next call closes and re-creates both, so a probe
recovers by itself when the broker comes back. Calls are serialised: the consumer's assignment
is shared state.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.helpers import create_ssl_context
from aiokafka.protocol.metadata import MetadataRequest

from exporter.config import KafkaConfig, KafkaSecurity, Secret

T = TypeVar("T")


class KafkaProbeError(Exception):
    """A Kafka read failed; the message says which and why."""


def _path(value: Path | None) -> str | None:
    return str(value) if value is not None else None


def ssl_context(sec: KafkaSecurity, key_password: Secret | None = None) -> ssl.SSLContext:
    """Server verification against `ca_file` (else the system store) and, for mTLS, the client
    certificate chain from `cert_file`/`key_file`. Unreadable or mismatched files raise here."""
    ctx: ssl.SSLContext = create_ssl_context(
        cafile=_path(sec.ca_file),
        certfile=_path(sec.cert_file),
        keyfile=_path(sec.key_file),
        password=key_password.get() if key_password else None,
    )
    return ctx


def connection_options(
    cfg: KafkaConfig, password: Secret | None, key_password: Secret | None = None
) -> dict[str, Any]:
    """aiokafka keyword arguments for bootstrap servers, TLS (incl. mTLS) and SASL (PLAIN or
    SCRAM-SHA-256/512; aiokafka takes the SCRAM credentials in its `sasl_plain_*` arguments)."""
    sec = cfg.security
    opts: dict[str, Any] = {
        "bootstrap_servers": list(cfg.bootstrap_servers),
        "security_protocol": sec.protocol,
        "request_timeout_ms": int(cfg.request_timeout * 1000),
    }
    if sec.protocol in ("SSL", "SASL_SSL"):
        opts["ssl_context"] = ssl_context(sec, key_password)
    if sec.protocol.startswith("SASL"):
        opts["sasl_mechanism"] = sec.sasl_mechanism
        opts["sasl_plain_username"] = sec.username
        opts["sasl_plain_password"] = password.get() if password else None
    return opts


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    name = type(exc).__name__
    if not text or text == name:
        return name
    return text if text.startswith(name) else f"{name}: {text}"


_AIOKAFKA_CONNECT_ERROR = 'Unable connect to "%s:%s": %s'  # aiokafka.client's log format


class _BootstrapReasons(logging.Handler):
    """Why aiokafka could not reach our bootstrap servers: it logs the reason per server (e.g.
    SaslAuthenticationFailed, a TLS verify error) and raises a bare "Unable to bootstrap".
    """

    def __init__(self, servers: Iterable[str]) -> None:
        super().__init__(logging.WARNING)
        self._servers = set(servers)
        self.reasons: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        args = record.args
        if record.msg == _AIOKAFKA_CONNECT_ERROR and isinstance(args, tuple) and len(args) == 3:
            if f"{args[0]}:{args[1]}" in self._servers:
                self.reasons.append(str(args[2]))


@dataclass(frozen=True)
class TopicMetadata:
    error_code: int  # 0, or e.g. 3 (UNKNOWN_TOPIC_OR_PARTITION) for a topic that does not exist
    partitions: tuple[int, ...]


class _Admin(AIOKafkaAdminClient):  # type: ignore[misc]  # aiokafka is untyped (Any)
    async def topics_metadata(self, topics: list[str]) -> list[dict[str, Any]]:
        """Metadata of the named topics only. `describe_topics(names)` would let a broker with
        auto.create.topics.enable create a missing one; `describe_topics(None)` fetches every
        topic of the cluster."""
        request = MetadataRequest(topics, allow_auto_topic_creation=False)
        response = await self._send_request(request)
        return list(response.to_object()["topics"])


class KafkaClient:
    """Admin + consumer on one cluster, re-created after any failure."""

    def __init__(self, options: dict[str, Any], *, client_id: str = "torghut-ta-exporter") -> None:
        self._options = options
        self._client_id = client_id
        self._admin: _Admin | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._broken = False
        self._lock = asyncio.Lock()

    async def close(self) -> None:
        admin, consumer = self._admin, self._consumer
        self._admin = self._consumer = None
        self._broken = False
        if consumer is not None:
            with contextlib.suppress(Exception):
                await consumer.stop()
        if admin is not None:
            with contextlib.suppress(Exception):
                await admin.close()

    async def _clients(self) -> tuple[_Admin, AIOKafkaConsumer]:
        if self._broken:
            await self.close()
        if self._admin is None:
            admin = _Admin(client_id=self._client_id, **self._options)
            self._admin = admin
            await admin.start()
        if self._consumer is None:
            consumer = AIOKafkaConsumer(
                client_id=self._client_id,
                group_id=None,
                enable_auto_commit=False,
                auto_offset_reset="earliest",  # a deleted offset reads the oldest retained record
                fetch_max_wait_ms=100,
                max_partition_fetch_bytes=64 * 1024,
                max_poll_records=10_000,
                **self._options,
            )
            self._consumer = consumer
            await consumer.start()
        return self._admin, self._consumer

    async def _run(self, what: str, op: Callable[..., Awaitable[T]]) -> T:
        async with self._lock:
            try:
                servers = list(self._options["bootstrap_servers"])
                reasons = _BootstrapReasons(servers)
                aiokafka_log = logging.getLogger("aiokafka")  # aiokafka.client logs here
                aiokafka_log.addHandler(reasons)
                try:
                    admin, consumer = await self._clients()
                except Exception as exc:
                    why = reasons.reasons[-1] if reasons.reasons else _describe(exc)
                    raise KafkaProbeError(f"Kafka connect to {','.join(servers)}: {why}") from exc
                finally:
                    aiokafka_log.removeHandler(reasons)
                return await op(admin, consumer)
            except BaseException as exc:
                self._broken = True  # never await here: we may be cancelled
                if isinstance(exc, KafkaProbeError) or not isinstance(exc, Exception):
                    raise
                raise KafkaProbeError(f"Kafka {what}: {_describe(exc)}") from exc

    async def describe_topics(self, topics: Iterable[str]) -> dict[str, TopicMetadata]:
        """The broker's metadata answer for exactly these topics (never creates one)."""
        names = sorted(set(topics))
        if not names:
            return {}  # an empty list would mean "all topics" to old brokers

        async def op(admin: _Admin, _: AIOKafkaConsumer) -> dict[str, TopicMetadata]:
            return {
                t["topic"]: TopicMetadata(
                    t["error_code"], tuple(sorted(p["partition"] for p in t["partitions"]))
                )
                for t in await admin.topics_metadata(names)
            }

        return await self._run("metadata", op)

    async def partitions(self, topics: Iterable[str]) -> dict[str, list[int]]:
        """Partition ids of each existing topic among `topics` (missing topics are left out)."""
        found = await self.describe_topics(topics)
        return {t: list(m.partitions) for t, m in found.items() if m.error_code == 0}

    async def committed(self, group: str, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
        """The group's committed offset per partition; -1 where it has none."""

        async def op(admin: AIOKafkaAdminClient, _: AIOKafkaConsumer) -> dict[TopicPartition, int]:
            got = await admin.list_consumer_group_offsets(group, partitions=tps)
            return {tp: (got[tp].offset if tp in got else -1) for tp in tps}

        return await self._run(f"committed offsets of group {group!r}", op)

    async def end_offsets(self, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
        async def op(_: AIOKafkaAdminClient, consumer: AIOKafkaConsumer) -> Any:
            return await consumer.end_offsets(tps)

        return dict(await self._run("end offsets", op))

    async def beginning_offsets(self, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
        async def op(_: AIOKafkaAdminClient, consumer: AIOKafkaConsumer) -> Any:
            return await consumer.beginning_offsets(tps)

        return dict(await self._run("beginning offsets", op))

    async def record_timestamps(
        self, positions: dict[TopicPartition, int], *, budget: float
    ) -> dict[TopicPartition, int]:
        """Timestamp (ms) of the first record at or after each position, read within `budget` s.

        Only ask for positions that hold a record (below the end offset); partitions whose
        record did not arrive in time are missing from the answer.
        """
        if not positions:
            return {}

        async def op(
            _: AIOKafkaAdminClient, consumer: AIOKafkaConsumer
        ) -> dict[TopicPartition, int]:
            consumer.assign(list(positions))
            for tp, offset in positions.items():
                consumer.seek(tp, offset)
            found: dict[TopicPartition, int] = {}
            deadline = time.monotonic() + budget
            try:
                while len(found) < len(positions):
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    batch = await consumer.getmany(timeout_ms=max(1, int(min(left, 0.5) * 1000)))
                    done = []
                    for tp, records in batch.items():
                        if tp not in found and records:
                            found[tp] = records[0].timestamp
                            done.append(tp)
                    if done:
                        consumer.pause(*done)
            finally:
                consumer.assign([])
            return found

        return await self._run("record read", op)

    async def retention_ms(self, topics: list[str]) -> dict[str, int | None]:
        """retention.ms per topic as the broker reports it (None when it reports no value)."""

        async def op(admin: AIOKafkaAdminClient, _: AIOKafkaConsumer) -> dict[str, int | None]:
            resources = [ConfigResource(ConfigResourceType.TOPIC, t) for t in topics]
            out: dict[str, int | None] = dict.fromkeys(topics)
            for response in await admin.describe_configs(resources):
                for res in response.resources:
                    error_code, _msg, _type, name, entries = res[:5]
                    if error_code != 0 or name not in out:
                        continue
                    for entry in entries:
                        if entry[0] == "retention.ms" and entry[1] is not None:
                            out[name] = int(entry[1])
            return out

        return await self._run("describe configs", op)

    async def broker_retention_ms(self) -> int | None:
        """The brokers' log.retention.{ms,minutes,hours} default, if any broker reports one."""

        async def op(admin: AIOKafkaAdminClient, _: AIOKafkaConsumer) -> int | None:
            cluster = await admin.describe_cluster()
            resources = [
                ConfigResource(ConfigResourceType.BROKER, str(b["node_id"]))
                for b in cluster["brokers"]
            ]
            values: dict[str, str] = {}
            for response in await admin.describe_configs(resources):
                for res in response.resources:
                    if res[0] == 0:
                        values.update({e[0]: e[1] for e in res[4] if e[1] is not None})
            for key, scale in (
                ("log.retention.ms", 1),
                ("log.retention.minutes", 60_000),
                ("log.retention.hours", 3_600_000),
            ):
                if key in values:
                    return int(values[key]) * scale
            return None

        return await self._run("describe broker configs", op)


class SharedPartitions:
    """The partitions of the configured topics, read once for the probes that ask within
    `max_age` seconds of each other (kafka_lag and kafka_retention in one cycle).

    A probe that arrives while another reads waits for that answer; a failed or cancelled read
    is not shared, so the next probe reads again with its own client.
    """

    def __init__(
        self,
        topics: Iterable[str],
        *,
        max_age: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.topics = sorted(set(topics))
        self.max_age = max_age
        self.reads = 0
        self._clock = clock
        self._lock = asyncio.Lock()
        self._value: dict[str, list[int]] | None = None
        self._at = 0.0

    async def get(self, client: KafkaClient) -> dict[str, list[int]]:
        async with self._lock:
            if self._value is None or self._clock() - self._at > self.max_age:
                started = self._clock()
                self.reads += 1
                value = await client.partitions(self.topics)
                self._value, self._at = value, started
            return {t: list(p) for t, p in self._value.items()}
