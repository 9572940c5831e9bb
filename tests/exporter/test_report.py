"""Report: verdicts per component from metric names only, pointing at the runbook procedure."""

from __future__ import annotations

from exporter.config import parse_config
from exporter.probes.base import Sample
from exporter.report import COMPONENTS, build_report
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


def test_all_healthy(clock, config_data) -> None:
    report = report_for(clock, config_data, healthy_samples(clock.now))
    assert [v.component for v in report.components] == list(COMPONENTS)
    assert {v.status for v in report.components} == {"healthy"}, report.components
    assert report.overall == "healthy" and report.exit_code == 0


def test_flink_failed_with_disk_pressure_points_to_procedure_a(clock, config_data) -> None:
    dep = {"deployment": "torghut-ta"}
    samples = replace(
        healthy_samples(clock.now),
        g("flink_job_state", 0, state="RUNNING", **dep),
        g("flink_job_state", 1, state="FAILED", **dep),
        g("clickhouse_disk_free_bytes", 2, replica="r1", disk="default"),
        g("table_last_event_timestamp_seconds", clock.now - 900, table="ta_signals"),
    )
    v = by_component(report_for(clock, config_data, samples))
    assert (v["flink"].status, v["flink"].procedure) == ("down", "A")
    assert (v["clickhouse-disk"].status, v["clickhouse-disk"].procedure) == ("down", "A")
    assert (v["freshness"].status, v["freshness"].procedure) == ("down", "A")
    assert v["trading"].status == "down"
    stale = v["freshness"].evidence[0]
    assert stale.data_age_seconds == 900 and stale.labels == {"table": "ta_signals"}


def test_flink_failed_without_disk_pressure_is_manual(clock, config_data) -> None:
    dep = {"deployment": "torghut-ta"}
    samples = replace(
        healthy_samples(clock.now), g("flink_lifecycle_state", 1, state="FAILED", **dep)
    )
    v = by_component(report_for(clock, config_data, samples))
    assert (v["flink"].status, v["flink"].procedure) == ("down", "none")


def test_read_only_replica_points_to_procedure_b(clock, config_data) -> None:
    samples = replace(
        healthy_samples(clock.now),
        g("clickhouse_replica_readonly", 1, replica="r1", table="ta_signals"),
    )
    report = report_for(clock, config_data, samples)
    v = by_component(report)
    assert (v["clickhouse-replicas"].status, v["clickhouse-replicas"].procedure) == ("down", "B")
    assert "r1/ta_signals" in v["clickhouse-replicas"].summary
    assert report.overall == "down" and report.exit_code == 2


def test_freshness_is_judged_only_while_the_market_is_open(clock, config_data) -> None:
    old = g("table_last_event_timestamp_seconds", clock.now - 86400, table="ta_signals")
    closed = replace(healthy_samples(clock.now), old, g("market_open", 0))
    assert by_component(report_for(clock, config_data, closed))["freshness"].status == "healthy"
    opened = replace(healthy_samples(clock.now), old)
    assert by_component(report_for(clock, config_data, opened))["freshness"].status == "down"


def test_stale_symbol_degrades(clock, config_data) -> None:
    samples = replace(
        healthy_samples(clock.now),
        g(
            "symbol_last_event_timestamp_seconds",
            clock.now - 500,
            table="ta_signals",
            symbol="NVDA",
        ),
    )
    report = report_for(clock, config_data, samples)
    v = by_component(report)
    assert v["freshness"].status == "degraded" and "NVDA" in v["freshness"].summary
    assert report.overall == "down"  # trading enabled on stale signals
    assert v["trading"].status == "down"


def test_kafka_lag_within_threshold_with_unreadable_partitions_is_unknown(
    clock, config_data
) -> None:
    samples = [
        *healthy_samples(clock.now),
        g("kafka_partitions_unknown", 2, group="ta", topic="trades"),
    ]
    v = by_component(report_for(clock, config_data, samples))["kafka"]
    assert v.status == "unknown" and "trades" in v.summary
    zero = [
        *healthy_samples(clock.now),
        g("kafka_partitions_unknown", 0, group="ta", topic="trades"),
    ]
    assert by_component(report_for(clock, config_data, zero))["kafka"].status == "healthy"


def test_kafka_unconsumed_data_about_to_expire_is_down(clock, config_data) -> None:
    samples = replace(
        healthy_samples(clock.now),
        g(
            "kafka_oldest_unconsumed_timestamp_seconds",
            clock.now - 86400 + 600,
            group="ta",
            topic="trades",
        ),
        g("kafka_retention_seconds", 86400, topic="trades"),
    )
    v = by_component(report_for(clock, config_data, samples))
    assert v["kafka"].status == "down" and "trades" in v["kafka"].summary


def test_thresholds_come_from_config(clock, config_data) -> None:
    samples = replace(
        healthy_samples(clock.now), g("kafka_consumer_lag_seconds", 100, group="ta", topic="trades")
    )
    assert by_component(report_for(clock, config_data, samples))["kafka"].status == "healthy"
    tight = report_for(clock, config_data, samples, report={"kafka_lag": "1m"})
    assert by_component(tight)["kafka"].status == "degraded"


def test_nothing_known_is_unknown(clock, config_data) -> None:
    report = report_for(clock, config_data, [])
    assert report.overall == "unknown" and report.exit_code == 3
    json = report.to_json()
    assert json["overall"] == "unknown" and len(json["components"]) == len(COMPONENTS)


def test_secrets_are_masked_in_summaries_details_and_probe_errors(
    clock, config_data, monkeypatch
) -> None:
    monkeypatch.setenv("CH_PASSWORD", "hunter2-very-secret")
    cfg = parse_config(
        config_data(
            clickhouse={
                "replicas": [{"name": "r1", "url": "http://127.0.0.1:8123"}],
                "password": {"env": "CH_PASSWORD"},
            }
        )
    )
    snap = Snapshot(clock=clock)
    snap.register("kafka_lag", staleness=600)
    snap.record_failure("kafka_lag", "auth failed for password hunter2-very-secret", duration=0.1)
    report = build_report(snap.view(), cfg)
    text = str(report.to_json())
    assert "hunter2-very-secret" not in text
    kafka = by_component(report)["kafka"]
    assert kafka.details["probe kafka_lag"] == "auth failed for password ***"
    assert "probe kafka_lag: auth failed for password ***" in kafka.summary


def test_probe_data_adds_facts_while_fresh(clock, config_data) -> None:
    from exporter.probes.flink_deployment import parse_flinkdeployment

    dep = parse_flinkdeployment(
        {
            "metadata": {"name": "torghut-ta"},
            "spec": {"job": {"state": "running"}},
            "status": {
                "jobStatus": {"state": "FAILED"},
                "lifecycleState": "FAILED",
                "error": '{"type": "org.apache.flink.runtime.JobException", "message": "boom"}',
            },
        }
    )
    cfg = parse_config(config_data())
    snap = Snapshot(clock=clock)
    snap.register("flink_deployment", staleness=60)
    snap.record_success("flink_deployment", (), duration=0.1, data=dep)
    flink = by_component(build_report(snap.view(), cfg))["flink"]
    assert flink.details["error_message"] == "boom"
    assert flink.details["error_type"] == "org.apache.flink.runtime.JobException"
    clock.advance(61)  # stale data says nothing any more
    assert "error_message" not in by_component(build_report(snap.view(), cfg))["flink"].details


def test_empty_signals_table_while_open_is_down(clock, config_data) -> None:
    cfg = parse_config(config_data())
    snap = Snapshot(clock=clock)
    snap.register("clickhouse_freshness", staleness=60)
    snap.register("market", staleness=60)
    snap.record_success("clickhouse_freshness", (), duration=0.1)
    snap.record_success("market", (g("market_open", 1),), duration=0.1)
    freshness = by_component(build_report(snap.view(), cfg))["freshness"]
    assert (freshness.status, freshness.summary) == ("down", "no events in ta_signals")
