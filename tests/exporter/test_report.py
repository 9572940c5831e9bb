"""Report: verdicts per component from metric names only, pointing at the runbook procedure."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from exporter.config import SIGNALS_FRESHNESS_SECONDS, ReportThresholds, parse_config
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
        [threshold] = re.findall(r"last_event_timestamp_seconds[^>]*\)?\s*>\s*(\d+)", exprs[alert])
        assert float(threshold) == ReportThresholds().freshness == SIGNALS_FRESHNESS_SECONDS


def test_checkpoints_without_the_storage_probe_rest_on_flink(clock, config_data) -> None:
    # checkpoint_storage.enabled: false registers no storage probe, so no storage series.
    samples = [
        s for s in healthy_samples(clock.now) if s.name != "torghut_ta_checkpoint_storage_up"
    ]
    report = report_for(clock, config_data, samples, checkpoint_storage={"enabled": False})
    verdict = by_component(report)["checkpoints"]
    assert (verdict.status, verdict.summary) == (
        "healthy",
        "Flink reports checkpoints (storage not probed)",
    )
    assert [e.metric for e in verdict.evidence] == [
        "torghut_ta_flink_last_checkpoint_timestamp_seconds"
    ]
    both_missing = [s for s in samples if "checkpoint" not in s.name]
    unknown = by_component(report_for(clock, config_data, both_missing))["checkpoints"]
    assert unknown.status == "unknown"


def test_a_truncated_checkpoint_walk_is_reported(clock, config_data) -> None:
    from exporter.probes.checkpoints import CheckpointStorage, render

    store = CheckpointStorage(
        "torghut-ta",
        "s3://b/ckpt",
        True,
        None,
        clock.now - 60,
        "ckpt/j/chk-3/_metadata",
        20,
        True,
        "j",
    )
    cfg = parse_config(config_data())
    snap = Snapshot(clock=clock)
    snap.register("checkpoint_storage", staleness=60)
    snap.record_success("checkpoint_storage", tuple(render(store)), duration=0.1, data=store)
    details = by_component(build_report(snap.view(), cfg))["checkpoints"].details
    assert "truncated after 20 ListObjectsV2 calls" in details["walk"]
    assert "job j's directory first" in details["walk"]


def test_a_job_that_never_checkpointed_is_degraded_once_it_owes_one(clock, config_data) -> None:
    """No last-checkpoint series at all (broken storage from the start) is not healthy."""
    dep = {"deployment": "torghut-ta"}
    base = [
        s
        for s in healthy_samples(clock.now)
        if s.name != "torghut_ta_flink_last_checkpoint_timestamp_seconds"
    ]
    young = by_component(
        report_for(
            clock,
            config_data,
            [*base, g("flink_job_start_timestamp_seconds", clock.now - 60, **dep)],
        )
    )["checkpoints"]
    assert young.status == "healthy"
    old = by_component(
        report_for(
            clock,
            config_data,
            [*base, g("flink_job_start_timestamp_seconds", clock.now - 3600, **dep)],
        )
    )["checkpoints"]
    assert old.status == "degraded"
    assert old.summary == "no checkpoint completed since the job started"
    assert old.evidence[0].metric == "torghut_ta_flink_job_start_timestamp_seconds"
    assert old.evidence[0].data_age_seconds == 3600
