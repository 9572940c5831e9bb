"""Pure interpretation of Kafka offsets and record timestamps (no sockets)."""

from __future__ import annotations

from aiokafka import TopicPartition

from exporter.probes.kafka import (
    KAFKA_DEFAULT_RETENTION_MS,
    KafkaLag,
    KafkaRetention,
    PartitionLag,
    TopicRetention,
    interpret_lag,
    render_lag,
    render_retention,
    resolve_retention,
    topic_lag,
)

NOW = 1_800_000_000.0


def _samples(samples):
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for s in samples}


def test_lag_seconds_is_age_of_oldest_unconsumed_record_over_lagging_partitions() -> None:
    parts = [
        PartitionLag("trades", 0, committed=5, end=9, record_ts=NOW - 30),
        PartitionLag("trades", 1, committed=7, end=8, record_ts=NOW - 90),
        PartitionLag("trades", 2, committed=4, end=4, record_ts=None),  # caught up
    ]
    t = topic_lag("trades", parts, now=NOW)
    assert t.lag_seconds == 90
    assert t.oldest_unconsumed == NOW - 90
    assert t.lag_messages == 5
    assert t.unread == 0


def test_caught_up_group_has_zero_lag_and_no_unconsumed_timestamp() -> None:
    parts = [PartitionLag("trades", p, committed=3, end=3, record_ts=None) for p in range(3)]
    t = topic_lag("trades", parts, now=NOW)
    assert t.lag_seconds == 0.0
    assert t.oldest_unconsumed is None


def test_partition_without_commit_counts_from_the_earliest_retained_offset() -> None:
    # a new replay group: nothing committed, it starts at the earliest retained record
    parts = [
        PartitionLag("trades", 0, committed=None, end=10, record_ts=NOW - 600, start=4),
        PartitionLag("trades", 1, committed=8, end=9, record_ts=NOW - 60),
    ]
    t = topic_lag("trades", parts, now=NOW)
    assert t.partitions[0].lag == 6 and t.lag_messages == 7
    assert t.lag_seconds == 600 and t.oldest_unconsumed == NOW - 600
    assert (t.without_commit, t.unread) == (1, 0)


def test_partition_without_commit_or_start_is_unknown_never_caught_up() -> None:
    parts = [
        PartitionLag("trades", 0, committed=None, end=10, record_ts=None),
        PartitionLag("trades", 1, committed=9, end=9, record_ts=None),  # caught up
    ]
    t = topic_lag("trades", parts, now=NOW)
    assert t.partitions[0].lag is None
    assert t.lag_seconds is None  # not 0: partition 0 may be far behind
    assert t.unread == 1


def test_nothing_to_measure_renders_only_the_group_measured() -> None:
    empty = interpret_lag(
        group="g", group_source="config", committed={}, ends={}, record_ms={},
        missing_topics=(), now=NOW,
    )  # fmt: skip
    assert _samples(render_lag(empty)) == {
        ("torghut_ta_kafka_consumer_group_info", (("group", "g"),)): 1
    }


def test_unread_partition_makes_lag_seconds_a_lower_bound_and_says_so() -> None:
    parts = [
        PartitionLag("trades", 0, committed=1, end=10, record_ts=NOW - 30),
        PartitionLag("trades", 1, committed=1, end=10, record_ts=None),  # not read in time
    ]
    t = topic_lag("trades", parts, now=NOW)
    assert t.lag_seconds == 30 and t.unread == 1
    data = KafkaLag("g", "config", (t,), ())
    got = _samples(render_lag(data))
    labels = (("group", "g"), ("topic", "trades"))
    assert got[("torghut_ta_kafka_partitions_unknown", labels)] == 1
    assert got[("torghut_ta_kafka_consumer_lag_seconds", labels)] == 30


def test_unread_lagging_record_makes_lag_seconds_unknown_not_zero() -> None:
    parts = [PartitionLag("trades", 0, committed=1, end=10, record_ts=None)]
    t = topic_lag("trades", parts, now=NOW)
    assert t.lag_seconds is None
    assert t.unread == 1


def test_interpret_and_render_label_each_partition_and_topic() -> None:
    a0, a1 = TopicPartition("a", 0), TopicPartition("a", 1)
    data = interpret_lag(
        group="ta-1",
        group_source="config",
        committed={a0: 2, a1: -1},
        ends={a0: 5, a1: 4},
        record_ms={a0: int((NOW - 12) * 1000)},
        missing_topics=["gone"],
        now=NOW,
    )
    assert data.missing_topics == ("gone",)
    got = _samples(render_lag(data))
    lag_key = (
        "torghut_ta_kafka_consumer_lag_messages",
        (("group", "ta-1"), ("partition", "0"), ("topic", "a")),
    )
    assert got[lag_key] == 3
    assert not any(k[1] and ("partition", "1") in k[1] for k in got)  # no position, no series
    topic_key = (("group", "ta-1"), ("topic", "a"))
    assert got[("torghut_ta_kafka_partitions_unknown", topic_key)] == 1
    assert got[("torghut_ta_kafka_partitions_without_commit", topic_key)] == 0
    assert got[("torghut_ta_kafka_consumer_lag_seconds", topic_key)] == 12
    assert got[("torghut_ta_kafka_oldest_unconsumed_timestamp_seconds", topic_key)] == NOW - 12
    # the group measured (TA_GROUP_ID): a replay shows as a new value
    assert got[("torghut_ta_kafka_consumer_group_info", (("group", "ta-1"),))] == 1


def test_retention_prefers_topic_then_broker_then_kafka_default() -> None:
    assert resolve_retention(3_600_000, 1) == (3600.0, "topic")
    assert resolve_retention(None, 7_200_000) == (7200.0, "broker")
    assert resolve_retention(None, None) == (KAFKA_DEFAULT_RETENTION_MS / 1000, "kafka default")
    assert resolve_retention(-1, None) == (None, "topic")  # unlimited: no series


def test_render_retention_skips_empty_topics_and_unlimited_retention() -> None:
    data = KafkaRetention(
        (
            TopicRetention("a", NOW - 100, 3600.0, "topic", NOW - 4),
            TopicRetention("b", None, None, "topic"),
        ),
        (),
    )
    got = _samples(render_retention(data))
    assert got == {
        ("torghut_ta_kafka_earliest_record_timestamp_seconds", (("topic", "a"),)): NOW - 100,
        ("torghut_ta_kafka_retention_seconds", (("topic", "a"),)): 3600.0,
        ("torghut_ta_kafka_latest_record_timestamp_seconds", (("topic", "a"),)): NOW - 4,
    }


def test_rendered_series_fit_the_catalogue() -> None:
    from exporter.scheduler import check_samples

    a0 = TopicPartition("a", 0)
    lag = interpret_lag(
        group="g",
        group_source="config",
        committed={a0: 1},
        ends={a0: 3},
        record_ms={a0: int(NOW * 1000)},
        missing_topics=(),
        now=NOW,
    )
    assert len(check_samples(render_lag(lag))) == 6  # 5 of the topic and the group's info
    ret = KafkaRetention((TopicRetention("a", NOW - 9, 60.0, "topic", NOW),), ())
    assert len(check_samples(render_retention(ret))) == 3


def test_interpret_measures_uncommitted_partitions_from_their_start() -> None:
    a0, a1 = TopicPartition("a", 0), TopicPartition("a", 1)
    data = interpret_lag(
        group="replay",
        group_source="config",
        committed={a0: -1, a1: 3},
        ends={a0: 5, a1: 4},
        record_ms={a0: int((NOW - 100) * 1000), a1: int((NOW - 10) * 1000)},
        missing_topics=(),
        now=NOW,
        starts={a0: 2},
    )
    got = _samples(render_lag(data))
    topic_key = (("group", "replay"), ("topic", "a"))
    part0 = (("group", "replay"), ("partition", "0"), ("topic", "a"))
    assert got[("torghut_ta_kafka_consumer_lag_messages", part0)] == 3
    assert got[("torghut_ta_kafka_partitions_without_commit", topic_key)] == 1
    assert got[("torghut_ta_kafka_partitions_unknown", topic_key)] == 0
    assert got[("torghut_ta_kafka_consumer_lag_seconds", topic_key)] == 100
