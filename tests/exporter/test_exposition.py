"""/metrics as served: catalogue types and help, probe health always present, stale data gone,
per-probe chunks reused, and output that promtool accepts."""

from __future__ import annotations

import asyncio
import shutil
import subprocess

from exporter.config import parse_config
from exporter.metrics import CATALOGUE
from exporter.probes.base import Sample
from exporter.server import Runtime
from exporter.snapshot import Snapshot

DISK = "torghut_ta_clickhouse_disk_free_bytes"


def _setup(clock, config_data) -> tuple[Snapshot, Runtime]:
    snap = Snapshot(clock=clock)
    snap.register("disk", staleness=30)
    snap.record_success(
        "disk",
        tuple(Sample(DISK, 1000 + i, {"replica": "r1", "disk": f"d{i}"}) for i in range(3)),
        duration=0.25,
    )
    return snap, Runtime.create(parse_config(config_data()), snap, asyncio.Event())


def test_families_are_typed_and_described_from_the_catalogue(clock, config_data) -> None:
    _, runtime = _setup(clock, config_data)
    text = runtime.exposition().decode()
    assert f"# HELP {DISK} {CATALOGUE[DISK].help}" in text
    assert f"# TYPE {DISK} gauge" in text
    assert f'{DISK}{{disk="d2",replica="r1"}} 1002.0' in text
    assert 'torghut_ta_probe_success{probe="disk"} 1.0' in text
    assert 'torghut_ta_probe_duration_seconds{probe="disk"} 0.25' in text
    line = 'torghut_ta_probe_last_success_timestamp_seconds{probe="disk"} '
    assert float(text.split(line)[1].split()[0]) == clock.now


def test_stale_data_disappears_but_probe_health_stays(clock, config_data) -> None:
    snap, runtime = _setup(clock, config_data)
    clock.advance(31)
    text = runtime.exposition().decode()
    assert f"{DISK}{{" not in text
    assert 'torghut_ta_probe_success{probe="disk"} 1.0' in text
    snap.record_failure("disk", "connection refused", duration=0.01)
    text = runtime.exposition().decode()
    assert 'torghut_ta_probe_success{probe="disk"} 0.0' in text


def test_the_body_is_reused_until_a_result_arrives(clock, config_data) -> None:
    snap, runtime = _setup(clock, config_data)
    first = runtime.exposition()
    assert runtime.exposition() is first
    snap.record_failure("disk", "x", duration=0.0)
    second = runtime.exposition()
    assert second is not first
    assert b'torghut_ta_probe_success{probe="disk"} 0.0' in second


def test_promtool_check_metrics_accepts_the_output(clock, config_data) -> None:
    snap, runtime = _setup(clock, config_data)
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
    text = runtime.exposition()
    assert b"torghut_ta_kafka_consumer_lag_messages{" in text
    promtool = shutil.which("promtool")
    assert promtool, "promtool is not on PATH: `make deps` installs it (Debian prometheus)"
    proc = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, timeout=60
    )
    assert proc.returncode == 0, proc.stdout.decode() + proc.stderr.decode()


def test_metrics_doc_lists_every_catalogued_metric() -> None:
    from pathlib import Path

    doc = (Path(__file__).parents[2] / "docs" / "metrics.md").read_text()
    missing = [name for name in CATALOGUE if f"`{name}`" not in doc]
    assert missing == []
