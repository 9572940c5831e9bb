"""Every dashboard query evaluated on a real Prometheus that scrapes real targets.

One Prometheus of this module (`dashboards_prometheus`, conftest.py) holds two installs
(e2e_env.py). Install A scrapes, as job torghut-ta-exporter, the sandbox stack's exporter (instance `stack`: plain MergeTree ClickHouse
`chi-0`, the stack's Kafka, Kubernetes stand-in, checkpoint storage and Jangar) and a second
real exporter (instance `watch`: the replicated ClickHouse `chi-1` on a real ZooKeeper, whose
read-only replicas fill system.replicas, and the real Flink cluster's REST API), and, as job
torghut-ta-remediator, the stack's real remediator (`ta-remediator serve`), which journals a
real run before the Remediation board is checked. Install B is the stack's exporter scraped
again under B's labels with only its (renamed) probe health kept: filtered to one install, every
panel shows only that install's series.

Rule: every panel query is run with the variables set to picked values and to All (`.*`);
none may be rejected; every panel has at least one query returning data; every query returns
data except the CONDITIONAL ones (series that exist only in a situation the sandbox is not in);
every query variable lists values; annotation queries evaluate. The real Flink tier (JDK +
apache-flink) is part of the test environment: without it these tests fail, they never skip.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import aiohttp
import pytest
from dashboard_lib import (
    BUILTIN_VALUES,
    annotation_queries,
    boards,
    data_panels,
    label_values_args,
    metric_names,
    regex_values,
    substitute,
    variable_query,
    variables,
)
from e2e_env import (
    EXPORTER_JOB,
    INSTALL_A,
    INSTALL_B,
    PER_INSTALL_ALERT,
    REMEDIATOR_JOB,
    STACK_REPLICA,
    WATCH_REPLICA,
    FlinkRest,
    scope_problems,
)

from sandbox import prometheus
from sandbox.flink import job_metric
from sandbox.testing import remediator as rem
from sandbox.testing.clickhouse import ClickHouseServer
from sandbox.util import apoll_until

pytestmark = pytest.mark.slow

BOARDS = {b["uid"]: b for b in boards().values()}
OVERVIEW, REMEDIATION = "torghut-ta-overview", "torghut-ta-remediation"
# Variable values picked as a user would (a tuple is a multi-value pick).
PICKED: dict[str, dict[str, str | tuple[str, ...]]] = {
    OVERVIEW: {
        **INSTALL_A,
        "table": "ta_signals",
        "symbol": "NVDA",
        "deployment": "torghut-ta",
        "replica": (STACK_REPLICA, WATCH_REPLICA),
    },
    REMEDIATION: {**INSTALL_A, "procedure": "A"},
}
# (board, panel, refId) -> why it may be empty: series that exist only in some situation.
CONDITIONAL: dict[tuple[str, str, str], str] = {
    (OVERVIEW, "Disk forecast", "B"): "time until full exists only while a disk is filling",
    (OVERVIEW, "Checkpoint age", "C"): "exists only while the job has never completed a checkpoint",
}
FLINK_REST_METRICS = frozenset(
    {
        "torghut_ta_flink_last_checkpoint_timestamp_seconds",
        "torghut_ta_flink_job_restarts",
        "torghut_ta_flink_job_start_timestamp_seconds",
        "torghut_ta_flink_checkpoint_interval_seconds",
    }
)
DEADLINE_S = 120.0

Target = tuple[str, str]  # (panel title, refId)


def _values(board: Mapping[str, Any], picked: bool) -> dict[str, str]:
    """Variable values: the picked ones, or `.*` (All) for every query variable."""
    out = dict(BUILTIN_VALUES)
    for name, var in variables(board).items():
        if var["type"] == "query":
            out[name] = regex_values(PICKED[board["uid"]][name]) if picked else var["allValue"]
    return out


def _panel_target(board: Mapping[str, Any], title: str, ref: str) -> str:
    panel = next(p for p in data_panels(board) if p["title"] == title)
    return next(t["expr"] for t in panel["targets"] if t["refId"] == ref)


def _reads_flink_rest(expr: str) -> bool:
    return metric_names(expr) <= FLINK_REST_METRICS


async def evaluate(prom_url: str, board: Mapping[str, Any], *, picked: bool) -> set[Target]:
    """Run every panel query; the targets that returned nothing. A query Prometheus rejects
    raises PrometheusError naming the panel."""
    values = _values(board, picked)
    empty: set[Target] = set()
    for panel in data_panels(board):
        for target in panel["targets"]:
            expr = substitute(target["expr"], values)
            try:
                result = await prometheus.query(prom_url, expr)
            except prometheus.PrometheusError as exc:
                mode = "picked" if picked else "All"
                raise prometheus.PrometheusError(
                    f"{panel['title']} {target['refId']} ({mode}): {exc}\n{expr}"
                ) from exc
            if not result:
                empty.add((panel["title"], target["refId"]))
    return empty


def problems(board: Mapping[str, Any], empty: set[Target], *, flink: bool) -> list[str]:
    """Panels without any data, and empty targets that are not allowed to be."""
    out = []
    for panel in data_panels(board):
        refs = [t["refId"] for t in panel["targets"]]
        if all((panel["title"], r) in empty for r in refs):
            out.append(f"{panel['title']}: no target has data")
            continue
        for t in panel["targets"]:
            if (panel["title"], t["refId"]) not in empty:
                continue
            if (board["uid"], panel["title"], t["refId"]) in CONDITIONAL:
                continue
            if not flink and _reads_flink_rest(t["expr"]):
                continue
            out.append(f"{panel['title']} {t['refId']}: empty")
    return out


async def label_values(prom_url: str, selector: str, label: str) -> list[str]:
    url = f"{prom_url}/api/v1/label/{label}/values"
    async with aiohttp.ClientSession() as s, s.get(url, params={"match[]": selector}) as resp:
        body = await resp.json()
    assert body["status"] == "success", body
    return list(body["data"])


async def check_board(prom_url: str, uid: str, *, flink: bool = True) -> None:
    """Poll (first scrapes, probe cycles, two samples for rates) until every query that must
    return data does, with picked values and with All; then the variables and annotations."""
    board = BOARDS[uid]
    last: dict[str, list[str]] = {}
    rejected: list[prometheus.PrometheusError] = []

    async def settled() -> bool:
        nonlocal last
        try:
            for picked in (True, False):
                empty = await evaluate(prom_url, board, picked=picked)
                last["picked" if picked else "All"] = problems(board, empty, flink=flink)
        except prometheus.PrometheusError as exc:  # bad PromQL: waiting cannot help
            rejected.append(exc)
            return True
        return not any(last.values())

    try:
        await apoll_until(settled, timeout=DEADLINE_S, interval=1.0, what=f"{uid} panels")
    except TimeoutError as exc:
        raise AssertionError(f"{uid}: queries without data: {last}") from exc
    assert not rejected, f"{uid}: Prometheus rejected a query: {rejected[0]}"

    picked = _values(board, picked=True)
    for name, var in variables(board).items():
        if var["type"] != "query":
            continue
        selector, label = label_values_args(substitute(variable_query(var), picked))
        found = await label_values(prom_url, selector, label)
        assert found, f"variable {name}: {variable_query(var)} lists nothing"
        wanted = PICKED[uid][name]
        assert set((wanted,) if isinstance(wanted, str) else wanted) <= set(found), (name, found)
    for ann in annotation_queries(board):
        await prometheus.query(prom_url, substitute(ann["expr"], picked))


async def test_both_exporters_scraped_as_one_job(dashboards_prometheus: str) -> None:
    targets = await prometheus.wait_targets_up(
        dashboards_prometheus, [EXPORTER_JOB, REMEDIATOR_JOB], timeout=60
    )
    instances = sorted(
        (t["labels"]["cluster"], t["labels"]["instance"])
        for t in targets
        if t["labels"]["job"] == EXPORTER_JOB
    )
    assert instances == [("east", "stack"), ("east", "watch"), ("west", "stack-b")]


async def test_overview_every_query_returns_data(
    dashboards_prometheus: str, flink_rest: FlinkRest
) -> None:
    await prometheus.wait_targets_up(dashboards_prometheus, [EXPORTER_JOB], timeout=60)
    await check_board(dashboards_prometheus, OVERVIEW, flink=flink_rest.url is not None)


async def test_flink_rest_series_reach_the_overview(
    dashboards_prometheus: str, flink_rest: FlinkRest
) -> None:
    """Checkpoint age and numRestarts panels show the real cluster's job (its numRestarts)."""
    assert flink_rest.url is not None
    board = BOARDS[OVERVIEW]
    values = _values(board, picked=True)
    age_expr = substitute(_panel_target(board, "Checkpoint age", "A"), values)
    restarts_expr = substitute(_panel_target(board, "Job restarts and restart nonce", "A"), values)

    async def both() -> tuple[list[dict[str, Any]], list[dict[str, Any]]] | None:
        age = await prometheus.query(dashboards_prometheus, age_expr)
        restarts = await prometheus.query(dashboards_prometheus, restarts_expr)
        return (age, restarts) if age and restarts else None

    age, restarts = await apoll_until(both, timeout=DEADLINE_S, interval=1.0, what="flink rest")
    assert [s["metric"]["instance"] for s in age] == ["watch"]
    assert 0 <= float(age[0]["value"][1]) < DEADLINE_S  # the job checkpoints every second
    jobs = await prometheus.query(dashboards_prometheus, "torghut_ta_flink_job_restarts")
    assert len(jobs) == 1
    # the probe picks the newest live job named torghut-ta; compare with what Flink says of it
    overview = await _flink_jobs(flink_rest.url)
    live = [j for j in overview if j["name"] == "torghut-ta" and j["state"] == "RUNNING"]
    newest = max(live, key=lambda j: j["start-time"])
    reported = await job_metric(flink_rest.url, newest["jid"], "numRestarts")
    assert reported is not None
    assert float(restarts[0]["value"][1]) == float(reported)


async def _flink_jobs(rest_url: str) -> list[dict[str, Any]]:
    async with aiohttp.ClientSession() as s, s.get(f"{rest_url}/jobs/overview") as resp:
        return list((await resp.json())["jobs"])


async def test_replica_panel_shows_the_read_only_replicas(
    dashboards_prometheus: str, replicated_clickhouse: ClickHouseServer
) -> None:
    """The replica panel reads system.replicas of the replicated server (read-only in chdb)."""
    board = BOARDS[OVERVIEW]
    expr = substitute(
        _panel_target(board, "Replica read-only / session expired", "A"),
        _values(board, picked=True),
    )
    client = replicated_clickhouse.client(autogenerate_session_id=False)
    try:
        rows = client.query(
            "SELECT table, is_readonly FROM system.replicas WHERE database = 'torghut'"
        ).result_rows
    finally:
        client.close()
    assert rows, "the replicated server has no replicas"

    async def shown() -> dict[str, float] | None:
        result = await prometheus.query(dashboards_prometheus, expr)
        got = {s["metric"]["table"]: float(s["value"][1]) for s in result}
        return got if len(got) == len(rows) else None

    got = await apoll_until(shown, timeout=DEADLINE_S, interval=1.0, what="replica series")
    assert got == {table: float(readonly) for table, readonly in rows}


async def test_job_state_panel_names_the_real_state(dashboards_prometheus: str) -> None:
    """The encoded state-timeline value maps back to the state the exporters report."""
    board = BOARDS[OVERVIEW]
    panel = next(p for p in data_panels(board) if p["title"] == "Job state")
    mapping = panel["fieldConfig"]["defaults"]["mappings"][0]["options"]
    expr = substitute(panel["targets"][0]["expr"], _values(board, picked=True))

    async def both() -> tuple[list[dict[str, Any]], list[dict[str, Any]]] | None:
        coded = await prometheus.query(dashboards_prometheus, expr)
        raw = await prometheus.query(
            dashboards_prometheus, 'torghut_ta_flink_job_state{deployment="torghut-ta"} == 1'
        )
        return (coded, raw) if coded and raw else None

    coded, raw = await apoll_until(both, timeout=DEADLINE_S, interval=1.0, what="job state")
    assert len(coded) == 1, "one row per deployment, whatever the number of exporters"
    code = str(int(float(coded[0]["value"][1])))
    assert mapping[code]["text"] in {s["metric"]["state"] for s in raw}


def _one_real_run(stack: Mapping[str, Any]) -> dict[str, Any]:
    """A procedure A alert posted to the remediator's webhook, triaged on the stack's real probes
    (observe mode: refused or observed), then resolved: the run ends and is counted."""
    labels = {"procedure": "A", "severity": "critical", "deployment": "torghut-ta"}
    firing = rem.alert("TAFlinkJobFailed", test="dashboards", **labels)
    status, body = rem.post_webhook(stack, rem.notification(firing))
    assert status == 202 and len(body["runs"]) == 1, body
    run_id = body["runs"][0]
    rem.wait_run(
        stack, run_id, lambda r: r["state"] not in ("new", "triage", "retriage"), what="triaged"
    )
    resolved = rem.alert("TAFlinkJobFailed", "resolved", test="dashboards", **labels)
    status, body = rem.post_webhook(stack, rem.notification(resolved))
    assert status == 202, body
    return rem.wait_run(stack, run_id, lambda r: r["outcome"] is not None, what="run ended")


async def test_remediation_queries_return_data(
    dashboards_prometheus: str, sandbox_stack: dict[str, Any]
) -> None:
    url = dashboards_prometheus
    await prometheus.wait_targets_up(url, [REMEDIATOR_JOB], timeout=60)
    run = await asyncio.to_thread(_one_real_run, sandbox_stack)
    assert run["procedure"] == "A" and run["outcome"] in ("refused", "observed", "escalated")
    await check_board(url, REMEDIATION)
    ended = (
        "sum(increase(torghut_ta_remediation_runs_total"
        f'{{procedure="A",outcome="{run["outcome"]}"}}[5m]))'
    )

    async def counted() -> float | None:
        result = await prometheus.query(url, ended)
        value = float(result[0]["value"][1]) if result else 0.0
        return value if value > 0 else None

    assert await apoll_until(counted, timeout=60, interval=1.0, what="the run counted") > 0


async def test_a_broken_query_is_reported(dashboards_prometheus: str) -> None:
    """The check relies on Prometheus rejecting bad PromQL with an error, not an empty result."""
    with pytest.raises(prometheus.PrometheusError, match="parse error"):
        await prometheus.query(
            dashboards_prometheus, "sum by (code (torghut_ta_remediation_paused)"
        )


def _install_values(board: Mapping[str, Any], install: Mapping[str, str]) -> dict[str, str]:
    """One install picked (cluster, namespace), every other variable All."""
    return _values(board, picked=False) | dict(install)


async def _per_install_alerts(url: str) -> bool:
    result = await prometheus.query(url, f'ALERTS{{alertname="{PER_INSTALL_ALERT}"}}')
    return {s["metric"].get("cluster") for s in result} == {"east", "west"}


async def test_each_install_sees_only_its_own_series(dashboards_prometheus: str) -> None:
    """Filtered to install A, no panel shows B's series; filtered to B (exporter up, data gone),
    data panels are empty, stage tiles UNKNOWN, probe health and alerts are B's own."""
    url = dashboards_prometheus
    await prometheus.wait_targets_up(url, [EXPORTER_JOB, REMEDIATOR_JOB], timeout=60)
    await apoll_until(
        lambda: _per_install_alerts(url), timeout=DEADLINE_S, interval=1.0, what="alerts"
    )
    for uid in (OVERVIEW, REMEDIATION):
        board = BOARDS[uid]
        for mine, install in (("A", INSTALL_A), ("B", INSTALL_B)):
            values = _install_values(board, install)
            results = {
                (p["title"], t["refId"]): await prometheus.query(url, substitute(t["expr"], values))
                for p in data_panels(board)
                for t in p["targets"]
            }
            assert not scope_problems(board, results, mine=mine), (uid, mine)
    overview = BOARDS[OVERVIEW]
    up = _panel_target(overview, "Exporter targets up", "A")
    counts = {}
    for mine, install in (("A", INSTALL_A), ("B", INSTALL_B)):
        [row] = await prometheus.query(url, substitute(up, _install_values(overview, install)))
        counts[mine] = float(row["value"][1])
    assert counts == {"A": 2.0, "B": 1.0}
    alerts = _panel_target(overview, "Firing TA alerts", "A")
    for install in (INSTALL_A, INSTALL_B):
        rows = await prometheus.query(url, substitute(alerts, _install_values(overview, install)))
        mine_ = [r["metric"] for r in rows if r["metric"]["alertname"] == PER_INSTALL_ALERT]
        assert [(m["cluster"], m["namespace"]) for m in mine_] == [
            (install["cluster"], install["namespace"])
        ]
