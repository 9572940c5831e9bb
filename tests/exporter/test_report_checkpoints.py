"""Report: the checkpoints verdict (storage probe off, truncated walk, never checkpointed)."""

from __future__ import annotations

from report_samples import by_component, g, healthy_samples, report_for

from exporter.config import parse_config
from exporter.probes.checkpoints import CheckpointStorage, render
from exporter.report import build_report
from exporter.snapshot import Snapshot


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
