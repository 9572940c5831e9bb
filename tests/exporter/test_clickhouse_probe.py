"""ClickHouse probes, pure parts: partition selection, oldest partition, rendering, errors."""

from __future__ import annotations

from datetime import UTC, datetime

from exporter.clients.clickhouse import explain
from exporter.probes.clickhouse import (
    Freshness,
    Partition,
    Replication,
    Storage,
    oldest_partitions,
    partition_start,
    render_freshness,
    render_replication,
    render_storage,
    select_partitions,
)
from exporter.scheduler import check_samples


def _day(d: int) -> float:
    return datetime(2026, 1, d, tzinfo=UTC).timestamp()


def _parts(table: str, sizes: list[int]) -> list[Partition]:
    return [
        Partition(table, f"2026-01-{i + 1:02d}", size, _day(i + 1)) for i, size in enumerate(sizes)
    ]


def test_select_partitions_keeps_largest_and_oldest_only() -> None:
    parts = _parts("ta_signals", [5, 1, 9, 2, 8, 3, 7])
    chosen = select_partitions(parts, 2)
    assert [p.partition for p in chosen] == ["2026-01-03", "2026-01-05", "2026-01-01", "2026-01-02"]
    assert len(select_partitions(parts * 1, 50)) == len(parts)


def test_partition_start_falls_back_to_the_partition_id() -> None:
    assert partition_start(Partition("t", "2026-01-04", 1, 0.0)) == _day(4)
    assert partition_start(Partition("t", "20260105", 1, 0.0)) == _day(5)
    assert partition_start(Partition("t", "tuple()", 1, 0.0)) is None
    parts = [Partition("a", "x", 1, _day(9)), Partition("a", "2026-01-02", 1, 0.0)]
    assert oldest_partitions(parts) == {"a": _day(2)}


def test_render_freshness_skips_empty_tables() -> None:
    data = Freshness(
        tables={"ta_signals": 1.7e9, "ta_microbars": 0.0},
        symbols=[("ta_signals", "NVDA", 1.7e9 - 3)],
        partitions=_parts("ta_signals", [1, 2]),
    )
    samples = check_samples(render_freshness(data))
    named = {
        (s.name.removeprefix("torghut_ta_"), tuple(s.labels.values())): s.value for s in samples
    }
    assert named == {
        ("table_last_event_timestamp_seconds", ("ta_signals",)): 1.7e9,
        ("symbol_last_event_timestamp_seconds", ("ta_signals", "NVDA")): 1.7e9 - 3,
        ("clickhouse_oldest_partition_timestamp_seconds", ("ta_signals",)): _day(1),
        ("symbol_missing", ("ta_signals", "NVDA")): 0.0,
        ("table_future_rows", ("ta_microbars",)): 0.0,
        ("table_future_rows", ("ta_signals",)): 0.0,
    }


def test_the_signals_table_gets_its_own_series_whatever_its_name() -> None:
    data = Freshness(tables={"signals_v2": 1.7e9, "ta_microbars": 1.6e9}, symbols=[], partitions=[])
    samples = check_samples(render_freshness(data, signals_table="signals_v2"))
    signals = [s for s in samples if s.name == "torghut_ta_signals_last_event_timestamp_seconds"]
    assert [(s.value, dict(s.labels)) for s in signals] == [(1.7e9, {"table": "signals_v2"})]
    # an empty signals table has no series, like table_last_event_timestamp_seconds
    empty = Freshness(tables={"signals_v2": 0.0}, symbols=[], partitions=[])
    names = {s.name for s in render_freshness(empty, signals_table="signals_v2")}
    assert "torghut_ta_signals_last_event_timestamp_seconds" not in names
    assert "torghut_ta_table_last_event_timestamp_seconds" not in names
    assert "torghut_ta_table_future_rows" in names  # the table was read: 0 future rows


def test_the_freshness_probe_exports_the_configured_signals_table(cfg) -> None:
    from exporter.families.clickhouse import specs_for

    [spec] = [s for s in specs_for(cfg, []) if s.name == "clickhouse_freshness"]
    rendered = spec.render(Freshness(tables={"ta_signals": 1.7e9}, symbols=[], partitions=[]))
    assert "torghut_ta_signals_last_event_timestamp_seconds" in {s.name for s in rendered}


def test_render_storage_sums_table_bytes_and_bounds_partitions() -> None:
    parts = _parts("ta_signals", list(range(1, 31))) + _parts("ta_microbars", [4, 4])
    data = Storage("r1", [("default", 10, 100)], parts)
    samples = check_samples(render_storage(data, top_n=3))
    table_bytes = {s.labels["table"]: s.value for s in samples if s.name.endswith("table_bytes")}
    assert table_bytes == {"ta_signals": sum(range(1, 31)), "ta_microbars": 8}
    partition_series = [s for s in samples if s.name.endswith("partition_bytes")]
    assert len(partition_series) == 6 + 2
    disk = {s.name: s.value for s in samples if "disk" in s.name}
    assert disk == {
        "torghut_ta_clickhouse_disk_free_bytes": 10,
        "torghut_ta_clickhouse_disk_total_bytes": 100,
    }


def test_render_replication() -> None:
    data = Replication("r2", [("ta_signals", 1, 0, 12.5, 3)])
    samples = {s.name: (s.value, dict(s.labels)) for s in check_samples(render_replication(data))}
    assert samples["torghut_ta_clickhouse_replica_readonly"] == (
        1.0,
        {"replica": "r2", "table": "ta_signals"},
    )
    assert samples["torghut_ta_clickhouse_replica_delay_seconds"][0] == 12.5
    assert samples["torghut_ta_clickhouse_replica_queue_size"][0] == 3.0


def test_explain_keeps_clickhouse_code_and_drops_driver_noise() -> None:
    exc = RuntimeError(
        "HTTPDriver for http://127.0.0.1:8123 received ClickHouse error code 60\n"
        " Code: 60. DB::Exception: Table torghut.x does not exist. (UNKNOWN_TABLE) (version 26.9.1)"
    )
    assert str(explain("r1", exc)) == (
        "ClickHouse r1: Code: 60. DB::Exception: Table torghut.x does not exist. (UNKNOWN_TABLE)"
    )
    refused = OSError("wrapper")
    refused.__cause__ = ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 1)")
    assert str(explain("r1", refused)) == "ClickHouse r1: connection refused"


def test_free_disk_space_is_net_of_reservations() -> None:
    from exporter.probes.clickhouse import usable_disks

    assert usable_disks([("default", 100, 1000, 60), ("hot", 50, 500, 50)]) == [
        ("default", 60, 1000),
        ("hot", 50, 500),
    ]


def test_keeper_outage_and_lost_metadata_are_told_apart() -> None:
    from exporter.probes.clickhouse import keeper_unreachable, metadata_lost

    no_node = (
        "Code: 999. Coordination::Exception: Coordination error: No node, path "
        "/clickhouse/tables/01/torghut/ta_signals/log. (KEEPER_EXCEPTION)"
    )
    conn = "Code: 999. Coordination::Exception: Connection loss. (KEEPER_EXCEPTION)"
    assert (keeper_unreachable(0, no_node), metadata_lost(0, no_node)) == (False, True)
    assert (keeper_unreachable(0, conn), metadata_lost(0, conn)) == (True, False)
    assert (keeper_unreachable(1, ""), metadata_lost(1, "")) == (True, False)
    assert (keeper_unreachable(1, no_node), metadata_lost(1, no_node)) == (True, False)
    assert (keeper_unreachable(0, ""), metadata_lost(0, "")) == (False, False)


def test_render_replication_exports_keeper_state() -> None:
    data = Replication(
        "r1",
        [("ta_signals", 1, 0, 0.0, 0), ("ta_microbars", 1, 1, 0.0, 0)],
        {"ta_signals": "Coordination error: No node, path /x/log. (KEEPER_EXCEPTION)"},
    )
    samples = check_samples(render_replication(data))
    got = {(s.name.removeprefix("torghut_ta_clickhouse_replica_"), s.labels["table"]): s.value for s in samples}  # fmt: skip
    assert got[("metadata_lost", "ta_signals")] == 1.0
    assert got[("keeper_unreachable", "ta_signals")] == 0.0
    assert got[("metadata_lost", "ta_microbars")] == 0.0
    assert got[("keeper_unreachable", "ta_microbars")] == 1.0


def test_merge_takes_the_newest_value_across_replicas_and_names_silent_symbols() -> None:
    from exporter.config import parse_config
    from exporter.probes.clickhouse_freshness import merge

    cfg = parse_config(
        {
            "clickhouse": {"replicas": [{"name": "a", "url": "http://h:1"}]},
            "kafka": {"bootstrap_servers": ["h:9092"], "topics": ["t"]},
            "watch_symbols": ["NVDA", "AAPL"],
        }
    )
    a = Freshness({"ta_signals": 100.0, "ta_microbars": 0.0}, [("ta_signals", "NVDA", 90.0)], [], replica="a")  # fmt: skip
    b = Freshness({"ta_signals": 80.0, "ta_microbars": 50.0}, [("ta_signals", "NVDA", 95.0)], [], replica="b", future_rows={"ta_signals": 2})  # fmt: skip
    merged = merge([a, b], {"c": "ClickHouse c: timeout after 1s"}, cfg)
    assert merged.tables == {"ta_signals": 100.0, "ta_microbars": 50.0}
    assert merged.symbols == [("ta_signals", "NVDA", 95.0)]
    assert merged.future_rows == {"ta_signals": 2}
    assert sorted(merged.missing_symbols) == [
        ("ta_microbars", "AAPL"),
        ("ta_microbars", "NVDA"),
        ("ta_signals", "AAPL"),
    ]
    named = {(s.name, tuple(s.labels.values())): s.value for s in check_samples(render_freshness(merged))}  # fmt: skip
    assert named[("torghut_ta_replica_freshness_success", ("c",))] == 0.0
    assert named[("torghut_ta_replica_table_last_event_timestamp_seconds", ("b", "ta_microbars"))] == 50.0  # fmt: skip
    assert ("torghut_ta_replica_table_last_event_timestamp_seconds", ("a", "ta_microbars")) not in named  # fmt: skip
