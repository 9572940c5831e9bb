"""Sample sets and a one-call report for the report tests (test_report*.py)."""

from __future__ import annotations

from exporter.config import parse_config
from exporter.probes.base import Sample
from exporter.report import build_report
from exporter.snapshot import Snapshot

NOW = 1_800_000_000.0


def g(name: str, value: float, **labels: str) -> Sample:
    return Sample(f"torghut_ta_{name}", value, labels)


def healthy_samples(now: float = NOW) -> list[Sample]:
    dep = {"deployment": "torghut-ta"}
    return [
        g("market_open", 1),
        g("table_last_event_timestamp_seconds", now - 5, table="ta_signals"),
        g("table_last_event_timestamp_seconds", now - 5, table="ta_microbars"),
        g("symbol_last_event_timestamp_seconds", now - 5, table="ta_signals", symbol="NVDA"),
        g("clickhouse_disk_free_bytes", 80, replica="r1", disk="default"),
        g("clickhouse_disk_total_bytes", 100, replica="r1", disk="default"),
        g("clickhouse_replica_readonly", 0, replica="r1", table="ta_signals"),
        g("clickhouse_replica_session_expired", 0, replica="r1", table="ta_signals"),
        g("clickhouse_replica_delay_seconds", 0, replica="r1", table="ta_signals"),
        g("flink_job_state", 1, state="RUNNING", **dep),
        g("flink_job_state", 0, state="FAILED", **dep),
        g("flink_lifecycle_state", 1, state="STABLE", **dep),
        g("flink_job_desired_running", 1, **dep),
        g("flink_last_checkpoint_timestamp_seconds", now - 30, **dep),
        g("checkpoint_storage_up", 1, **dep),
        g("kafka_consumer_lag_seconds", 2, group="ta", topic="trades"),
        g("kafka_oldest_unconsumed_timestamp_seconds", now - 2, group="ta", topic="trades"),
        g("kafka_retention_seconds", 7 * 86400, topic="trades"),
        g("api_last_event_timestamp_seconds", now - 5, symbol="NVDA"),
        g("trading_enabled", 1),
    ]


def report_for(clock, config_data, samples: list[Sample], **cfg_overrides):
    cfg = parse_config(config_data(jangar={"url": "http://127.0.0.1:1"}, **cfg_overrides))
    snap = Snapshot(clock=clock)
    snap.register("all", staleness=600)
    snap.record_success("all", tuple(samples), duration=0.1)
    return build_report(snap.view(), cfg)


def replace(samples: list[Sample], *new: Sample) -> list[Sample]:
    keys = {(s.name, tuple(sorted(s.labels.items()))) for s in new}
    kept = [s for s in samples if (s.name, tuple(sorted(s.labels.items()))) not in keys]
    return kept + list(new)


def by_component(report):
    return {v.component: v for v in report.components}


__all__ = ["NOW", "by_component", "g", "healthy_samples", "replace", "report_for"]
