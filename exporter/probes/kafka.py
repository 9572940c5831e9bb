"""Kafka: the TA consumer group's lag, and how far back the topics can still be replayed.

Pure: offsets and record timestamps in (read by `exporter.families.kafka`), lag and retention
out, then rendered as samples.

Fail safe: a partition where the group has no committed offset (a new replay group, offsets
expired) is measured from where the group starts, the earliest retained offset, so lag and
expiry stay visible during a replay. A lagging partition whose record could not be read is
counted (`partitions_unknown`): lag seconds is then a lower bound, and says so.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from aiokafka import TopicPartition

from exporter.probes.base import Sample

KAFKA_DEFAULT_RETENTION_MS = 7 * 24 * 3600 * 1000  # log.retention.hours=168


@dataclass(frozen=True)
class PartitionLag:
    topic: str
    partition: int
    committed: int | None  # None: the group has no committed offset here
    end: int
    record_ts: float | None  # timestamp (s) of the first unconsumed record, if read
    start: int | None = None  # without a commit: the earliest retained offset (where it starts)

    @property
    def position(self) -> int | None:
        """Where the group consumes next: its commit, else the earliest retained offset."""
        return self.committed if self.committed is not None else self.start

    @property
    def lag(self) -> int | None:
        pos = self.position
        return None if pos is None else max(0, self.end - pos)


@dataclass(frozen=True)
class TopicLag:
    topic: str
    partitions: tuple[PartitionLag, ...]
    lag_seconds: float | None  # None: unknown; a lower bound while `unread` > 0
    oldest_unconsumed: float | None  # None: nothing unconsumed (or unknown)
    unread: int  # partitions whose lag is unknown: no position, or their record was not read
    without_commit: int = 0  # partitions measured from the earliest retained offset

    @property
    def lag_messages(self) -> int:
        return sum(p.lag or 0 for p in self.partitions)


@dataclass(frozen=True)
class KafkaLag:
    group: str
    group_source: str  # "config" or "configmap <ns>/<name>:<key>"
    topics: tuple[TopicLag, ...]
    missing_topics: tuple[str, ...]


@dataclass(frozen=True)
class TopicRetention:
    topic: str
    earliest_record_ts: float | None  # None: the topic holds no record
    retention_seconds: float | None  # None: unlimited retention
    retention_source: str  # "topic", "broker" or "kafka default"
    # newest record of the partitions read within the budget (a lower bound when some were not)
    latest_record_ts: float | None = None


@dataclass(frozen=True)
class KafkaRetention:
    topics: tuple[TopicRetention, ...]
    missing_topics: tuple[str, ...]


# --- pure interpretation -------------------------------------------------------------------


def topic_lag(topic: str, partitions: Iterable[PartitionLag], *, now: float) -> TopicLag:
    """Lag in seconds = now - oldest unconsumed record (max over partitions); 0 when caught up.

    Partitions of unknown lag are counted in `unread`; the lag of the others is then a lower
    bound (never 0: being caught up cannot be known).
    """
    parts = tuple(sorted(partitions, key=lambda p: p.partition))
    lagging = [p for p in parts if p.lag]
    stamps = [p.record_ts for p in lagging if p.record_ts is not None]
    unread = len(lagging) - len(stamps) + sum(1 for p in parts if p.lag is None)
    oldest = min(stamps) if stamps else None
    if oldest is not None:
        lag_seconds: float | None = max(0.0, now - oldest)
    elif not lagging and not unread:
        lag_seconds = 0.0
    else:
        lag_seconds = None
    without = sum(1 for p in parts if p.committed is None and p.start is not None)
    return TopicLag(topic, parts, lag_seconds, oldest, unread, without)


def interpret_lag(
    *,
    group: str,
    group_source: str,
    committed: dict[TopicPartition, int],
    ends: dict[TopicPartition, int],
    record_ms: dict[TopicPartition, int],
    missing_topics: Iterable[str],
    now: float,
    starts: dict[TopicPartition, int] | None = None,
) -> KafkaLag:
    """`starts`: earliest retained offsets of the partitions without a committed offset."""
    by_topic: dict[str, list[PartitionLag]] = {}
    for tp, end in ends.items():
        offset = committed.get(tp, -1)
        ms = record_ms.get(tp)
        start = (starts or {}).get(tp)
        by_topic.setdefault(tp.topic, []).append(
            PartitionLag(
                tp.topic,
                tp.partition,
                offset if offset >= 0 else None,
                end,
                ms / 1000.0 if ms is not None and ms >= 0 else None,
                start if offset < 0 and start is not None and start >= 0 else None,
            )
        )
    topics = tuple(topic_lag(t, ps, now=now) for t, ps in sorted(by_topic.items()))
    return KafkaLag(group, group_source, topics, tuple(sorted(missing_topics)))


def resolve_retention(topic_ms: int | None, broker_ms: int | None) -> tuple[float | None, str]:
    """(seconds or None for unlimited, where the value came from)."""
    if topic_ms is not None:
        value, source = topic_ms, "topic"
    elif broker_ms is not None:
        value, source = broker_ms, "broker"
    else:
        value, source = KAFKA_DEFAULT_RETENTION_MS, "kafka default"
    return (None if value < 0 else value / 1000.0), source


def render_lag(data: KafkaLag) -> Iterable[Sample]:
    yield Sample("torghut_ta_kafka_consumer_group_info", 1.0, {"group": data.group})
    for t in data.topics:
        for p in t.partitions:
            if p.lag is not None:
                labels = {"group": data.group, "topic": t.topic, "partition": str(p.partition)}
                yield Sample("torghut_ta_kafka_consumer_lag_messages", float(p.lag), labels)
        labels = {"group": data.group, "topic": t.topic}
        yield Sample("torghut_ta_kafka_partitions_unknown", float(t.unread), labels)
        yield Sample("torghut_ta_kafka_partitions_without_commit", float(t.without_commit), labels)
        if t.lag_seconds is not None:
            yield Sample("torghut_ta_kafka_consumer_lag_seconds", t.lag_seconds, labels)
        if t.oldest_unconsumed is not None:
            yield Sample(
                "torghut_ta_kafka_oldest_unconsumed_timestamp_seconds", t.oldest_unconsumed, labels
            )


def render_retention(data: KafkaRetention) -> Iterable[Sample]:
    for t in data.topics:
        if t.earliest_record_ts is not None:
            yield Sample(
                "torghut_ta_kafka_earliest_record_timestamp_seconds",
                t.earliest_record_ts,
                {"topic": t.topic},
            )
        if t.retention_seconds is not None:
            yield Sample(
                "torghut_ta_kafka_retention_seconds", t.retention_seconds, {"topic": t.topic}
            )
        if t.latest_record_ts is not None:
            yield Sample(
                "torghut_ta_kafka_latest_record_timestamp_seconds",
                t.latest_record_ts,
                {"topic": t.topic},
            )
