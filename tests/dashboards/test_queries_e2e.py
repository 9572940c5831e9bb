"""Every dashboard query evaluated on a real Prometheus that scrapes real targets.

Overview: the stack's Prometheus (`sandbox_stack`), which scrapes the real exporter as job
torghut-ta-exporter. Remediation: a Prometheus of this module scraping a STAND-IN remediator
(fake_remediator.py) as job torghut-ta-remediator, until the remediator exists.

Rule for "returns data": every query must evaluate without error, with the variables set to
picked values and to All (`.*`); every panel must have at least one query returning data,
except panels whose every metric is listed in SANDBOX_ABSENT (series the sandbox cannot
produce); every query variable must list at least one value. Annotation queries must evaluate;
the trading-session one must return data (the sandbox market is open around the clock).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path
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
    substitute,
    variable_query,
    variables,
)
from fake_remediator import FakeRemediator

from sandbox import prometheus
from sandbox.util import Service, apoll_until

pytestmark = pytest.mark.slow

BOARDS = {b["uid"]: b for b in boards().values()}
# Series the sandbox stack does not produce, and why; panels reading only these may be empty.
SANDBOX_ABSENT: dict[str, str] = {
    "torghut_ta_clickhouse_replica_readonly": "the stack's ClickHouse is not replicated",
    "torghut_ta_clickhouse_replica_session_expired": "the stack's ClickHouse is not replicated",
    "torghut_ta_clickhouse_replica_delay_seconds": "the stack's ClickHouse is not replicated",
    "torghut_ta_clickhouse_replica_queue_size": "the stack's ClickHouse is not replicated",
    "torghut_ta_flink_last_checkpoint_timestamp_seconds": "the stack runs no Flink REST API",
    "torghut_ta_flink_job_restarts": "the stack runs no Flink REST API",
}
PICKED = {
    "torghut-ta-overview": {
        "table": "ta_signals",
        "symbol": "NVDA",
        "deployment": "torghut-ta",
        "replica": "chi-0",
    },
    "torghut-ta-remediation": {"procedure": "A"},
}
DEADLINE_S = 90.0


def _values(board: Mapping[str, Any], picked: Mapping[str, str] | None) -> dict[str, str]:
    """Variable values: picked ones, or `.*` (All) for every query variable."""
    out = dict(BUILTIN_VALUES)
    for name, var in variables(board).items():
        if var["type"] == "query":
            out[name] = picked[name] if picked else var["allValue"]
    return out


async def evaluate(prom_url: str, board: Mapping[str, Any]) -> dict[str, list[str]]:
    """Run every panel query with picked values and with All; {panel title: problems}.
    A PrometheusError (a query Prometheus rejects) propagates at once."""
    problems: dict[str, list[str]] = {}
    for picked in (PICKED[board["uid"]], None):
        values = _values(board, picked)
        mode = "picked" if picked else "All"
        for panel in data_panels(board):
            empty = []
            for target in panel["targets"]:
                expr = substitute(target["expr"], values)
                try:
                    result = await prometheus.query(prom_url, expr)
                except prometheus.PrometheusError as exc:
                    raise prometheus.PrometheusError(
                        f"{panel['title']} {target['refId']} ({mode}): {exc}\n{expr}"
                    ) from exc
                if not result:
                    empty.append(target["refId"])
            if len(empty) < len(panel["targets"]):
                continue
            metrics = {m for t in panel["targets"] for m in metric_names(t["expr"])}
            if not metrics <= set(SANDBOX_ABSENT):
                problems.setdefault(panel["title"], []).append(f"{mode}: no target has data")
    return problems


async def label_values(prom_url: str, selector: str, label: str) -> list[str]:
    url = f"{prom_url}/api/v1/label/{label}/values"
    async with aiohttp.ClientSession() as s, s.get(url, params={"match[]": selector}) as resp:
        body = await resp.json()
    assert body["status"] == "success", body
    return list(body["data"])


async def check_board(prom_url: str, uid: str) -> None:
    """Poll (the first scrapes, then two samples for rates) until every panel has data."""
    board = BOARDS[uid]
    last: dict[str, list[str]] = {}
    rejected: list[prometheus.PrometheusError] = []

    async def settled() -> bool:
        nonlocal last
        try:
            last = await evaluate(prom_url, board)
        except prometheus.PrometheusError as exc:  # bad PromQL: waiting cannot help
            rejected.append(exc)
            return True
        return not last

    try:
        await apoll_until(settled, timeout=DEADLINE_S, interval=1.0, what=f"{uid} panels")
    except TimeoutError as exc:
        raise AssertionError(f"{uid}: panels without data: {last}") from exc
    assert not rejected, f"{uid}: Prometheus rejected a query: {rejected[0]}"

    picked = _values(board, PICKED[uid])
    for name, var in variables(board).items():
        if var["type"] == "query":
            selector, label = label_values_args(substitute(variable_query(var), picked))
            found = await label_values(prom_url, selector, label)
            assert found, f"variable {name}: {variable_query(var)} lists nothing"
            if name in PICKED[uid]:
                assert PICKED[uid][name] in found
    for ann in annotation_queries(board):
        await prometheus.query(prom_url, substitute(ann["expr"], picked))


@pytest.fixture(scope="module")
def fake_remediator() -> Iterator[FakeRemediator]:
    fake = FakeRemediator().start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture(scope="module")
def remediation_prometheus(
    tmp_path_factory: pytest.TempPathFactory, fake_remediator: FakeRemediator
) -> Iterator[Service]:
    workdir: Path = tmp_path_factory.mktemp("dashboards-prom")
    service = prometheus.launch_prometheus(
        workdir, scrape_targets=[("torghut-ta-remediator", fake_remediator.address)]
    )
    try:
        yield service
    finally:
        service.stop()


@pytest.fixture
async def stack_prometheus(sandbox_stack: dict[str, Any]) -> AsyncIterator[str]:
    url = str(sandbox_stack["prometheus"])
    await prometheus.wait_targets_up(url, ["torghut-ta-exporter"], timeout=60)
    yield url


async def test_overview_queries_return_data_on_the_stack(stack_prometheus: str) -> None:
    await check_board(stack_prometheus, "torghut-ta-overview")


async def test_job_state_panel_names_the_real_state(stack_prometheus: str) -> None:
    """The encoded state-timeline value maps back to the state the exporter reports."""
    board = BOARDS["torghut-ta-overview"]
    panel = next(p for p in data_panels(board) if p["title"] == "Job state")
    mapping = panel["fieldConfig"]["defaults"]["mappings"][0]["options"]
    expr = substitute(panel["targets"][0]["expr"], _values(board, PICKED[board["uid"]]))

    async def both() -> tuple[list[dict[str, Any]], list[dict[str, Any]]] | None:
        coded = await prometheus.query(stack_prometheus, expr)
        raw = await prometheus.query(
            stack_prometheus, 'torghut_ta_flink_job_state{deployment="torghut-ta"} == 1'
        )
        return (coded, raw) if coded and raw else None

    coded, raw = await apoll_until(both, timeout=DEADLINE_S, interval=1.0, what="job state")
    code = str(int(float(coded[0]["value"][1])))
    assert mapping[code]["text"] == raw[0]["metric"]["state"]


async def test_remediation_queries_return_data(
    remediation_prometheus: Service, fake_remediator: FakeRemediator
) -> None:
    url = remediation_prometheus.endpoints["prometheus"]
    await prometheus.wait_targets_up(url, ["torghut-ta-remediator"], timeout=30)
    fake_remediator.bump()
    await check_board(url, "torghut-ta-remediation")
    failed = 'sum(increase(torghut_ta_remediation_runs_total{outcome="failed"}[5m]))'

    async def counted() -> float | None:
        fake_remediator.bump()
        result = await prometheus.query(url, failed)
        value = float(result[0]["value"][1]) if result else 0.0
        return value if value > 0 else None

    assert await apoll_until(counted, timeout=30, interval=1.0, what="failed runs counted") > 0


async def test_a_broken_query_is_reported(remediation_prometheus: Service) -> None:
    """The check relies on Prometheus rejecting bad PromQL with an error, not an empty result."""
    url = remediation_prometheus.endpoints["prometheus"]
    with pytest.raises(prometheus.PrometheusError, match="parse error"):
        await prometheus.query(url, "sum by (code (torghut_ta_remediation_paused)")
