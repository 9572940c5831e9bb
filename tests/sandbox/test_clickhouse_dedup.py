"""The seeded TA tables deduplicate rows written twice (an at-least-once job, a replay), and the
server's drop-size guard refuses large partition drops with ClickHouse's own Code 359."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from clickhouse_connect.driver.exceptions import DatabaseError

from sandbox.testing.clickhouse import ClickHouseServer, start_server

COLUMNS = ["event_ts", "symbol", "macd", "rsi_14"]


def _rows(base: dt.datetime, n: int) -> list[list[object]]:
    return [[base + dt.timedelta(seconds=i), f"S{i % 4}", float(i), 50.0] for i in range(n)]


def test_rows_written_twice_count_once(clean_clickhouse: ClickHouseServer) -> None:
    base = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).replace(microsecond=0)
    client = clean_clickhouse.client()
    try:
        for _ in range(2):  # the original write and its replay: two separate parts
            client.insert("torghut.ta_signals", _rows(base, 200), column_names=COLUMNS)
        final = client.query("SELECT count() FROM torghut.ta_signals FINAL").result_rows[0][0]
        assert final == 200
        client.command("OPTIMIZE TABLE torghut.ta_signals FINAL")
        plain = client.query("SELECT count() FROM torghut.ta_signals").result_rows[0][0]
        assert plain == 200
        engine = client.query(
            "SELECT engine, sorting_key, partition_key FROM system.tables "
            "WHERE database = 'torghut' AND name = 'ta_signals'"
        ).result_rows[0]
        assert engine == ("ReplacingMergeTree", "symbol, event_ts", "toDate(event_ts)")
    finally:
        client.close()


def test_distinct_event_times_are_kept(clean_clickhouse: ClickHouseServer) -> None:
    base = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).replace(microsecond=0)
    client = clean_clickhouse.client()
    try:
        client.insert("torghut.ta_signals", _rows(base, 50), column_names=COLUMNS)
        later = base + dt.timedelta(minutes=10)
        client.insert("torghut.ta_signals", _rows(later, 50), column_names=COLUMNS)
        client.command("OPTIMIZE TABLE torghut.ta_signals FINAL")
        count = client.query("SELECT count() FROM torghut.ta_signals").result_rows[0][0]
        assert count == 100
    finally:
        client.close()


@pytest.mark.slow
def test_partition_larger_than_the_limit_is_not_dropped(tmp_path: Path) -> None:
    server = start_server(tmp_path, max_partition_size_to_drop=1024)
    client = server.client()
    try:
        big_day = dt.datetime.now(dt.UTC).replace(hour=1, minute=0, second=0, microsecond=0)
        rows = [
            [big_day + dt.timedelta(seconds=i), f"S{i}", float(i), float(i)] for i in range(5000)
        ]
        client.insert("torghut.ta_signals", rows, column_names=COLUMNS)
        small_day = big_day - dt.timedelta(days=1)
        client.insert("torghut.ta_signals", _rows(small_day, 1), column_names=COLUMNS)
        with pytest.raises(DatabaseError) as err:
            client.command(f"ALTER TABLE torghut.ta_signals DROP PARTITION '{big_day.date()}'")
        assert err.value.code == 359
        assert "TABLE_SIZE_EXCEEDS_MAX_DROP_SIZE_LIMIT" in str(err.value)
        assert "force_drop_table" in str(err.value)
        days = client.query("SELECT DISTINCT toDate(event_ts) FROM torghut.ta_signals").result_rows
        assert (big_day.date(),) in days
        # a partition under the limit drops; the server setting is what the refusal reports
        client.command(f"ALTER TABLE torghut.ta_signals DROP PARTITION '{small_day.date()}'")
        left = client.query("SELECT DISTINCT toDate(event_ts) FROM torghut.ta_signals").result_rows
        assert left == [(big_day.date(),)]
        limit = client.query(
            "SELECT value FROM system.server_settings WHERE name = 'max_partition_size_to_drop'"
        ).result_rows[0][0]
        assert limit == "1024"
    finally:
        client.close()
        server.stop()
