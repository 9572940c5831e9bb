"""Kafka reads a replay needs (never a change): each partition's earliest retained record, its
offsets at given times (`offsets_for_times`), its end, and a group's committed offsets.

A group's committed offsets are read through the admin API (OffsetFetch), which never joins
the group and so never moves them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from exporter.clients.kafka import connection_options
from remediator.actuators import ActuationError
from remediator.config import RemediatorConfig

Key = str  # "topic:partition"


def key(tp: TopicPartition) -> Key:
    return f"{tp.topic}:{tp.partition}"


@dataclass
class KafkaView:
    partitions: list[Key] = field(default_factory=list)
    earliest_ts: dict[Key, float | None] = field(default_factory=dict)  # None: empty partition
    end: dict[Key, int] = field(default_factory=dict)
    at: dict[str, dict[Key, int]] = field(default_factory=dict)  # name -> offset at that time
    committed: dict[str, dict[Key, int]] = field(default_factory=dict)  # group -> offsets

    def earliest_of(self, topic: str) -> float | None:
        """The newest of the topic's partitions' earliest records: from there on every
        partition still holds its data (empty partitions hold nothing to lose)."""
        found = [t for k, t in self.earliest_ts.items() if k.split(":")[0] == topic]
        known = [t for t in found if t is not None]
        if not found:
            return None
        return max(known) if known else None


def _options(cfg: RemediatorConfig) -> dict[str, object]:
    return connection_options(
        cfg.kafka, cfg.secret("kafka.security.password"), cfg.secret("kafka.security.key_password")
    )


async def read(
    *,
    cfg: RemediatorConfig,
    topics: list[str],
    times_ms: Mapping[str, int] | None = None,
    groups: list[str] | None = None,
) -> KafkaView:
    """Partitions of `topics`, their earliest record time and end, their offsets at each of
    `times_ms` (a time with no record after it maps to the end), and `groups`' committed
    offsets (-1 where a group has none)."""
    options = _options(cfg)
    consumer = AIOKafkaConsumer(group_id=None, enable_auto_commit=False, **options)
    admin = AIOKafkaAdminClient(**options)
    view = KafkaView()
    try:
        await consumer.start()
        await admin.start()
        described = await admin.describe_topics(list(topics))  # a MetadataRequest
        tps = [
            TopicPartition(str(t["topic"]), int(p["partition"]))
            for t in described
            if t["error_code"] == 0
            for p in sorted(t["partitions"], key=lambda p: int(p["partition"]))
        ]
        view.partitions = [key(tp) for tp in tps]
        if not tps:
            return view
        ends = await consumer.end_offsets(tps)
        view.end = {key(tp): int(o) for tp, o in ends.items()}
        first = await consumer.offsets_for_times(dict.fromkeys(tps, 0))
        view.earliest_ts = {
            key(tp): (None if hit is None else hit.timestamp / 1000.0) for tp, hit in first.items()
        }
        for name, ms in (times_ms or {}).items():
            hits = await consumer.offsets_for_times(dict.fromkeys(tps, ms))
            view.at[name] = {
                key(tp): (ends[tp] if hit is None else int(hit.offset)) for tp, hit in hits.items()
            }
        for group in groups or []:
            got = await admin.list_consumer_group_offsets(group, partitions=tps)
            view.committed[group] = {
                key(tp): (int(got[tp].offset) if tp in got else -1) for tp in tps
            }
    except ActuationError:
        raise
    except Exception as exc:
        raise ActuationError(
            f"Kafka read of {', '.join(topics)}: {type(exc).__name__}: {exc}",
            retryable=True,
            code="kafka",
        ) from None
    finally:
        await consumer.stop()
        await admin.close()
    return view
