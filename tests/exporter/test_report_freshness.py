"""Report: freshness that cannot be read is unknown, never healthy, and trading on it is not."""

from __future__ import annotations

from exporter.config import parse_config
from exporter.probes.base import Sample
from exporter.probes.clickhouse_freshness import PERSIST, Freshness
from exporter.report import build_report
from exporter.snapshot import Snapshot


def g(name: str, value: float, **labels: str) -> Sample:
    return Sample(f"torghut_ta_{name}", value, labels)


def _snapshot(clock) -> Snapshot:
    """A freshness probe (persisting its timestamps, staleness 120 s) and the market/trading."""
    snap = Snapshot(clock=clock)
    snap.register("clickhouse_freshness", staleness=120, persist=PERSIST)
    snap.register("context", staleness=3600)
    snap.record_success("context", (g("market_open", 1), g("trading_enabled", 1)), duration=0.1)
    fresh = (
        g("table_last_event_timestamp_seconds", clock.now - 5, table="ta_signals"),
        g("symbol_last_event_timestamp_seconds", clock.now - 5, table="ta_signals", symbol="NVDA"),
        g("table_future_rows", 0, table="ta_signals"),
    )
    data = Freshness({"ta_signals": clock.now - 5}, [("ta_signals", "NVDA", clock.now - 5)], [])
    snap.record_success("clickhouse_freshness", fresh, duration=0.1, data=data)
    return snap


def _verdicts(snap: Snapshot, config_data):
    cfg = parse_config(config_data(clickhouse={"replicas": [{"name": "r1", "url": "http://h:1"}], "tables": ["ta_signals"]}))  # fmt: skip
    return {v.component: v for v in build_report(snap.view(), cfg).components}


def test_readable_fresh_signals_are_healthy(clock, config_data) -> None:
    v = _verdicts(_snapshot(clock), config_data)
    assert (v["freshness"].status, v["trading"].status) == ("healthy", "healthy")


def test_unreadable_source_makes_freshness_unknown_and_trading_down(clock, config_data) -> None:
    snap = _snapshot(clock)
    clock.advance(30)
    snap.record_failure("clickhouse_freshness", "ClickHouse r1: connection refused", duration=1)
    v = _verdicts(snap, config_data)
    assert v["freshness"].status == "unknown"
    assert "unreadable" in v["freshness"].summary and "connection refused" in v["freshness"].summary
    assert v["trading"].status == "down"
    assert "unknown" in v["trading"].summary and "pause trading" in v["trading"].summary


def test_past_staleness_the_last_known_timestamp_still_judges_freshness(clock, config_data) -> None:
    snap = _snapshot(clock)
    clock.advance(400)  # far past the probe's staleness (120 s) and the 300 s threshold
    snap.record_failure("clickhouse_freshness", "ClickHouse r1: connection refused", duration=1)
    view = snap.view()
    assert "clickhouse_freshness" in view.stale
    [series] = view.series("torghut_ta_table_last_event_timestamp_seconds")
    assert series.value == clock.now - 405  # persisted past staleness
    assert view.series("torghut_ta_table_future_rows") == ()  # not persisted: disappears
    v = _verdicts(snap, config_data)
    assert v["freshness"].status == "down"
    assert "as of the last read" in v["freshness"].summary
    assert v["trading"].status == "down"


def test_missing_watched_symbol_is_a_finding(clock, config_data) -> None:
    snap = _snapshot(clock)
    data = Freshness(
        {"ta_signals": clock.now - 5},
        [("ta_signals", "NVDA", clock.now - 5)],
        [],
        missing_symbols=[("ta_signals", "AAPL")],
        future_rows={"ta_signals": 3},
    )
    samples = (g("table_last_event_timestamp_seconds", clock.now - 5, table="ta_signals"),)
    snap.record_success("clickhouse_freshness", samples, duration=0.1, data=data)
    v = _verdicts(snap, config_data)["freshness"]
    assert v.status == "degraded"
    assert "ta_signals/AAPL" in v.summary
    assert v.details["future_rows ta_signals"] == "3 ignored"
