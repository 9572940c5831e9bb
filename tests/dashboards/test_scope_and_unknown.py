"""Structure the oncall relies on: every selector scoped to one install ($cluster/$namespace),
stats that show now (instant queries) and unknown for no data, the top row of stage tiles and
firing alerts, market-aware ages, deduplicated lag sums, event annotations."""

from __future__ import annotations

import re
from typing import Any

import pytest
from dashboard_lib import (
    annotation_queries,
    boards,
    data_panels,
    label_values_args,
    metric_names,
    variable_query,
    variables,
)

from dashboards.grafana import UNKNOWN
from dashboards.overview_top import MARKET_CLOSED, STATUS_CODES

BOARDS = boards()
OVERVIEW = BOARDS["torghut-ta-overview.json"]
SCOPE = ('cluster=~"$cluster"', 'namespace=~"$namespace"')


def _exprs(board: dict[str, Any]) -> list[tuple[str, str]]:
    """(where, expr) of every panel target, annotation and the selector of every variable but
    `cluster` and `namespace` (they list the installs; namespace is scoped by cluster)."""
    out = [
        (f"{p['title']} {t['refId']}", t["expr"]) for p in data_panels(board) for t in p["targets"]
    ]
    out += [(f"annotation {a['name']}", a["expr"]) for a in annotation_queries(board)]
    out += [
        (f"variable {n}", label_values_args(variable_query(v))[0])
        for n, v in variables(board).items()
        if v["type"] == "query" and n not in ("cluster", "namespace")
    ]
    return out


def unscoped(expr: str) -> list[str]:
    """Metric selectors of `expr` that lack the install's variables (a bare name counts)."""
    bad = []
    for name in metric_names(expr):
        for m in re.finditer(rf"(?<![\w:]){re.escape(name)}(?![\w:])(\s*\{{[^}}]*\}})?", expr):
            braces = m.group(1) or ""
            if not all(s in braces for s in SCOPE):
                bad.append(m.group(0))
    return bad


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_every_selector_carries_cluster_and_namespace(name: str) -> None:
    board = BOARDS[name]
    vars_ = variables(board)
    assert {"cluster", "namespace"} <= set(vars_)
    selector, label = label_values_args(variable_query(vars_["namespace"]))
    assert label == "namespace" and 'cluster=~"$cluster"' in selector
    for where, expr in _exprs(board):
        assert not unscoped(expr), f"{name} {where}: unscoped {unscoped(expr)} in {expr}"


def test_the_scope_check_catches_a_bare_or_partly_scoped_selector() -> None:
    assert unscoped('max(torghut_ta_market_open{cluster=~"$cluster"})') == [
        'torghut_ta_market_open{cluster=~"$cluster"}'
    ]
    assert unscoped("sum(up) or vector(0)") == ["up"]
    scoped = 'time() - x_y{cluster=~"$cluster",namespace=~"$namespace",t="a"}'
    assert unscoped(scoped) == []


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_stats_show_now_and_unknown_without_data(name: str) -> None:
    for panel in data_panels(BOARDS[name]):
        if panel["type"] not in ("stat", "bargauge"):
            continue
        for t in panel["targets"]:
            assert t["instant"] is True and t["range"] is False, (panel["title"], t["refId"])
        defaults = panel["fieldConfig"]["defaults"]
        assert defaults.get("noValue") == UNKNOWN, panel["title"]
        specials = [m for m in defaults["mappings"] if m["type"] == "special"]
        assert specials, f"{panel['title']}: null is not mapped"
        result = specials[0]["options"]["result"]
        assert specials[0]["options"]["match"] == "null+nan"
        assert result["text"] == UNKNOWN and result["color"] != "green"


def test_top_row_is_one_tile_per_stage_then_the_firing_alerts() -> None:
    top = [p for p in OVERVIEW["panels"] if p["gridPos"]["y"] <= 1]
    assert top[0]["type"] == "row" and top[0]["gridPos"]["y"] == 0
    tiles = top[1:]
    assert [p["title"] for p in tiles] == [
        "Kafka",
        "Flink",
        "ClickHouse",
        "API",
        "Trading",
        "Firing TA alerts",
    ]
    for tile, stage in zip(
        tiles[:5], ("kafka", "flink", "clickhouse", "api", "trading"), strict=True
    ):
        [target] = tile["targets"]
        expr = target["expr"]
        assert metric_names(expr) == {"torghut_ta_component_status"}
        assert set(re.findall(r'stage="(\w+)"', expr)) == {stage}
        assert set(re.findall(r'status="(\w+)"', expr)) == set(STATUS_CODES)
        unknown = STATUS_CODES["unknown"][0]
        assert expr.rstrip().endswith(f"or vector({unknown})"), "no series must read as unknown"
        options = tile["fieldConfig"]["defaults"]["mappings"][0]["options"]
        assert options[str(unknown)]["text"] == "UNKNOWN"
        assert options[str(unknown)]["color"] != "green"
        assert options[str(STATUS_CODES["healthy"][0])]["color"] == "green"
    alerts = tiles[5]
    assert alerts["type"] == "table"
    [target] = alerts["targets"]
    assert metric_names(target["expr"]) == {"ALERTS"} and 'alertstate="firing"' in target["expr"]
    assert target["instant"] is True


@pytest.mark.parametrize(
    "title",
    ["Signal age per table", "Signal age per replica", "Input freshness (newest record per topic)"],
)
def test_ages_say_market_closed_outside_sessions(title: str) -> None:
    panel = next(p for p in data_panels(OVERVIEW) if p["title"] == title)
    for t in panel["targets"]:
        assert "torghut_ta_market_open" in metric_names(t["expr"]), t["expr"]
        assert f"* 0 + {MARKET_CLOSED}" in t["expr"]
    values = panel["fieldConfig"]["defaults"]["mappings"][0]["options"]
    assert values[str(MARKET_CLOSED)]["text"] == "market closed"


def test_oncall_panels_are_present() -> None:
    shown = {
        m for p in data_panels(OVERVIEW) for t in p["targets"] for m in metric_names(t["expr"])
    }
    for metric in (
        "torghut_ta_kafka_latest_record_timestamp_seconds",
        "torghut_ta_kafka_consumer_group_info",
        "torghut_ta_replica_table_last_event_timestamp_seconds",
        "torghut_ta_clickhouse_table_ttl_seconds",
        "torghut_ta_kafka_earliest_record_timestamp_seconds",
    ):
        assert metric in shown, metric
    retention = next(p for p in data_panels(OVERVIEW) if p["title"].startswith("Retention"))
    both = {m for t in retention["targets"] for m in metric_names(t["expr"])}
    assert {
        "torghut_ta_clickhouse_table_ttl_seconds",
        "torghut_ta_kafka_earliest_record_timestamp_seconds",
    } <= both


def test_lag_is_deduplicated_per_partition_before_summing() -> None:
    panel = next(p for p in data_panels(OVERVIEW) if p["title"] == "Consumer lag (messages)")
    expr = re.sub(r"\s+", " ", panel["targets"][0]["expr"])
    assert re.match(r"sum by \(group, topic\) \( max by \([^)]*\bpartition\b[^)]*\) \(", expr), expr


def test_event_annotations() -> None:
    names = {a["name"]: a["expr"] for a in annotation_queries(OVERVIEW)}
    expected = {
        "Restart nonce bumped": "torghut_ta_flink_restart_nonce",
        "Suspend / resume": "torghut_ta_flink_job_desired_running",
        "TRADING_ENABLED changed": "torghut_ta_trading_enabled",
        "Consumer group changed": "torghut_ta_kafka_consumer_group_info",
        "Remediation runs": "torghut_ta_remediation_runs_total",
    }
    for name, metric in expected.items():
        assert metric in metric_names(names[name]), name
    for name in ("Restart nonce bumped", "Suspend / resume", "TRADING_ENABLED changed"):
        assert names[name].startswith("changes("), name
