"""The metric catalogue: names, types, labels and help. Names are a contract (docs/metrics.md)."""

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
            "signals_last_event_timestamp_seconds",
            ("table",),
            "max(event_ts) of clickhouse.signals_table, the table trading reads.",
        ),
        _g(
            "symbol_last_event_timestamp_seconds",
            ("table", "symbol"),
            "max(event_ts) of a TA table for a watched symbol, within the scan window.",
        ),
        _g(
            "symbol_missing",
            ("table", "symbol"),
            "1 when a watched symbol has no row within the scan window, 0 when it has.",
        ),
        _g(
            "table_future_rows",
            ("table",),
            "Rows more than clickhouse.future_tolerance ahead of now, ignored by freshness.",
        ),
        _g(
            "replica_table_last_event_timestamp_seconds",
            ("replica", "table"),
            "max(event_ts) of a TA table as one replica answered it.",
        ),
        _g(
            "replica_freshness_success",
            ("replica",),
            "1 when the replica answered the last freshness read, 0 when it failed or timed out.",
        ),
        _g(
            "api_last_event_timestamp_seconds",
            ("symbol",),
            "Newest event served by the Jangar API.",
        ),
        _g("market_open", (), "1 while a configured trading session is open."),
        _g(
            "market_open_grace",
            (),
            "1 during market.open_grace after a session opens: freshness not judged yet.",
        ),
        _g(
            "clickhouse_disk_free_bytes",
            ("replica", "disk"),
            "Free bytes net of reservations, per disk holding the TA tables.",
        ),
        _g(
            "clickhouse_disk_total_bytes",
            ("replica", "disk"),
            "Total bytes per disk holding the TA tables.",
        ),
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
        _g(
            "clickhouse_table_ttl_seconds",
            ("table",),
            "Delete TTL of a TA table (its TTL clause): how long ClickHouse keeps rows.",
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
            "clickhouse_replica_keeper_unreachable",
            ("replica", "table"),
            "1 when the replica cannot reach Keeper (session expired or a connection error).",
        ),
        _g(
            "clickhouse_replica_metadata_lost",
            ("replica", "table"),
            "1 when Keeper answers but the table's znodes are gone (No node): Procedure B.",
        ),
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
            "flink_job_start_timestamp_seconds",
            ("deployment",),
            "start-time of the job (Flink REST): since when a checkpoint is owed.",
        ),
        _g(
            "flink_checkpoint_interval_seconds",
            ("deployment",),
            "Periodic checkpoint interval of the job (Flink REST); absent when off or unknown.",
        ),
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
            "kafka_latest_record_timestamp_seconds",
            ("topic",),
            "Timestamp of the newest record of an input topic: whether input still arrives.",
        ),
        _g(
            "kafka_consumer_group_info",
            ("group",),
            "1 for the consumer group the exporter measures (TA_GROUP_ID of the live ConfigMap).",
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
        _g(
            "checkpoint_storage_walk_truncated",
            ("deployment",),
            "1 when the storage walk hit its request budget: the last write is a lower bound.",
        ),
        _g("trading_enabled", (), "TRADING_ENABLED on the trading service."),
        _g(
            "component_status",
            ("component", "stage", "status"),
            "1 for the component's current /report status, 0 for its other statuses.",
        ),
        _g("probe_success", ("probe",), "1 when the probe's last run succeeded."),
        _g("probe_duration_seconds", ("probe",), "Duration of the probe's last run."),
        _g(
            "probe_last_success_timestamp_seconds",
            ("probe",),
            "When the probe last succeeded.",
        ),
    )
}

# Probe health: owned by the scheduler, exported for every registered probe even when its data is stale.
PROBE_SUCCESS = "torghut_ta_probe_success"
PROBE_DURATION = "torghut_ta_probe_duration_seconds"
PROBE_LAST_SUCCESS = "torghut_ta_probe_last_success_timestamp_seconds"
PROBE_METRICS = (PROBE_SUCCESS, PROBE_DURATION, PROBE_LAST_SUCCESS)
# The /report verdict per component: owned by the server, rendered from the snapshot at scrape.
COMPONENT_STATUS = "torghut_ta_component_status"
