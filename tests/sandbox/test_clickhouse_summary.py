"""X-ClickHouse-Summary carries rows read from storage, as real ClickHouse reports them.

Through clickhouse-connect's `QueryResult.summary` / `QuerySummary`: a full scan that returns
a few rows reports every row of the table as read; a query pruned by the partition and the
(symbol, event_ts) key reads about one granule; inserts report what they wrote.

Each test works in a database of its own on the shared server. A repeated filter would be
answered from the engine's query condition cache (it remembers granules that matched nothing,
as ClickHouse >= 25.3 does) and read fewer rows, so each query here filters on its own value.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from clickhouse_connect.driver.client import Client

from sandbox.clickhouse.ddl import seed_statements
from sandbox.testing.clickhouse import ClickHouseServer

GRANULE = 8192  # MergeTree's default index_granularity
N = 300_000


def _read(summary: dict[str, str], key: str) -> int:
    return int(summary[key])


@pytest.fixture
def scratch(clickhouse_server: ClickHouseServer) -> Iterator[tuple[Client, str]]:
    """A sync client and a database of this test's own (dropped afterwards)."""
    client = clickhouse_server.client(autogenerate_session_id=False)
    database = f"summary_{uuid.uuid4().hex[:12]}"
    try:
        yield client, database
    finally:
        client.command(f"DROP DATABASE IF EXISTS {database}")
        client.close()


def _scan_table(client: Client, database: str, rows: int) -> str:
    client.command(f"CREATE DATABASE {database}")
    table = f"{database}.events"
    client.command(f"CREATE TABLE {table} (id UInt64, tag String) ENGINE = MergeTree ORDER BY id")
    client.command(f"INSERT INTO {table} SELECT number, toString(number) FROM numbers({rows})")
    return table


def test_full_scan_reports_every_row_read_not_the_result_rows(
    scratch: tuple[Client, str],
) -> None:
    client, database = scratch
    table = _scan_table(client, database, N)
    result = client.query(f"SELECT id FROM {table} WHERE tag IN ('7', '70', '700')")
    assert sorted(r[0] for r in result.result_rows) == [7, 70, 700]
    summary = result.summary
    assert _read(summary, "read_rows") == N  # a full scan reads all rows of the table
    assert _read(summary, "total_rows_to_read") == N
    assert _read(summary, "read_bytes") >= N  # at least a byte per row of `tag`
    assert _read(summary, "result_rows") == 3
    assert 0 < _read(summary, "result_bytes") < _read(summary, "read_bytes")
    assert _read(summary, "written_rows") == 0
    assert _read(summary, "elapsed_ns") > 0


def test_primary_key_lookup_reads_one_granule(scratch: tuple[Client, str]) -> None:
    client, database = scratch
    table = _scan_table(client, database, N)
    result = client.query(f"SELECT tag FROM {table} WHERE id = {N // 2}")
    assert result.result_rows == [(str(N // 2),)]
    assert 0 < _read(result.summary, "read_rows") <= GRANULE
    assert _read(result.summary, "result_rows") == 1


def test_limit_reads_less_than_it_planned(scratch: tuple[Client, str]) -> None:
    client, database = scratch
    table = _scan_table(client, database, N)
    result = client.query(f"SELECT id FROM {table} WHERE tag LIKE '%9%' LIMIT 5")
    assert len(result.result_rows) == 5
    read = _read(result.summary, "read_rows")
    assert 0 < read < N
    assert _read(result.summary, "total_rows_to_read") == N  # the estimate before the LIMIT


def test_window_on_ta_signals_is_pruned_to_a_granule_or_two(scratch: tuple[Client, str]) -> None:
    client, database = scratch
    for sql in seed_statements(database=database):  # the torghut.ta_signals DDL, own database
        client.command(sql)
    table = f"{database}.ta_signals"
    # 20 days of history, 10 symbols, one row every 6 s: many daily partitions and granules
    client.command(
        f"INSERT INTO {table} (event_ts, symbol) SELECT now64(3) - toIntervalSecond(number * 6), "
        f"concat('S', toString(number % 10)) FROM numbers({N})"
    )
    assert client.command(f"SELECT count() FROM {table}") == N
    result = client.query(
        f"SELECT count(), max(event_ts) FROM {table} "
        "WHERE symbol = 'S3' AND event_ts > now() - INTERVAL 1 HOUR"
    )
    assert result.result_rows[0][0] > 0
    read = _read(result.summary, "read_rows")
    assert 0 < read <= 2 * GRANULE, read
    assert read < N / 10


def test_inserts_report_written_rows(scratch: tuple[Client, str]) -> None:
    client, database = scratch
    table = _scan_table(client, database, 1000)
    from_select = client.command(f"INSERT INTO {table} SELECT number, 'x' FROM numbers(2500)")
    assert from_select.written_rows == 2500
    assert _read(from_select.summary, "read_rows") == 2500  # what the SELECT read
    assert _read(from_select.summary, "result_rows") == 2500
    assert from_select.written_bytes() > 0

    rows = [[i, f"t{i}"] for i in range(321)]
    inserted = client.insert(table, rows, column_names=["id", "tag"])
    assert inserted.written_rows == 321
    assert _read(inserted.summary, "result_rows") == 321
    assert client.command(f"SELECT count() FROM {table}") == 1000 + 2500 + 321


async def test_async_client_sees_the_same_counters(
    clickhouse_server: ClickHouseServer, scratch: tuple[Client, str]
) -> None:
    sync, database = scratch
    table = _scan_table(sync, database, N)
    client = await clickhouse_server.async_client(autogenerate_session_id=False)
    try:
        scan = await client.query(f"SELECT id FROM {table} WHERE tag = '12345'")
        point = await client.query(f"SELECT id FROM {table} WHERE id = 42")
        wrote = await client.command(f"INSERT INTO {table} SELECT number, 'y' FROM numbers(77)")
    finally:
        await client.close()
    assert scan.result_rows == [(12345,)]
    assert _read(scan.summary, "read_rows") == N
    assert point.result_rows == [(42,)]
    assert 0 < _read(point.summary, "read_rows") <= GRANULE
    assert wrote.written_rows == 77


def test_settings_changed_for_one_query_do_not_leak_into_its_counters(
    scratch: tuple[Client, str],
) -> None:
    # URL settings make the engine run SET / SELECT FROM system.settings first: the summary
    # must still be the user's query alone.
    client, database = scratch
    table = _scan_table(client, database, N)
    result = client.query(
        f"SELECT count() FROM {table} WHERE tag = 'nope'", settings={"max_threads": 1}
    )
    assert result.result_rows == [(0,)]
    assert _read(result.summary, "read_rows") == N
    assert _read(result.summary, "total_rows_to_read") == N
    assert _read(result.summary, "result_rows") == 1


def test_only_statements_with_a_result_name_a_format(scratch: tuple[Client, str]) -> None:
    # ClickHouse sends X-ClickHouse-Format for a result set (even an empty one) and none for
    # INSERT or DDL; clickhouse-connect's command() returns the summary only in that case.
    client, database = scratch
    table = _scan_table(client, database, 10)
    assert client.command(f"SELECT id FROM {table} WHERE id > 100") == ""  # empty result set
    created = client.command(f"CREATE TABLE {database}.other (x UInt8) ENGINE = Memory")
    assert created.written_rows == 0 and "read_rows" in created.summary
    wrote = client.command(f"INSERT INTO {database}.other VALUES (1), (2)")
    assert wrote.written_rows == 2
