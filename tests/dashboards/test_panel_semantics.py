"""What the overview's key queries return, evaluated by promtool on given series: stage tiles
(worst status, UNKNOWN without series, one install only), market-aware ages, lag counted once
per partition however many exporters report it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from dashboard_lib import BUILTIN_VALUES, boards, data_panels, substitute

OVERVIEW = boards()["torghut-ta-overview.json"]
EAST = {"cluster": "east", "namespace": "torghut"}
VALUES = {
    **BUILTIN_VALUES,
    **EAST,
    "table": ".*",
    "symbol": ".*",
    "deployment": ".*",
    "replica": ".*",
    "datasource": "prom",
}
STATUSES = ("healthy", "suspended", "unknown", "degraded", "down")


def _expr(title: str, ref: str = "A") -> str:
    panel = next(p for p in data_panels(OVERVIEW) if p["title"] == title)
    return substitute(next(t["expr"] for t in panel["targets"] if t["refId"] == ref), VALUES)


def _labels(**labels: str) -> str:
    return "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}"


def component(name: str, stage: str, current: str, **where: str) -> list[dict[str, str]]:
    """The exporter's state set of one component, constant over the test."""
    install = where or EAST
    return [
        {
            "series": "torghut_ta_component_status"
            + _labels(**install, component=name, stage=stage, status=s),
            "values": f"{1 if s == current else 0}x10",
        }
        for s in STATUSES
    ]


def check(tmp_path: Path, expr: str, series: list[dict[str, str]], expected: list[Any]) -> None:
    """promtool evaluates `expr` at 5m over `series`; `expected`: [(labels dict, value)]."""
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool is not on PATH: run `make deps` (Debian prometheus)")
    doc = {
        "rule_files": [],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": series,
                "promql_expr_test": [
                    {
                        "expr": expr,
                        "eval_time": "5m",
                        "exp_samples": [
                            {"labels": _labels(**labels), "value": value}
                            for labels, value in expected
                        ],
                    }
                ],
            }
        ],
    }
    path = tmp_path / "test.yml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    proc = subprocess.run(
        [promtool, "test", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_stage_tile_without_series_is_unknown(tmp_path: Path) -> None:
    other = component("kafka", "kafka", "healthy", cluster="west", namespace="torghut")
    check(tmp_path, _expr("Kafka"), other, [({}, 2)])  # another install's OK is not ours


def test_stage_tile_is_the_worst_component_of_its_stage(tmp_path: Path) -> None:
    series = (
        component("clickhouse-disk", "clickhouse", "healthy")
        + component("freshness", "clickhouse", "degraded")
        + component("clickhouse-replicas", "clickhouse", "unknown")
        + component("kafka", "kafka", "down")  # another stage
    )
    check(tmp_path, _expr("ClickHouse"), series, [({}, 3)])
    check(tmp_path, _expr("Kafka"), series, [({}, 4)])


def test_stage_tile_suspended_and_ok(tmp_path: Path) -> None:
    series = component("flink", "flink", "suspended") + component("checkpoints", "flink", "healthy")
    check(tmp_path, _expr("Flink"), series, [({}, 1)])
    check(tmp_path, _expr("Trading"), component("trading", "trading", "healthy"), [({}, 0)])


def _ts(value: float, **labels: str) -> dict[str, str]:
    return {
        "series": "torghut_ta_table_last_event_timestamp_seconds" + _labels(**EAST, **labels),
        "values": f"{value:g}x10",
    }


def _market(open_: int) -> dict[str, str]:
    return {
        "series": "torghut_ta_market_open" + _labels(**EAST, instance="a"),
        "values": f"{open_}x10",
    }


def test_signal_age_in_session_closed_and_unknown_session(tmp_path: Path) -> None:
    expr = _expr("Signal age per table")
    table = _ts(200, table="ta_signals")  # evaluated at 300 s: 100 s old
    age = ({**EAST, "table": "ta_signals"}, 100)
    check(tmp_path, expr, [table, _market(1)], [age])
    check(tmp_path, expr, [table, _market(0)], [({**EAST, "table": "market closed"}, -1)])
    check(tmp_path, expr, [table], [age])  # session unknown: judged as open
    check(tmp_path, expr, [_market(1)], [])  # no data: nothing, which the panel shows as unknown


def test_input_freshness_says_market_closed(tmp_path: Path) -> None:
    latest = {
        "series": "torghut_ta_kafka_latest_record_timestamp_seconds" + _labels(**EAST, topic="t"),
        "values": "250x10",
    }
    expr = _expr("Input freshness (newest record per topic)")
    check(tmp_path, expr, [latest, _market(1)], [({**EAST, "topic": "t"}, 50)])
    check(tmp_path, expr, [latest, _market(0)], [({**EAST, "topic": "market closed"}, -1)])


def test_lag_counts_each_partition_once(tmp_path: Path) -> None:
    def lag(instance: str, partition: str, value: int) -> dict[str, str]:
        labels = _labels(**EAST, instance=instance, group="g", topic="t", partition=partition)
        return {
            "series": "torghut_ta_kafka_consumer_lag_messages" + labels,
            "values": f"{value}x10",
        }

    series = [lag("a", "0", 5), lag("b", "0", 5), lag("a", "1", 3), lag("b", "1", 3)]
    check(tmp_path, _expr("Consumer lag (messages)"), series, [({"group": "g", "topic": "t"}, 8)])
