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
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.helpers import create_ssl_context

from exporter.config import KafkaConfig, Secret

T = TypeVar("T")


class KafkaProbeError(Exception):
    """A Kafka read failed; the message says which and why."""


def connection_options(cfg: KafkaConfig, password: Secret | None) -> dict[str, Any]:
    """aiokafka keyword arguments for bootstrap servers, TLS and SASL (PLAIN or SCRAM)."""
    sec = cfg.security
    opts: dict[str, Any] = {
        "bootstrap_servers": list(cfg.bootstrap_servers),
        "security_protocol": sec.protocol,
        "request_timeout_ms": int(cfg.request_timeout * 1000),
    }
    if sec.protocol in ("SSL", "SASL_SSL"):
        opts["ssl_context"] = create_ssl_context(cafile=str(sec.ca_file) if sec.ca_file else None)
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


class KafkaClient:
    """Admin + consumer on one cluster, re-created after any failure."""

    def __init__(self, options: dict[str, Any], *, client_id: str = "torghut-ta-exporter") -> None:
        self._options = options
        self._client_id = client_id
        self._admin: AIOKafkaAdminClient | None = None
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

    async def _clients(self) -> tuple[AIOKafkaAdminClient, AIOKafkaConsumer]:
        if self._broken:
            await self.close()
        if self._admin is None:
            admin = AIOKafkaAdminClient(client_id=self._client_id, **self._options)
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

    async def partitions(self, topics: Iterable[str]) -> dict[str, list[int]]:
        """Partition ids of each existing topic among `topics` (missing topics are left out)."""
        wanted = set(topics)

        async def op(admin: AIOKafkaAdminClient, _: AIOKafkaConsumer) -> dict[str, list[int]]:
            # describe_topics(None) asks for all topics, which never auto-creates any
            found: dict[str, list[int]] = {}
            for t in await admin.describe_topics(None):
                if t["topic"] in wanted and t["error_code"] == 0:
                    found[t["topic"]] = sorted(p["partition"] for p in t["partitions"])
            return found

        return await self._run("metadata", op)

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
