"""The HTTP-interface rules and seed DDL of sandbox.clickhouse, without sockets."""

from __future__ import annotations

import lz4.frame
import pytest

from sandbox.clickhouse.config import config_xml, parse_endpoint
from sandbox.clickhouse.ddl import seed_statements, table_engine
from sandbox.clickhouse.errors import ClickHouseError, http_status
from sandbox.clickhouse.protocol import build_statement, decode_body, split_settings


def test_insert_body_splits_into_prefix_format_and_data() -> None:
    stmt = build_statement({}, b"INSERT INTO t (a, b) FORMAT Native\n\x01\x02FORMAT")
    assert (stmt.sql, stmt.insert_format, stmt.data) == (
        "INSERT INTO t (a, b)",
        "Native",
        b"\x01\x02FORMAT",
    )


def test_insert_in_url_takes_body_as_data() -> None:
    stmt = build_statement({"query": "INSERT INTO t FORMAT CSV"}, b"1,2\n")
    assert (stmt.sql, stmt.insert_format, stmt.data) == ("INSERT INTO t", "CSV", b"1,2\n")


def test_values_insert_and_select_with_format_stay_sql() -> None:
    for sql in ("INSERT INTO t VALUES ('format x')", "SELECT 1 FORMAT Native"):
        stmt = build_statement({}, sql.encode())
        assert stmt.data is None and stmt.sql == sql


def test_url_params_split_into_settings_and_parameters() -> None:
    settings, params = split_settings(
        {"max_threads": "2", "param_sym": "NVDA", "session_id": "s", "wait_end_of_query": "1",
         "query_id": "q", "database": "d", "http_headers_progress_interval_ms": "9"}
    )  # fmt: skip
    assert settings == {"max_threads": "2"} and params == {"sym": "NVDA"}


def test_statement_carries_session_database_and_default_format() -> None:
    stmt = build_statement(
        {"session_id": "s1", "database": "torghut", "session_timeout": "5", "default_format": "JSON"},
        b"SELECT 1",
    )  # fmt: skip
    assert (stmt.session_id, stmt.database, stmt.session_timeout, stmt.default_format) == (
        "s1", "torghut", 5.0, "JSON",
    )  # fmt: skip


@pytest.mark.parametrize("body", [b"", b"   \n", b"SELECT \x00 1"])
def test_empty_or_nul_sql_is_a_syntax_error(body: bytes) -> None:
    with pytest.raises(ClickHouseError) as err:
        build_statement({}, body)
    assert err.value.code == 62 and err.value.http_status == 400


def test_lz4_body_decoded_and_corrupt_one_rejected() -> None:
    assert decode_body(lz4.frame.compress(b"SELECT 1"), "lz4") == b"SELECT 1"
    assert decode_body(b"SELECT 1", None) == b"SELECT 1"
    with pytest.raises(ClickHouseError):
        decode_body(b"not lz4 at all", "lz4")


def test_clickhouse_compressed_bodies_are_refused_clearly() -> None:
    with pytest.raises(ClickHouseError) as err:
        build_statement({"decompress": "1"}, b"x")
    assert err.value.code == 48


def test_engine_errors_keep_code_and_status_map_matches_clickhouse() -> None:
    err = ClickHouseError.from_engine(
        RuntimeError("Code: 60. DB::Exception: Unknown table. (UNKNOWN_TABLE)")
    )
    assert err.code == 60 and err.message.startswith("Code: 60. DB::Exception")
    assert ClickHouseError.from_engine(RuntimeError("boom")).code == 1001
    assert [http_status(c) for c in (60, 62, 516, 194, 243, 159)] == [404, 400, 403, 401, 500, 408]


def test_seed_ddl_follows_the_engine_kind_and_ttl() -> None:
    merge = seed_statements(ttl_days=7)
    assert merge[0] == "CREATE DATABASE IF NOT EXISTS torghut"
    assert all(
        "ENGINE = ReplacingMergeTree(ingest_ts)" in s and "INTERVAL 7 DAY" in s for s in merge[1:]
    )
    assert all(
        "PARTITION BY toDate(event_ts)" in s and "ORDER BY (symbol, event_ts)" in s
        for s in merge[1:]
    )
    replicated = seed_statements(engine="replicated")
    assert (
        "ReplicatedReplacingMergeTree("
        "'/clickhouse/tables/{shard}/torghut/ta_signals', '{replica}', ingest_ts)" in replicated[1]
    )
    with pytest.raises(ValueError):
        table_engine("ta_signals", "memory")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        seed_statements(ttl_days=0)
    with pytest.raises(ValueError):
        seed_statements(database="x; DROP")


def test_config_xml_has_zookeeper_macros_and_reserve() -> None:
    xml = config_xml(zookeeper="127.0.0.1:2181", replica="r2", keep_free_space_bytes=10)
    assert "<host>127.0.0.1</host><port>2181</port>" in xml and "<replica>r2</replica>" in xml
    assert "<keep_free_space_bytes>10</keep_free_space_bytes>" in xml
    with pytest.raises(ValueError):
        parse_endpoint("nohost")
