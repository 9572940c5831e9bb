"""The sandbox ClickHouse through the real clickhouse-connect clients (sync and async)."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import threading
import urllib.error
import urllib.request
import uuid

import clickhouse_connect
import pytest
from clickhouse_connect.driver.exceptions import DatabaseError

from sandbox.testing.clickhouse import ClickHouseServer

UTC = dt.UTC
SIGNAL_COLUMNS = ["event_ts", "symbol", "ema_12", "rsi_14", "vwap"]


# Recent on purpose: the seeded tables' 30-day TTL drops older rows at insert time.
_BASE = (dt.datetime.now(UTC) - dt.timedelta(hours=2)).replace(microsecond=0)


def _signals(n: int) -> list[list[object]]:
    base = _BASE
    return [
        [base + dt.timedelta(milliseconds=137 * i), f"S{i % 3}", float(i), None if i % 2 else 50.5, i * 1.5]
        for i in range(n)
    ]  # fmt: skip


def _http(server: ClickHouseServer, sql: str, headers: dict[str, str] | None = None,
          auth: tuple[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:  # fmt: skip
    """A raw POST, to check what the client libraries hide (status codes, headers)."""
    request = urllib.request.Request(server.url + "/", data=sql.encode(), method="POST")
    user, password = auth if auth is not None else (server.user, server.password)
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    request.add_header("Authorization", f"Basic {token}")
    for key, value in (headers or {}).items():
        request.add_header(key, value)
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def test_connect_reports_engine_version_and_timezone(clickhouse_server: ClickHouseServer) -> None:
    client = clickhouse_server.client()
    version, tz = client.query("SELECT version(), timezone()").result_rows[0]
    assert client.server_version == version
    assert client.server_tz is not None
    assert str(client.server_tz) in {tz, "UTC"}


def test_typed_results_in_native_format(clickhouse_client) -> None:
    result = clickhouse_client.query(
        "SELECT toLowCardinality('NVDA') AS sym, CAST(NULL, 'Nullable(Float64)') AS n, "
        "toDateTime64('2026-01-05 14:30:00.123', 3, 'UTC') AS ts, [1.5, 2.5] AS arr"
    )
    assert [t.name for t in result.column_types] == [
        "LowCardinality(String)", "Nullable(Float64)", "DateTime64(3, 'UTC')", "Array(Float64)",
    ]  # fmt: skip
    sym, n, ts, arr = result.result_rows[0]
    assert (sym, n, arr) == ("NVDA", None, [1.5, 2.5])
    assert ts.replace(tzinfo=UTC) == dt.datetime(2026, 1, 5, 14, 30, 0, 123000, tzinfo=UTC)


def test_command_returns_scalar_and_runs_ddl(clickhouse_client) -> None:
    assert clickhouse_client.command("SELECT 6 * 7") == 42
    name = f"cmd_{uuid.uuid4().hex[:8]}"
    clickhouse_client.command(f"CREATE TABLE default.{name} (a UInt8) ENGINE = Memory")
    assert clickhouse_client.command(f"EXISTS TABLE default.{name}") == 1
    clickhouse_client.command(f"DROP TABLE default.{name}")


@pytest.mark.parametrize("compress", [True, "lz4", False])
def test_insert_round_trips_with_and_without_compression(
    clean_clickhouse: ClickHouseServer, compress: object
) -> None:
    client = clean_clickhouse.client(compress=compress)
    rows = _signals(500)
    summary = client.insert("torghut.ta_signals", rows, column_names=SIGNAL_COLUMNS)
    assert summary.written_rows == 500
    back = client.query(
        "SELECT event_ts, symbol, ema_12, rsi_14, vwap FROM torghut.ta_signals ORDER BY event_ts"
    ).result_rows
    assert [[r[0].replace(tzinfo=UTC), *r[1:]] for r in back] == rows


def test_lz4_request_body_is_decompressed(clickhouse_server: ClickHouseServer) -> None:
    import lz4.frame

    request = urllib.request.Request(
        clickhouse_server.url + "/?user=" + clickhouse_server.user
        + "&password=" + clickhouse_server.password,
        data=lz4.frame.compress(b"SELECT 40 + 2"),
        headers={"Content-Encoding": "lz4"},
        method="POST",
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=10) as resp:
        assert resp.read() == b"42\n"


def test_server_side_parameters(clickhouse_client) -> None:
    when = dt.datetime(2026, 1, 5, 14, 30, 1, 250000, tzinfo=UTC)
    row = clickhouse_client.query(
        "SELECT {sym:String} AS s, {ts:DateTime64(3, 'UTC')} AS t, {xs:Array(UInt8)} AS xs",
        parameters={"sym": "it's NVDA", "ts": when, "xs": [1, 2]},
    ).result_rows[0]
    assert row[0] == "it's NVDA"
    assert row[1].replace(tzinfo=UTC) == when
    assert row[2] == [1, 2]


def test_session_keeps_temporary_tables_apart(clickhouse_server: ClickHouseServer) -> None:
    mine = clickhouse_server.client(session_id=f"s-{uuid.uuid4()}")
    other = clickhouse_server.client(session_id=f"s-{uuid.uuid4()}")
    mine.command("CREATE TEMPORARY TABLE scratch (a UInt32)")
    mine.command("INSERT INTO scratch VALUES (7), (8)")
    assert mine.query("SELECT sum(a) FROM scratch").result_rows == [(15,)]
    with pytest.raises(DatabaseError) as err:
        other.query("SELECT sum(a) FROM scratch")
    assert err.value.code == 60


def test_database_and_query_id_params(clean_clickhouse: ClickHouseServer) -> None:
    client = clean_clickhouse.client(database="torghut")
    client.insert("ta_signals", _signals(3), column_names=SIGNAL_COLUMNS)
    result = client.query("SELECT count() FROM ta_signals", settings={"query_id": "probe-42"})
    assert result.result_rows == [(3,)]
    assert result.query_id == "probe-42"


def test_per_query_settings_apply_once(clickhouse_client) -> None:
    sql = "SELECT value FROM system.settings WHERE name = 'max_block_size'"
    default = clickhouse_client.query(sql).result_rows[0][0]
    assert clickhouse_client.query(sql, settings={"max_block_size": 1234}).result_rows == [
        ("1234",)
    ]
    assert clickhouse_client.query(sql).result_rows[0][0] == default
    with pytest.raises(DatabaseError) as err:
        clickhouse_client.query("SELECT 1", settings={"no_such_setting_xyz": 1})
    assert err.value.code == 115


def test_errors_carry_clickhouse_codes(clickhouse_client, clickhouse_server) -> None:
    with pytest.raises(DatabaseError) as unknown:
        clickhouse_client.query("SELECT * FROM torghut.no_such_table")
    assert unknown.value.code == 60
    with pytest.raises(DatabaseError) as syntax:
        clickhouse_client.query("SELEC 1 FRM")
    assert syntax.value.code == 62
    status, headers, body = _http(clickhouse_server, "SELECT * FROM torghut.no_such_table")
    assert (status, headers["X-ClickHouse-Exception-Code"]) == (404, "60")
    assert body.startswith(b"Code: 60. DB::Exception:")
    status, headers, _ = _http(clickhouse_server, "SELEC 1")
    assert (status, headers["X-ClickHouse-Exception-Code"]) == (400, "62")


def test_garbage_gets_an_error_not_a_dropped_connection(clickhouse_server) -> None:
    status, headers, body = _http(clickhouse_server, "\x00\x01 INSERT INTO nowhere FORMAT Native")
    assert body.startswith(b"Code: 62.")
    assert status >= 400 and headers["X-ClickHouse-Exception-Code"].isdigit()
    status, headers, _ = _http(
        clickhouse_server, "INSERT INTO torghut.ta_signals FORMAT Native\nxx"
    )
    assert status >= 400 and int(headers["X-ClickHouse-Exception-Code"]) > 0
    assert _http(clickhouse_server, "SELECT 1")[2] == b"1\n"  # the server still answers


def test_summary_header_counts_rows(clean_clickhouse: ClickHouseServer) -> None:
    client = clean_clickhouse.client()
    written = client.insert("torghut.ta_signals", _signals(40), column_names=SIGNAL_COLUMNS)
    assert written.written_rows == 40
    result = client.query("SELECT symbol FROM torghut.ta_signals")
    assert int(result.summary["read_rows"]) == 40
    assert int(result.summary["read_bytes"]) > 0
    _, headers, _ = _http(clean_clickhouse, "SELECT count() FROM torghut.ta_signals")
    assert json.loads(headers["X-ClickHouse-Summary"])["read_rows"] != ""


def test_authentication(clickhouse_server: ClickHouseServer) -> None:
    with pytest.raises(DatabaseError) as wrong:
        clickhouse_server.client(password="not-it")
    assert wrong.value.code == 516
    with pytest.raises(DatabaseError) as nobody:
        clickhouse_server.client(username="mallory")
    assert nobody.value.code == 516
    status, headers, _ = _http(clickhouse_server, "SELECT 1", auth=("torghut", "nope"))
    assert (status, headers["X-ClickHouse-Exception-Code"]) == (403, "516")
    ok = _http(
        clickhouse_server, "SELECT 1", auth=("", ""),
        headers={"X-ClickHouse-User": clickhouse_server.user,
                 "X-ClickHouse-Key": clickhouse_server.password, "Authorization": ""},
    )  # fmt: skip
    assert ok[0] == 200 and ok[2] == b"1\n"


# Each query reports when the server started it (now64() is fixed at query start) and then sleeps
# 2 s. If the last one started before the first one's 2 s were over, all were in flight together;
# a server that ran them one at a time would start each >= 2 s after the one before.
OVERLAP_SQL = "SELECT toUnixTimestamp64Micro(now64(6)), sleep(2)"


def _all_in_flight_together(starts_us: list[int]) -> bool:
    return max(starts_us) - min(starts_us) < 2_000_000


def test_sync_queries_run_concurrently(clickhouse_server: ClickHouseServer) -> None:
    clients = [clickhouse_server.client() for _ in range(4)]
    barrier = threading.Barrier(len(clients))
    starts: list[int] = []

    def run(client: object) -> None:
        barrier.wait()
        starts.append(int(client.query(OVERLAP_SQL).result_rows[0][0]))  # type: ignore[attr-defined]

    threads = [threading.Thread(target=run, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(starts) == 4
    assert _all_in_flight_together(starts), starts


async def test_async_client_queries_overlap_and_insert(clean_clickhouse: ClickHouseServer) -> None:
    client = await clean_clickhouse.async_client()
    try:
        results = await asyncio.gather(*(client.query(OVERLAP_SQL) for _ in range(4)))
        starts = [int(r.result_rows[0][0]) for r in results]
        assert _all_in_flight_together(starts), starts
        await client.insert("torghut.ta_signals", _signals(25), column_names=SIGNAL_COLUMNS)
        result = await client.query(
            "SELECT count(), countIf(rsi_14 IS NULL) FROM torghut.ta_signals WHERE symbol = {s:String}",
            parameters={"s": "S1"},
        )
        expected = [r for r in _signals(25) if r[1] == "S1"]
        assert result.result_rows == [(len(expected), sum(r[3] is None for r in expected))]
        assert await client.command("SELECT 1 + 1") == 2
        with pytest.raises(DatabaseError) as err:
            await client.query("SELECT * FROM nowhere_at_all")
        assert err.value.code == 60
    finally:
        await client.close()


async def test_async_rejects_bad_credentials(clickhouse_server: ClickHouseServer) -> None:
    with pytest.raises(DatabaseError) as err:
        client = await clickhouse_connect.get_async_client(
            host=clickhouse_server.host, port=clickhouse_server.port,
            username=clickhouse_server.user, password="wrong",
        )  # fmt: skip
        await client.close()
    assert err.value.code == 516
