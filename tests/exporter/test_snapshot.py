"""Snapshot: staleness drops a probe's data series; failures keep the last good data."""

from __future__ import annotations

from exporter.probes.base import Sample
from exporter.snapshot import Snapshot

TABLE = "torghut_ta_table_last_event_timestamp_seconds"


def _sample(value: float) -> Sample:
    return Sample(TABLE, value, {"table": "ta_signals"})


def test_series_disappear_after_staleness(clock) -> None:
    snap = Snapshot(clock=clock)
    snap.register("p", staleness=60)
    snap.record_success("p", (_sample(123.0),), duration=0.1)
    clock.advance(60)
    assert [s.value for s in snap.view().series(TABLE)] == [123.0]
    clock.advance(0.5)
    view = snap.view()
    assert view.series(TABLE) == ()
    assert "p" in view.stale
    assert view.probes["p"].success  # health is still known


def test_failure_keeps_last_good_data_until_stale(clock) -> None:
    snap = Snapshot(clock=clock)
    snap.register("p", staleness=30)
    snap.record_success("p", (_sample(1.0),), duration=0.1)
    clock.advance(10)
    snap.record_failure("p", "timeout after 5s", duration=5.0)
    view = snap.view()
    assert [s.value for s in view.series(TABLE)] == [1.0]
    assert view.probes["p"].error == "timeout after 5s"
    assert not view.probes["p"].success
    assert view.series(TABLE)[0].observed_at == clock.now - 10
    clock.advance(25)
    assert snap.view().series(TABLE) == ()


def test_version_bumps_on_every_change(clock) -> None:
    snap = Snapshot(clock=clock)
    v0 = snap.version
    snap.register("p", staleness=30)
    snap.record_failure("p", "x", duration=0.0)
    assert snap.version == v0 + 2
    assert snap.view().probes["p"].runs == 1


def test_never_succeeded_probe_is_stale_with_no_series(clock) -> None:
    snap = Snapshot(clock=clock)
    snap.register("p", staleness=30)
    view = snap.view()
    assert view.stale == frozenset({"p"})
    assert view.metrics() == ()
