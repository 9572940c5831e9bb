"""Disk pressure on a 64 MiB tmpfs: system.disks, NOT_ENOUGH_SPACE, relief by DROP PARTITION."""

from __future__ import annotations

import pytest
from clickhouse_connect.driver.exceptions import DatabaseError

from sandbox.testing.clickhouse import ClickHouseServer, fill_disk
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
