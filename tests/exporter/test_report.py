"""Report: verdicts per component from metric names only, pointing at the runbook procedure."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from report_samples import by_component, g, healthy_samples, replace, report_for

from exporter.config import SIGNALS_FRESHNESS_SECONDS, ReportThresholds, parse_config
from exporter.probes.base import Sample
from exporter.report import COMPONENTS, build_report
from exporter.snapshot import Snapshot


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


def test_read_only_replica_with_lost_metadata_points_to_procedure_b(clock, config_data) -> None:
    samples = replace(
        healthy_samples(clock.now),
        g("clickhouse_replica_readonly", 1, replica="r1", table="ta_signals"),
        g("clickhouse_replica_metadata_lost", 1, replica="r1", table="ta_signals"),
        g("clickhouse_replica_keeper_unreachable", 0, replica="r1", table="ta_signals"),
    )
    report = report_for(clock, config_data, samples)
    v = by_component(report)
    assert (v["clickhouse-replicas"].status, v["clickhouse-replicas"].procedure) == ("down", "B")
    assert "r1/ta_signals" in v["clickhouse-replicas"].summary
    assert report.overall == "down" and report.exit_code == 2


def test_read_only_replica_without_evidence_of_lost_metadata_is_not_procedure_b(
    clock, config_data
) -> None:
    samples = replace(
        healthy_samples(clock.now),
        g("clickhouse_replica_readonly", 1, replica="r1", table="ta_signals"),
    )
    v = by_component(report_for(clock, config_data, samples))["clickhouse-replicas"]
    assert (v.status, v.procedure) == ("down", "none")
    assert "r1/ta_signals" in v.summary


def test_keeper_outage_is_its_own_finding_and_never_procedure_b(clock, config_data) -> None:
    samples = replace(
        healthy_samples(clock.now),
        g("clickhouse_replica_readonly", 1, replica="r1", table="ta_signals"),
        g("clickhouse_replica_session_expired", 1, replica="r1", table="ta_signals"),
        g("clickhouse_replica_keeper_unreachable", 1, replica="r1", table="ta_signals"),
        g("clickhouse_replica_metadata_lost", 1, replica="r2", table="ta_signals"),
        g("clickhouse_replica_readonly", 1, replica="r2", table="ta_signals"),
    )
    v = by_component(report_for(clock, config_data, samples))
    replicas = v["clickhouse-replicas"]
    assert (replicas.status, replicas.procedure) == ("down", "none")
    assert replicas.summary.startswith("Keeper unavailable")
    assert v["freshness"].procedure == "none"


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


def _without(samples: list[Sample], name: str) -> list[Sample]:
    return [s for s in samples if s.name != f"torghut_ta_{name}"]


def test_an_unknown_market_is_judged_as_open(clock, config_data) -> None:
    stale = replace(
        healthy_samples(clock.now),
        g("table_last_event_timestamp_seconds", clock.now - 3600, table="ta_signals"),
        g("api_last_event_timestamp_seconds", clock.now - 3600, symbol="NVDA"),
    )
    report = report_for(clock, config_data, _without(stale, "market_open"))
    v = by_component(report)
    assert v["freshness"].status == "down"
    assert "market session unknown" in v["freshness"].summary
    assert v["api"].status == "degraded"
    assert v["trading"].status == "down" and report.exit_code == 2
    # fresh data with an unknown market is simply fresh
    fresh = by_component(
        report_for(clock, config_data, _without(healthy_samples(clock.now), "market_open"))
    )
    assert fresh["freshness"].status == "healthy"


def test_the_grace_after_the_open_is_not_judged(clock, config_data) -> None:
    old = g("table_last_event_timestamp_seconds", clock.now - 3600, table="ta_signals")
    in_grace = replace(healthy_samples(clock.now), old, g("market_open_grace", 1))
    v = by_component(report_for(clock, config_data, in_grace))
    assert v["freshness"].status == "healthy" and "open_grace" in v["freshness"].summary
    over = replace(healthy_samples(clock.now), old, g("market_open_grace", 0))
    assert by_component(report_for(clock, config_data, over))["freshness"].status == "down"


def _suspended(now: float) -> list[Sample]:
    dep = {"deployment": "torghut-ta"}
    return replace(
        healthy_samples(now),
        g("flink_job_state", 0, state="RUNNING", **dep),
        g("flink_job_state", 1, state="SUSPENDED", **dep),
        g("flink_lifecycle_state", 0, state="STABLE", **dep),
        g("flink_lifecycle_state", 1, state="SUSPENDED", **dep),
        g("flink_job_desired_running", 0, **dep),
        g("table_last_event_timestamp_seconds", now - 3600, table="ta_signals"),
        g("flink_last_checkpoint_timestamp_seconds", now - 3600, **dep),
    )


def test_a_deliberately_suspended_job_is_neutral(clock, config_data) -> None:
    closed = replace(_suspended(clock.now), g("market_open", 0))
    report = report_for(clock, config_data, closed)
    flink = by_component(report)["flink"]
    assert flink.status == "suspended" and "suspended (desired)" in flink.summary
    assert report.overall == "healthy" and report.exit_code == 0


def test_a_suspended_job_still_makes_signals_stale_and_trading_says_so(clock, config_data) -> None:
    report = report_for(clock, config_data, _suspended(clock.now))
    v = by_component(report)
    assert v["flink"].status == "suspended"
    assert v["freshness"].status == "down" and "suspended" in v["freshness"].summary
    assert v["trading"].status == "down" and "suspended" in v["trading"].summary
    assert report.overall == "down" and report.exit_code == 2


def test_a_job_stopped_against_its_spec_is_still_degraded(clock, config_data) -> None:
    samples = replace(
        _suspended(clock.now),
        g("flink_job_desired_running", 1, deployment="torghut-ta"),
        g("market_open", 0),
    )
    report = report_for(clock, config_data, samples)
    assert by_component(report)["flink"].status == "degraded" and report.exit_code == 1


def test_report_freshness_default_equals_the_signals_stale_alert() -> None:
    rules = Path(__file__).parents[2] / "alerts" / "rules" / "torghut-ta.rules.yml"
    doc = yaml.safe_load(rules.read_text(encoding="utf-8"))
    # TATradingOnStaleSignals has a second rule, signals="unknown", with no age threshold
    exprs = {
        r["alert"]: r["expr"]
        for group in doc["groups"]
        for r in group["rules"]
        if "alert" in r and r.get("labels", {}).get("signals") != "unknown"
    }
    for alert in ("TASignalsStale", "TATradingOnStaleSignals"):
        [threshold] = re.findall(r"signal_age_seconds[^>]*\)?\s*>\s*(\d+)", exprs[alert])
        assert float(threshold) == ReportThresholds().freshness == SIGNALS_FRESHNESS_SECONDS
    # the rules' own source (alerts/thresholds.yaml) says the same
    doc = yaml.safe_load((rules.parents[1] / "thresholds.yaml").read_text(encoding="utf-8"))
    assert doc["signals_stale_seconds"] == SIGNALS_FRESHNESS_SECONDS
