"""Disk pressure on a 64 MiB tmpfs: system.disks, NOT_ENOUGH_SPACE, relief by DROP PARTITION
or by removing what else filled the volume."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError

from sandbox.testing.clickhouse import ClickHouseServer, exhaust_disk, fill_disk
from sandbox.util import poll_until

pytestmark = pytest.mark.slow

DISK = "SELECT free_space, total_space FROM system.disks WHERE name = 'default'"


def test_full_disk_rejects_inserts_and_drop_partition_relieves_it(
    pressured_clickhouse: ClickHouseServer,
) -> None:
    client = pressured_clickhouse.client()
    free0, total = client.query(DISK).result_rows[0]
    assert 60 * 2**20 <= total <= 64 * 2**20 and free0 / total > 0.9

    ratio = fill_disk(pressured_clickhouse, below_free_ratio=0.15)
    assert ratio < 0.15

    with pytest.raises(DatabaseError) as err:
        for day in range(1, 50):  # keep writing until the reservation fails like a full disk
            client.command(
                "INSERT INTO torghut.ta_microbars (event_ts, symbol, open, high, low, close, "
                f"volume, trade_count) SELECT now64(3) - INTERVAL {day} DAY + "
                "toIntervalMillisecond(number), 'X', rand64(), rand64(), rand64(), rand64(), "
                "rand64(), rand() FROM numbers(300000)"
            )
    assert err.value.code == 243  # NOT_ENOUGH_SPACE
    assert "not enough space" in str(err.value)

    free_full = client.query(DISK).result_rows[0][0]
    oldest = client.query(
        "SELECT partition, sum(bytes_on_disk) FROM system.parts WHERE active "
        "AND database = 'torghut' AND table = 'ta_microbars' "
        "GROUP BY partition ORDER BY partition LIMIT 1"
    ).result_rows[0]
    client.command(f"ALTER TABLE torghut.ta_microbars DROP PARTITION '{oldest[0]}'")
    free_after = poll_until(
        lambda: (f := client.query(DISK).result_rows[0][0]) > free_full and f,
        timeout=30,
        what="space freed by DROP PARTITION",
    )
    assert free_after - free_full >= oldest[1] * 0.9


# What a real ClickHouse answers when a write meets a full disk: the part's space reservation
# fails (243 NOT_ENOUGH_SPACE), or a write fails with errno 28 (74 CANNOT_WRITE_TO_FILE_DESCRIPTOR,
# 1001 std::exception). The sandbox engine answers 243 here (measured).
FULL_DISK_CODES = {243, 74, 1001}
SIGNALS = "torghut.ta_signals"


def _signal_rows() -> list[list[object]]:
    # distinct event times: the table deduplicates rows with the same (symbol, event_ts)
    now = datetime.now(UTC)
    return [[now + timedelta(milliseconds=i), "NVDA", 1.0] for i in range(10)]


def _insert_signals(client: Client) -> None:
    client.insert(SIGNALS, _signal_rows(), column_names=["event_ts", "symbol", "macd"])


def _signals_state(client: Client) -> tuple[int, int]:
    count = client.query(f"SELECT count() FROM {SIGNALS}").result_rows[0][0]
    parts = client.query(
        "SELECT count() FROM system.parts WHERE active "
        "AND database = 'torghut' AND table = 'ta_signals'"
    ).result_rows[0][0]
    return count, parts


def _assert_insert_refused(client: Client) -> None:
    before = _signals_state(client)
    with pytest.raises(DatabaseError) as err:
        _insert_signals(client)
    assert err.value.code in FULL_DISK_CODES, str(err.value)
    assert "space" in str(err.value).lower()
    assert _signals_state(client) == before  # nothing stored, no part appeared


def test_exhausted_disk_fails_inserts_with_the_engine_error_until_relieved(
    pressured_clickhouse: ClickHouseServer,
) -> None:
    client = pressured_clickhouse.client()
    fill_disk(pressured_clickhouse, below_free_ratio=0.02)
    filler = exhaust_disk(pressured_clickhouse)
    assert filler.is_file() and filler.stat().st_size > 0
    assert client.query(DISK).result_rows[0][0] < 2**20

    _assert_insert_refused(client)
    # the real engine writes an empty covering part to drop a partition: on a volume that is
    # 100% full, retention by DROP PARTITION is refused too until space is freed elsewhere
    oldest = client.query(
        "SELECT partition FROM system.parts WHERE active AND database = 'torghut' "
        "AND table = 'ta_microbars' ORDER BY partition LIMIT 1"
    ).result_rows[0][0]
    with pytest.raises(DatabaseError) as err:
        client.command(f"ALTER TABLE torghut.ta_microbars DROP PARTITION '{oldest}'")
    assert err.value.code == 243

    count = _signals_state(client)[0]
    filler.unlink()  # the other tenant's file goes away
    _insert_signals(client)
    assert _signals_state(client)[0] == count + 10

    free = client.query(DISK).result_rows[0][0]
    client.command(f"ALTER TABLE torghut.ta_microbars DROP PARTITION '{oldest}'")
    poll_until(
        lambda: client.query(DISK).result_rows[0][0] > free,
        timeout=30,
        what="space freed by DROP PARTITION",
    )
