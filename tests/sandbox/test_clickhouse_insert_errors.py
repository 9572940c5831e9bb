"""Insert failures past the input parser reach the client (chdb's send_insert swallowed them)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError

from sandbox.clickhouse.engine import infile_insert
from sandbox.testing.clickhouse import ClickHouseServer


@pytest.fixture
def scratch_db(clickhouse_server: ClickHouseServer) -> Iterator[tuple[Client, str]]:
    """A private database on the shared server, dropped afterwards."""
    client = clickhouse_server.client()
    name = f"insert_errors_{uuid.uuid4().hex[:8]}"
    client.command(f"CREATE DATABASE {name}")
    try:
        yield client, name
    finally:
        client.command(f"DROP DATABASE IF EXISTS {name} SYNC")
        client.close()


def _count(client: Client, table: str) -> int:
    return client.query(f"SELECT count() FROM {table}").result_rows[0][0]


def test_constraint_violation_fails_the_insert(scratch_db: tuple[Client, str]) -> None:
    client, db = scratch_db
    client.command(
        f"CREATE TABLE {db}.t (a UInt64, CONSTRAINT small CHECK a < 100) "
        "ENGINE = MergeTree ORDER BY a"
    )
    with pytest.raises(DatabaseError) as err:
        client.insert(f"{db}.t", [[1], [200]], column_names=["a"])
    assert err.value.code == 469  # VIOLATED_CONSTRAINT
    assert "small" in str(err.value)
    assert _count(client, f"{db}.t") == 0
    client.insert(f"{db}.t", [[1], [2]], column_names=["a"])
    assert _count(client, f"{db}.t") == 2


def test_materialized_view_error_fails_the_insert(scratch_db: tuple[Client, str]) -> None:
    client, db = scratch_db
    client.command(f"CREATE TABLE {db}.src (a UInt64) ENGINE = MergeTree ORDER BY a")
    client.command(f"CREATE TABLE {db}.dst (a UInt64) ENGINE = MergeTree ORDER BY a")
    client.command(
        f"CREATE MATERIALIZED VIEW {db}.mv TO {db}.dst "
        f"AS SELECT a + throwIf(a = 7, 'seven is refused') AS a FROM {db}.src"
    )
    with pytest.raises(DatabaseError) as err:
        client.insert(f"{db}.src", [[7]], column_names=["a"])
    assert err.value.code == 395  # FUNCTION_THROW_IF_VALUE_IS_NON_ZERO
    assert "seven is refused" in str(err.value)
    assert _count(client, f"{db}.dst") == 0


def test_insert_keeps_column_defaults_and_inline_settings(scratch_db: tuple[Client, str]) -> None:
    client, db = scratch_db
    client.command(f"CREATE TABLE {db}.t (a UInt64, b String DEFAULT 'dflt') ENGINE = Memory")
    client.raw_insert(f"{db}.t", ["a"], insert_block=b"1\n2\n", fmt="TSV")
    client.command(
        f"INSERT INTO {db}.t (a) SETTINGS input_format_tsv_empty_as_default = 1 FORMAT TSV\n3\n"
    )
    rows = client.query(f"SELECT a, b FROM {db}.t ORDER BY a").result_rows
    assert rows == [(1, "dflt"), (2, "dflt"), (3, "dflt")]


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [
        (
            "INSERT INTO t (a, b)",
            "INSERT INTO t (a, b) FROM INFILE '/f' COMPRESSION 'none' FORMAT CSV",
        ),
        (
            "INSERT INTO t SETTINGS x = 1, y = 'z' ",
            "INSERT INTO t FROM INFILE '/f' COMPRESSION 'none' SETTINGS x = 1, y = 'z' FORMAT CSV",
        ),
        (
            "INSERT INTO t (settings, b)",
            "INSERT INTO t (settings, b) FROM INFILE '/f' COMPRESSION 'none' FORMAT CSV",
        ),
    ],
)
def test_infile_insert_puts_settings_after_the_source(prefix: str, expected: str) -> None:
    assert infile_insert(prefix, "/f", "CSV") == expected
