"""The TTL clause of system.tables.engine_full, as ClickHouse normalises it, in seconds."""

from __future__ import annotations

import pytest

from exporter.probes.clickhouse_freshness import Freshness, merge, render_freshness
from exporter.probes.clickhouse_ttl import ttl_seconds

DAY = 86400.0
HEAD = "MergeTree PARTITION BY toDate(event_ts) ORDER BY (symbol, event_ts) "


@pytest.mark.parametrize(
    ("engine_full", "seconds"),
    [
        (
            HEAD + "TTL toDateTime(event_ts) + toIntervalDay(30) SETTINGS index_granularity = 8192",
            30 * DAY,
        ),
        (HEAD + "TTL event_ts + toIntervalHour(6)", 6 * 3600.0),
        (HEAD + "TTL toDateTime(event_ts) + toIntervalMonth(2)", 60 * DAY),
        # a move rule keeps the rows: only the delete rule counts
        (
            HEAD + "TTL d + toIntervalDay(1) TO VOLUME 'cold', d + toIntervalYear(1) DELETE",
            365 * DAY,
        ),
        (HEAD + "TTL d + toIntervalWeek(2), d + toIntervalDay(3) SETTINGS x = 1", 3 * DAY),
        (HEAD + "SETTINGS index_granularity = 8192", None),
        (HEAD + "TTL d + toIntervalDay(1) TO DISK 'slow' SETTINGS index_granularity = 8192", None),
    ],
)
def test_ttl_seconds(engine_full: str, seconds: float | None) -> None:
    assert ttl_seconds(engine_full) == seconds


def test_merged_and_rendered_per_table(cfg) -> None:
    a = Freshness(tables={"t": 1.0}, symbols=[], partitions=[], replica="r1", ttls={"t": 2 * DAY})
    b = Freshness(tables={"t": 1.0}, symbols=[], partitions=[], replica="r2", ttls={"t": DAY})
    merged = merge([a, b], {}, cfg)
    assert merged.ttls == {"t": DAY}  # the shorter: what may already be gone
    rows = [s for s in render_freshness(merged) if s.name.endswith("table_ttl_seconds")]
    assert [(s.labels, s.value) for s in rows] == [({"table": "t"}, DAY)]
