"""Collector: catalogue types/help, probe health always present, cache, promtool-clean output."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from exporter.collector import SnapshotCollector
from exporter.metrics import CATALOGUE
from exporter.probes.base import Sample
from exporter.snapshot import Snapshot

DISK = "torghut_ta_clickhouse_disk_free_bytes"


def _setup(clock) -> tuple[Snapshot, CollectorRegistry, SnapshotCollector]:
    snap = Snapshot(clock=clock)
    collector = SnapshotCollector(snap)
    registry = CollectorRegistry()
    registry.register(collector)
    snap.register("disk", staleness=30)
    snap.record_success(
        "disk",
        tuple(Sample(DISK, 1000 + i, {"replica": "r1", "disk": f"d{i}"}) for i in range(3)),
        duration=0.25,
    )
    return snap, registry, collector


def test_families_are_typed_and_described_from_the_catalogue(clock) -> None:
    _, registry, _ = _setup(clock)
    text = generate_latest(registry).decode()
    assert f"# HELP {DISK} {CATALOGUE[DISK].help}" in text
    assert f"# TYPE {DISK} gauge" in text
    assert f'{DISK}{{disk="d2",replica="r1"}} 1002.0' in text
    assert 'torghut_ta_probe_success{probe="disk"} 1.0' in text
    assert 'torghut_ta_probe_duration_seconds{probe="disk"} 0.25' in text
    line = 'torghut_ta_probe_last_success_timestamp_seconds{probe="disk"} '
    assert float(text.split(line)[1].split()[0]) == clock.now


def test_stale_data_disappears_but_probe_health_stays(clock) -> None:
    snap, registry, _ = _setup(clock)
    clock.advance(31)
    text = generate_latest(registry).decode()
    assert DISK not in text
    assert 'torghut_ta_probe_success{probe="disk"} 1.0' in text
    snap.record_failure("disk", "connection refused", duration=0.01)
    text = generate_latest(registry).decode()
    assert 'torghut_ta_probe_success{probe="disk"} 0.0' in text


def test_rendering_is_cached_per_snapshot_version(clock) -> None:
    snap, _, collector = _setup(clock)
    first = collector.families()
    assert collector.families() is first
    snap.record_failure("disk", "x", duration=0.0)
    assert collector.families() is not first


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed")
def test_promtool_check_metrics_accepts_the_output(clock) -> None:
    snap, registry, _ = _setup(clock)
    snap.register("tables", staleness=30)
    snap.record_success(
        "tables",
        (
            Sample("torghut_ta_table_last_event_timestamp_seconds", 1.7e9, {"table": "ta_signals"}),
            Sample("torghut_ta_market_open", 1, {}),
            Sample(
                "torghut_ta_kafka_consumer_lag_messages",
                3,
                {"group": "g", "topic": "t", "partition": "0"},
            ),
        ),
        duration=0.1,
    )
    text = generate_latest(registry)
    proc = subprocess.run(
        ["promtool", "check", "metrics"], input=text, capture_output=True, timeout=30
    )
    assert proc.returncode == 0, proc.stdout.decode() + proc.stderr.decode()


def test_metrics_doc_lists_every_catalogued_metric() -> None:
    from pathlib import Path

    doc = (Path(__file__).parents[2] / "docs" / "metrics.md").read_text()
    missing = [name for name in CATALOGUE if f"`{name}`" not in doc]
    assert missing == []
