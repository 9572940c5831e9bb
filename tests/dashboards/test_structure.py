"""Structural checks of dashboards/*.json: Grafana conventions, metric contract, runbook links."""

from __future__ import annotations

import json
import re
from itertools import combinations
from pathlib import Path
from typing import Any

import pytest
import yaml
from dashboard_lib import (
    BUILTIN_VALUES,
    DASHBOARD_DIR,
    DS_REF,
    PROMETHEUS_SERIES,
    REMEDIATOR_METRICS,
    REPO,
    RULES_FILE,
    RUNBOOK_DIR,
    annotation_queries,
    board_files,
    boards,
    data_panels,
    label_values_args,
    metric_names,
    panels,
    queries,
    selector_labels,
    substitute,
    used_variables,
    variable_query,
    variables,
)

from dashboards import build
from exporter.metrics import CATALOGUE
from remediator.actuators import alertmanager as am

EXPECTED_FILES = {"torghut-ta-overview.json", "torghut-ta-remediation.json"}
# Grafana unit ids the boards may use (a typo would silently render as a plain number).
KNOWN_UNITS = {
    "s", "ms", "dtdurations", "bytes", "decbytes", "percentunit", "percent", "short", "none",
    "bool_on_off", "bool_yes_no", "reqps", "ops", "dateTimeFromNow",
}  # fmt: skip
BOARDS = boards()
ALL_PANELS = [(name, p) for name, b in BOARDS.items() for p in data_panels(b)]


def _ids(params: list[tuple[str, dict[str, Any]]]) -> list[str]:
    return [f"{n.removesuffix('.json')}:{p['title']}" for n, p in params]


def rules() -> list[dict[str, Any]]:
    doc = yaml.safe_load(RULES_FILE.read_text())
    return [r for g in doc["groups"] for r in g["rules"] if "alert" in r]


def test_expected_files_are_plain_dashboards() -> None:
    assert {p.name for p in board_files()} == EXPECTED_FILES
    for name, board in BOARDS.items():
        assert board["uid"] == name.removesuffix(".json")
        assert board["schemaVersion"] == 39
        assert "torghut-ta" in board["tags"]
        assert "dashboard" not in board, "an API envelope, not a plain dashboard"
        assert board.get("id") is None, "a dashboard id would clash on import"


def test_files_match_their_python_definitions() -> None:
    assert build.stale_files() == [], "run: python -m dashboards.build"


def test_stale_files_reports_edited_and_missing_files(tmp_path: Path) -> None:
    for name, make in build.BOARDS.items():
        (tmp_path / name).write_text(build.render(make))
    assert build.stale_files(tmp_path) == []
    edited = tmp_path / "torghut-ta-overview.json"
    edited.write_text(edited.read_text().replace("Signal age", "Signal agE"))
    (tmp_path / "torghut-ta-remediation.json").unlink()
    assert sorted(build.stale_files(tmp_path)) == sorted(EXPECTED_FILES)


def test_uids_match_the_alerts_dashboard_urls() -> None:
    uids = {b["uid"] for b in BOARDS.values()}
    assert len(uids) == len(BOARDS)
    linked = set()
    for rule in rules():
        url = rule["annotations"]["dashboard_url"]
        m = re.fullmatch(r"https://grafana\.example\.com/d/([\w-]+)", url)
        assert m, f"{rule['alert']}: unexpected dashboard_url {url}"
        linked.add(m.group(1))
    # the alerts the remediator posts itself (not rules) link the Remediation dashboard
    for alert in (
        am.remediation_failed("r", "A", "ns/fd", "why", "http://r/runs/r"),
        am.awaiting_approval("r", "A", "ns/fd", "step", "http://r/runs/r"),
    ):
        url = alert.annotations["dashboard_url"]
        m = re.fullmatch(r"https://grafana\.example\.com/d/([\w-]+)", url)
        assert m, url
        linked.add(m.group(1))
    assert linked == uids


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_panel_ids_unique_and_grid_without_overlap(name: str) -> None:
    board = BOARDS[name]
    all_panels = list(panels(board))
    ids = [p["id"] for p in all_panels]
    assert len(ids) == len(set(ids)), f"duplicate panel ids in {name}"
    rects = []
    for p in all_panels:
        g = p["gridPos"]
        assert g["w"] > 0 and g["h"] > 0 and g["x"] >= 0 and g["y"] >= 0, p["title"]
        assert g["x"] + g["w"] <= 24, f"{p['title']} is wider than the grid"
        rects.append((p["title"], g["x"], g["y"], g["x"] + g["w"], g["y"] + g["h"]))
    for a, b in combinations(rects, 2):
        overlap = a[1] < b[3] and b[1] < a[3] and a[2] < b[4] and b[2] < a[4]
        assert not overlap, f"{a[0]!r} overlaps {b[0]!r} in {name}"


@pytest.mark.parametrize(("name", "panel"), ALL_PANELS, ids=_ids(ALL_PANELS))
def test_panel_datasource_unit_targets(name: str, panel: dict[str, Any]) -> None:
    assert panel["datasource"] == DS_REF
    assert panel["targets"], "a panel without queries"
    refs = [t["refId"] for t in panel["targets"]]
    assert len(refs) == len(set(refs))
    for t in panel["targets"]:
        assert t["datasource"] == DS_REF
        assert t["expr"].strip()
    unit = panel["fieldConfig"]["defaults"].get("unit")
    assert unit in KNOWN_UNITS, f"unit {unit!r}"
    for override in panel["fieldConfig"]["overrides"]:
        for prop in override["properties"]:
            if prop["id"] == "unit":
                assert prop["value"] in KNOWN_UNITS
    assert panel.get("description"), "say what the panel shows"


@pytest.mark.parametrize(("name", "panel"), ALL_PANELS, ids=_ids(ALL_PANELS))
def test_panel_links_point_to_existing_runbooks(name: str, panel: dict[str, Any]) -> None:
    links = panel["links"]
    assert links, "every panel links to the runbook page of an alert it explains"
    base = variables(BOARDS[name])["runbook_base"]["query"]
    for link in links:
        url = link["url"]
        assert url.startswith("${runbook_base}/"), url
        page = RUNBOOK_DIR / url.removeprefix("${runbook_base}/")
        assert page.is_file(), f"{url} -> {page} does not exist"
        assert substitute(url, {"runbook_base": base}).startswith("https://")


def test_runbook_base_is_the_alerts_base_and_every_alert_is_linked() -> None:
    by_board: dict[str, set[str]] = {}
    for rule in rules():
        runbook = rule["annotations"]["runbook_url"]
        base, page = runbook.rsplit("/", 1)
        uid = rule["annotations"]["dashboard_url"].rsplit("/", 1)[1]
        board = BOARDS[f"{uid}.json"]
        assert variables(board)["runbook_base"]["query"] == base
        by_board.setdefault(uid, set()).add(page)
    for uid, pages in by_board.items():
        linked = {
            link["url"].rsplit("/", 1)[1]
            for p in data_panels(BOARDS[f"{uid}.json"])
            for link in p["links"]
        }
        assert pages <= linked, f"{uid}: no panel links {sorted(pages - linked)}"


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_variables_and_annotations_use_the_datasource_variable(name: str) -> None:
    board = BOARDS[name]
    vars_ = variables(board)
    ds = vars_["datasource"]
    assert ds["type"] == "datasource" and ds["query"] == "prometheus"
    for var in vars_.values():
        if var["type"] == "query":
            assert var["datasource"] == DS_REF
            label_values_args(variable_query(var))
    for ann in annotation_queries(board):
        assert ann["datasource"] == DS_REF and ann["expr"].strip()
    defined = set(vars_) | set(BUILTIN_VALUES)
    texts = [q.expr for q in queries(board)] + [a["expr"] for a in annotation_queries(board)]
    texts += [variable_query(v) for v in vars_.values() if v["type"] == "query"]
    for text in texts:
        assert used_variables(text) <= defined, text


def test_every_metric_is_in_the_contract() -> None:
    allowed = set(CATALOGUE) | set(REMEDIATOR_METRICS) | PROMETHEUS_SERIES
    for board in BOARDS.values():
        exprs = [q.expr for q in queries(board)] + [a["expr"] for a in annotation_queries(board)]
        exprs += [
            label_values_args(variable_query(v))[0]
            for v in variables(board).values()
            if v["type"] == "query"
        ]
        for expr in exprs:
            unknown = metric_names(expr) - allowed
            assert not unknown, f"{board['uid']}: {sorted(unknown)} in {expr}"


def test_selectors_match_only_labels_the_metric_has() -> None:
    """Catches a label typo even on panels the sandbox cannot fill (e.g. replica metrics)."""
    labels = {n: set(spec.labels) for n, spec in CATALOGUE.items()}
    labels |= {n: set(ls) for n, ls in REMEDIATOR_METRICS.items()}
    labels |= {"up": set(), "ALERTS": {"alertname", "alertstate", "severity", "procedure"}}
    target_labels = {"job", "instance", "cluster", "namespace"}
    for board in BOARDS.values():
        exprs = [q.expr for q in queries(board)] + [a["expr"] for a in annotation_queries(board)]
        exprs += [variable_query(v) for v in variables(board).values() if v["type"] == "query"]
        for expr in exprs:
            for metric, used in selector_labels(expr):
                assert used <= labels[metric] | target_labels, f"{metric}: {used} in {expr}"


def test_every_contract_metric_is_shown() -> None:
    """The overview shows every exporter metric; the remediation board every remediator one."""

    def shown(uid: str) -> set[str]:
        return {m for q in queries(BOARDS[f"{uid}.json"]) for m in metric_names(q.expr)}

    assert set(CATALOGUE) <= shown("torghut-ta-overview")
    assert set(REMEDIATOR_METRICS) <= shown("torghut-ta-remediation")


def test_remediator_metrics_are_documented_with_their_labels() -> None:
    doc = (REPO / "docs" / "metrics.md").read_text()
    for name, labels in REMEDIATOR_METRICS.items():
        [row] = [line for line in doc.splitlines() if line.startswith(f"| `{name}` |")]
        assert row.split("|")[2].strip() == ", ".join(labels), row


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ('time() - a_b{x=~"$t",y="z"}', {"a_b"}),
        ('max by (deployment) ((m{state="RUN"} == 1) * 3 or n == 1)', {"m", "n"}),
        ("predict_linear(free[1h], 4 * 3600) < 0", {"free"}),
        ("x + on (topic) group_left () max by (topic) (y > 0)", {"x", "y"}),
        ("sum(up{job='a'}) or vector(0)", {"up"}),
        ("1e3 * rate(c_total[$__rate_interval]) offset 5m", {"c_total"}),
    ],
)
def test_metric_names_scanner(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names


def test_substitute_refuses_unknown_variables() -> None:
    assert substitute('a{t=~"$table"}[${__range}]', {"table": "x", "__range": "5m"}) == (
        'a{t=~"x"}[5m]'
    )
    with pytest.raises(KeyError):
        substitute("a{t=~'$nope'}", {})


def test_files_are_pretty_printed_json() -> None:
    for path in DASHBOARD_DIR.glob("*.json"):
        text = path.read_text()
        assert text == json.dumps(json.loads(text), indent=2, ensure_ascii=False) + "\n"
