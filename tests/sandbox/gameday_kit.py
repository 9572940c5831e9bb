"""Helpers of the game-day tests (`test_scenarios_*e2e.py`): the demo stack started as a user
starts it, `ta-sandbox scenario NAME --json` run as a user runs it, and what the tests read
afterwards (runs, git, the FlinkDeployment, ClickHouse, metrics, the overview dashboard's
panels on the stack's own Prometheus)."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from sandbox import scenario_io as io
from sandbox import stack as sandbox_stack
from sandbox.cli import summary
from sandbox.testing.remediator import RUNS, STEPS, Samples, metric, metrics
from sandbox.util import poll_until

DASHBOARDS_TESTS = Path(__file__).resolve().parents[1] / "dashboards"
if str(DASHBOARDS_TESTS) not in sys.path:
    sys.path.insert(0, str(DASHBOARDS_TESTS))

from dashboard_lib import (  # noqa: E402
    BUILTIN_VALUES,
    boards,
    data_panels,
    metric_names,
    substitute,
    variables,
)

BOARDS = ("torghut-ta-overview", "torghut-ta-remediation")
# the stack's exporter reads no Flink REST API (the kube stand-in has none): panels fed only by
# these series are empty here by construction (tests/dashboards covers them on real Flink)
FLINK_REST_ONLY = frozenset(
    {
        "torghut_ta_flink_last_checkpoint_timestamp_seconds",
        "torghut_ta_flink_job_restarts",
        "torghut_ta_flink_job_start_timestamp_seconds",
        "torghut_ta_flink_checkpoint_interval_seconds",
    }
)
# on the plain stack no table is replicated, so system.replicas is empty and these series do not
# exist (tests/dashboards covers them on a replicated server)
REPLICA_SERIES = "torghut_ta_clickhouse_replica_"
# a replicated stack's chdb replicas are read-only from the start: the TA job never writes a
# row, so these series (freshness, table sizes, partitions, checkpoints) never exist there
NEVER_WRITTEN_WHEN_REPLICATED = frozenset(
    {
        "torghut_ta_market_open",  # only next to the others in these panels' queries
        "torghut_ta_replica_table_last_event_timestamp_seconds",
        "torghut_ta_table_last_event_timestamp_seconds",
        "torghut_ta_signals_last_event_timestamp_seconds",
        "torghut_ta_symbol_last_event_timestamp_seconds",
        "torghut_ta_api_last_event_timestamp_seconds",
        "torghut_ta_checkpoint_storage_last_write_timestamp_seconds",
        "torghut_ta_clickhouse_table_bytes",
        "torghut_ta_clickhouse_partition_bytes",
        "torghut_ta_clickhouse_oldest_partition_timestamp_seconds",
    }
)
# empty is the healthy answer of these: no TA alert firing, no unconsumed record in Kafka (the
# remediator's counters are seeded at zero, so its panels always have data)
EMPTY_WHEN_HEALTHY = frozenset({"ALERTS", "torghut_ta_kafka_oldest_unconsumed_timestamp_seconds"})


def cli(*args: str, timeout: float = 1800) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sandbox.cli", *args],
        capture_output=True, text=True, check=False, timeout=timeout,
    )  # fmt: skip


def demo_up(workdir: Path, *extra: str) -> tuple[dict[str, Any], str]:
    """`ta-sandbox up --demo EXTRA` as `make sandbox` runs it: (status plus `dir`, stdout).
    The caller runs `down` whatever happens."""
    done = cli("up", "--dir", str(workdir), "--demo", *extra, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    status: dict[str, Any] = summary(workdir)
    status["dir"] = str(workdir)
    return status, done.stdout


def down(workdir: Path) -> None:
    sandbox_stack.down(workdir, log=lambda _m: None)


def scenario(status: dict[str, Any], name: str, *args: str) -> tuple[int, dict[str, Any], str]:
    """`ta-sandbox scenario NAME --json ARGS`: (exit code, the timeline, stderr)."""
    done = cli("scenario", name, "--dir", status["dir"], "--json", *args)
    timeline = json.loads(done.stdout) if done.stdout.strip() else {}
    return done.returncode, timeline, done.stderr


def first(timeline: dict[str, Any], event: str, **match: Any) -> dict[str, Any]:
    """The first event of that kind whose fields include `match` (AssertionError if none)."""
    for e in timeline["events"]:
        if e["event"] == event and all(
            (m in e.get(k, "")) if k == "detail" else e.get(k) == m for k, m in match.items()
        ):
            return dict(e)
    raise AssertionError(f"no {event} {match} in the timeline: {timeline['events']}")


def ended_runs(timeline: dict[str, Any], procedure: str) -> list[dict[str, Any]]:
    return [e for e in timeline["events"] if e["event"] == "ended" and e["procedure"] == procedure]


def run(status: dict[str, Any], run_id: str) -> dict[str, Any]:
    return dict(io.remediator(status, "GET", f"/runs/{run_id}"))


def git(status: dict[str, Any], *args: str) -> str:
    return subprocess.run(
        ["git", "--git-dir", status["git_remote"], *args],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout  # fmt: skip


def run_commit_steps(status: dict[str, Any], run_id: str) -> list[str]:
    """The `Remediator-Step` of each commit on main that carries the run, oldest first."""
    steps = []
    for sha in git(status, "log", "--no-merges", "--reverse", "--format=%H", "main").split():
        message = git(status, "show", "-s", "--format=%B", sha)
        if f"Remediator-Run: {run_id}" in message:
            steps.append(message.split("Remediator-Step: ", 1)[1].split()[0])
    return steps


def trading_in_git(status: dict[str, Any]) -> str:
    text = git(status, "show", "main:argocd/applications/torghut/knative-service.yaml")
    lines = text.splitlines()
    i = next(n for n, ln in enumerate(lines) if "name: TRADING_ENABLED" in ln)
    return lines[i + 1].split("value:", 1)[1].strip().strip('"')


def partitions(status: dict[str, Any]) -> set[str]:
    import clickhouse_connect

    host, _, port = status["clickhouse_http"].removeprefix("http://").rpartition(":")
    client = clickhouse_connect.get_client(
        host=host, port=int(port), username=status["clickhouse_ops_user"],
        password=Path(status["clickhouse_ops_password_file"]).read_text(),
    )  # fmt: skip
    try:
        rows = client.query(
            "SELECT DISTINCT partition FROM system.parts WHERE active AND database = 'torghut' "
            "AND table = 'ta_microbars'"
        ).result_rows
    finally:
        client.close()
    return {str(r[0]) for r in rows}


def delta(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return metric(after, name, **labels) - metric(before, name, **labels)


def _query(prom: str, expr: str) -> list[Any]:
    url = f"{prom}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=30) as resp:
        body = json.loads(resp.read())
    assert body["status"] == "success", (expr, body)
    return list(body["data"]["result"])


def _by_construction_empty(expr: str, replicated: bool) -> bool:
    names = metric_names(expr)
    if names <= FLINK_REST_ONLY or names & EMPTY_WHEN_HEALTHY:
        return True
    if replicated:
        return names <= NEVER_WRITTEN_WHEN_REPLICATED | FLINK_REST_ONLY
    return all(n.startswith(REPLICA_SERIES) for n in names)


def panels_without_data(prom: str, *, replicated: bool = False) -> list[str]:
    """`board: panel` of the overview and remediation dashboards (variables at All) none of
    whose queries returns data on `prom`."""
    missing = []
    for board in (b for b in boards().values() if b["uid"] in BOARDS):
        values = dict(BUILTIN_VALUES)
        for name, var in variables(board).items():
            if var["type"] == "query":
                values[name] = var["allValue"]
        for panel in data_panels(board):
            exprs = [substitute(t["expr"], values) for t in panel["targets"]]
            if all(_by_construction_empty(e, replicated) for e in exprs):
                continue
            if not any(_query(prom, e) for e in exprs):
                missing.append(f"{board['uid']}: {panel['title']}")
    return missing


def assert_dashboards_have_data(status: dict[str, Any], timeout: float = 240) -> None:
    """Every panel of both dashboards returns data again (polled: rates need two scrapes)."""
    last: list[str] = []

    def settled() -> bool:
        replicated = status.get("replicated") == "true"
        last[:] = panels_without_data(status["prometheus"], replicated=replicated)
        return not last

    try:
        poll_until(settled, timeout=timeout, interval=3.0, what="every dashboard panel with data")
    except TimeoutError:
        raise AssertionError(f"dashboard panels without data after the scenario: {last}") from None


def in_order(timeline: dict[str, Any], *events: dict[str, Any]) -> None:
    """The events were seen in this order (the timeline's order, which follows the cause:
    `sandbox.scenario_run.observe`), each after the injection. Their `at`s are not compared:
    a run's and a step's are the journal's own, an alert's is when a poll saw it."""
    position = [timeline["events"].index(e) for e in events]
    assert position == sorted(position), [(e["event"], e["detail"], e["t"]) for e in events]
    assert all(e["t"] is not None and e["t"] >= 0 for e in events), events


def assert_disk_full_healed(
    status: dict[str, Any], timeline: dict[str, Any], before: dict[Any, float]
) -> None:
    """`disk-full`'s outcome where it lands: the timeline's order, the journal, ClickHouse's
    partitions, the commits of the run, trading paused for a person, the job running again and
    the remediator's metrics (`before`: its metrics at the injection)."""
    (ended,) = ended_runs(timeline, "A")
    rid = ended["run"]
    in_order(
        timeline,
        first(timeline, "inject"),
        first(timeline, "condition", detail="clickhouse-disk"),
        first(timeline, "alert", name="TAFlinkJobFailed", state="pending"),
        first(timeline, "alert", name="TAFlinkJobFailed", state="firing"),
        first(timeline, "webhook", run=rid),
        first(timeline, "step", step="pause_trading", status="done"),
        first(timeline, "step", step="suspend_job", status="done"),
        first(timeline, "step", step="drop_partition", status="done"),
        first(timeline, "step", step="resume_job", status="done"),
        first(timeline, "step", step="verify_freshness", status="done"),
        first(timeline, "outcome"),
    )
    journaled = run(status, rid)
    assert journaled["outcome"] == "succeeded" and "trading stays paused" in journaled["reason"]
    drops = [s["target"]["partition"] for s in journaled["steps"] if s["name"] == "drop_partition"]
    at = timeline["injected_at"]  # the days the injection chose, were midnight passed since
    old = [str(d) for d in io.days_ago(10, 9, at=at)]
    assert drops == old, drops
    assert not set(old) & partitions(status)  # ClickHouse: the old days gone
    assert str(io.days_ago(0, at=at)[0]) in partitions(status)  # the day of the fault kept
    assert run_commit_steps(status, rid) == ["pause_trading", "suspend_job", "resume_job"]
    assert trading_in_git(status) == "false"  # trading stays paused for a person
    job = io.job(status)
    assert (job["desiredState"], job["jobState"]) == ("running", "RUNNING"), job
    after = metrics(status)
    assert delta(before, after, RUNS, procedure="A", outcome="succeeded") == 1
    assert delta(before, after, STEPS, procedure="A", step="drop_partition", outcome="done") == 2
