"""torghut_ta_component_status: /report's verdict per component and stage, unknown as its own
status, rendered from the snapshot at scrape time."""

from __future__ import annotations

import asyncio

from report_samples import g, healthy_samples, replace

from exporter.component_status import STAGES, STATUSES, all_unknown, component_samples
from exporter.config import parse_config
from exporter.metrics import CATALOGUE, COMPONENT_STATUS
from exporter.report import COMPONENTS, build_report
from exporter.scheduler import check_samples
from exporter.server import Runtime
from exporter.snapshot import Snapshot

JANGAR = {"url": "http://127.0.0.1:1"}


def _runtime(clock, config_data) -> tuple[Snapshot, Runtime]:
    snap = Snapshot(clock=clock)
    snap.register("all", staleness=60)
    cfg = parse_config(config_data(jangar=JANGAR))
    return snap, Runtime.create(cfg, snap, asyncio.Event())


def _current(text: str) -> dict[str, tuple[str, str]]:
    """component -> (stage, status) of the series set to 1 in an exposition."""
    out: dict[str, tuple[str, str]] = {}
    for line in text.splitlines():
        if not line.startswith(COMPONENT_STATUS + "{") or not line.endswith(" 1.0"):
            continue
        labels = dict(
            pair.split("=", 1)
            for pair in line[len(COMPONENT_STATUS) + 1 : line.index("}")].split(",")
        )
        component = labels["component"].strip('"')
        assert component not in out, f"two current statuses for {component}"
        out[component] = (labels["stage"].strip('"'), labels["status"].strip('"'))
    return out


def test_every_component_has_one_stage_and_the_state_set_fits_the_catalogue() -> None:
    assert set(STAGES) == set(COMPONENTS)
    assert set(STAGES.values()) == {"kafka", "flink", "clickhouse", "api", "trading"}
    assert "unknown" in STATUSES and "healthy" in STATUSES
    samples = all_unknown()
    assert len(check_samples(samples)) == len(COMPONENTS) * len(STATUSES)
    assert CATALOGUE[COMPONENT_STATUS].labels == ("component", "stage", "status")


def test_samples_mirror_the_report(clock, config_data) -> None:
    snap, _ = _runtime(clock, config_data)
    samples = replace(
        healthy_samples(clock.now),
        g("flink_job_state", 0, state="RUNNING", deployment="torghut-ta"),
        g("flink_job_state", 1, state="FAILED", deployment="torghut-ta"),
    )
    snap.record_success("all", tuple(samples), duration=0.1)
    cfg = parse_config(config_data(jangar=JANGAR))
    report = build_report(snap.view(), cfg)
    got = component_samples(report)
    ones = {s.labels["component"]: s.labels["status"] for s in got if s.value == 1}
    assert ones == {v.component: v.status for v in report.components}
    assert ones["flink"] == "down"
    # exactly one current status per component, every status present
    for component in COMPONENTS:
        rows = [s for s in got if s.labels["component"] == component]
        assert sorted(s.labels["status"] for s in rows) == sorted(STATUSES)
        assert sum(s.value for s in rows) == 1


def test_exposition_follows_the_report_and_says_unknown_without_data(clock, config_data) -> None:
    snap, runtime = _runtime(clock, config_data)
    before = _current(runtime.exposition().decode())
    # nothing probed yet: every component unknown, never healthy (api configured, so judged)
    assert {status for _, status in before.values()} == {"unknown"}
    assert set(before) == set(COMPONENTS)

    snap.record_success("all", tuple(healthy_samples(clock.now)), duration=0.1)
    healthy = _current(runtime.exposition().decode())
    assert healthy == {c: (STAGES[c], "healthy") for c in COMPONENTS}

    # the data goes stale (the probe keeps failing): its series go, the verdicts turn unknown
    clock.advance(61)
    snap.record_failure("all", "connection refused", duration=0.1)
    after = _current(runtime.exposition().decode())
    assert after["kafka"] == ("kafka", "unknown")
    assert after["flink"] == ("flink", "unknown")
    assert after["api"] == ("api", "unknown")
    assert "healthy" not in {status for c, (_, status) in after.items() if c != "freshness"}


def test_a_report_that_cannot_be_built_exports_unknown(clock, config_data, monkeypatch) -> None:
    snap, runtime = _runtime(clock, config_data)
    snap.record_success("all", tuple(healthy_samples(clock.now)), duration=0.1)

    def broken(*_: object) -> None:
        raise RuntimeError("a bug in a verdict")

    monkeypatch.setattr("exporter.server.build_report", broken)
    got = _current(runtime.exposition().decode())
    assert got == {c: (STAGES[c], "unknown") for c in COMPONENTS}
