"""The metric catalogue: names, types, labels and help. Names are a contract (DESIGN.md)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class MetricSpec:
    name: str
    kind: Literal["gauge", "counter"]
    labels: tuple[str, ...]
    help: str


def _g(name: str, labels: tuple[str, ...], help: str) -> MetricSpec:
    return MetricSpec(f"torghut_ta_{name}", "gauge", labels, help)


CATALOGUE: dict[str, MetricSpec] = {
    m.name: m
    for m in (
        _g("table_last_event_timestamp_seconds", ("table",), "max(event_ts) of a TA table."),
        _g(
            "symbol_last_event_timestamp_seconds",
            ("table", "symbol"),
            "max(event_ts) of a TA table for a watched symbol, within the scan window.",
        ),
        _g(
            "api_last_event_timestamp_seconds",
            ("symbol",),
            "Newest event served by the Jangar API.",
        ),
        _g("market_open", (), "1 while a configured trading session is open."),
        _g("clickhouse_disk_free_bytes", ("replica", "disk"), "Free bytes per ClickHouse disk."),
        _g("clickhouse_disk_total_bytes", ("replica", "disk"), "Total bytes per ClickHouse disk."),
        _g(
            "clickhouse_table_bytes",
            ("replica", "table"),
            "Bytes on disk of a table's active parts.",
        ),
        _g(
            "clickhouse_partition_bytes",
            ("replica", "table", "partition"),
            "Bytes on disk of the largest and the oldest partitions (top-N only).",
        ),
        _g(
            "clickhouse_oldest_partition_timestamp_seconds",
            ("table",),
            "min_time of the oldest active partition.",
        ),
        _g("clickhouse_replica_readonly", ("replica", "table"), "system.replicas.is_readonly."),
        _g(
            "clickhouse_replica_session_expired",
            ("replica", "table"),
            "system.replicas.is_session_expired.",
        ),
        _g(
            "clickhouse_replica_delay_seconds",
            ("replica", "table"),
            "system.replicas.absolute_delay.",
        ),
        _g("clickhouse_replica_queue_size", ("replica", "table"), "system.replicas.queue_size."),
        _g(
            "flink_job_state",
            ("deployment", "state"),
            "1 for the job's current state, 0 otherwise.",
        ),
        _g(
            "flink_lifecycle_state",
            ("deployment", "state"),
            "1 for the FlinkDeployment's current lifecycle state, 0 otherwise.",
        ),
        _g("flink_job_desired_running", ("deployment",), "1 when spec.job.state is running."),
        _g("flink_restart_nonce", ("deployment",), "spec.restartNonce of the FlinkDeployment."),
        _g(
            "flink_last_checkpoint_timestamp_seconds",
            ("deployment",),
            "Completion time of the latest completed checkpoint (Flink REST).",
        ),
        _g("flink_job_restarts", ("deployment",), "numRestarts of the job (Flink REST)."),
        _g(
            "kafka_consumer_lag_messages",
            ("group", "topic", "partition"),
            "End offset minus committed offset (earliest retained offset without a commit).",
        ),
        _g(
            "kafka_consumer_lag_seconds",
            ("group", "topic"),
            "Now minus the timestamp of the oldest unconsumed record (max over partitions); "
            "a lower bound while partitions_unknown > 0.",
        ),
        _g(
            "kafka_partitions_unknown",
            ("group", "topic"),
            "Partitions whose lag could not be read: lag seconds leaves them out.",
        ),
        _g(
            "kafka_partitions_without_commit",
            ("group", "topic"),
            "Partitions where the group has no committed offset, measured from the earliest "
            "retained offset.",
        ),
        _g(
            "kafka_earliest_record_timestamp_seconds",
            ("topic",),
            "Timestamp of the oldest retained record: the replay window starts here.",
        ),
        _g(
            "kafka_retention_seconds",
            ("topic",),
            "retention.ms / 1000 (broker default when unset).",
        ),
        _g(
            "kafka_oldest_unconsumed_timestamp_seconds",
            ("group", "topic"),
            "Timestamp of the oldest record the group has not consumed yet.",
        ),
        _g(
            "checkpoint_storage_up", ("deployment",), "1 when the checkpoint bucket/prefix answers."
        ),
        _g(
            "checkpoint_storage_last_write_timestamp_seconds",
            ("deployment",),
            "Newest checkpoint object in the checkpoint prefix.",
        ),
        _g("trading_enabled", (), "TRADING_ENABLED on the trading service."),
        _g("probe_success", ("probe",), "1 when the probe's last run succeeded."),
        _g("probe_duration_seconds", ("probe",), "Duration of the probe's last run."),
        _g(
            "probe_last_success_timestamp_seconds",
            ("probe",),
            "When the probe last succeeded.",
        ),
    )
}
