"""Game days: each scenario of `ta-sandbox scenario` on one demo stack (`ta-sandbox up --demo`,
as `make sandbox` starts it, with `--alert-pace fast --timings fast`), through the real path:
the exporter -> the stack's Prometheus with the project's rules -> its Alertmanager with the
shipped route -> the remediator's webhook -> git, the GitHub stand-in, Argo CD, the operator,
ClickHouse. Each test runs the scenario as a user does (exit code, `--json` timeline), then
asserts the outcome where it lands: the journal (the API), the git history, the stand-in's
objects, ClickHouse, the remediator's metrics, and the overview dashboard's panels.

The scenarios share the stack: each starts from the healthy baseline the scenario itself
restores (job running, fresh signals, trading on) and undoes its fault at the end.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gameday_kit import (
    RUNS,
    assert_dashboards_have_data,
    assert_disk_full_healed,
    delta,
    demo_up,
    down,
    ended_runs,
    first,
    in_order,
    metrics,
    partitions,
    run,
    run_commit_steps,
    scenario,
    trading_in_git,
)

from sandbox import scenario_io as io

pytestmark = [pytest.mark.slow, pytest.mark.gameday, pytest.mark.timeout(1800)]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, Any], str]]:
    assert io.os.geteuid() == 0, "the demo's ClickHouse disk is a tmpfs: these tests need root"
    workdir = tmp_path_factory.mktemp("gameday") / "stack"
    try:
        yield demo_up(workdir, "--alert-pace", "fast", "--timings", "fast")
    finally:
        down(workdir)


@pytest.fixture
def stack(demo: tuple[dict[str, Any], str]) -> dict[str, Any]:
    return demo[0]


def _gate_paused(stack: dict[str, Any], timeline: dict[str, Any], before: dict[Any, float]) -> str:
    """The trading gate's run in the timeline, the journal, git and the metrics."""
    (ended,) = ended_runs(timeline, "trading_gate")
    rid = ended["run"]
    journaled = run(stack, rid)
    assert journaled["outcome"] == "succeeded", journaled
    assert [s["name"] for s in journaled["steps"]] == ["pause_trading", "verify_trading_paused"]
    assert run_commit_steps(stack, rid) == ["pause_trading"]
    assert trading_in_git(stack) == "false"
    firing = first(timeline, "alert", name="TATradingOnStaleSignals", state="firing")
    routed = first(timeline, "routed", name="TATradingOnStaleSignals")
    assert "torghut-ta-remediator" in routed["receivers"]
    in_order(timeline, firing, first(timeline, "webhook", run=rid), ended)
    after = metrics(stack)
    assert delta(before, after, RUNS, procedure="trading_gate", outcome="succeeded") == 1
    return rid


def test_the_demo_prints_the_product_and_what_to_try(demo: tuple[dict[str, Any], str]) -> None:
    stack, out = demo
    assert "remediator mode: auto" in out, out
    for key in ("prometheus", "alertmanager", "exporter", "remediator"):
        assert stack[key] in out, (key, out)
    assert f"{stack['exporter']}/report" in out
    assert "ClickHouse disk 64MiB tmpfs" in out
    assert "ta-sandbox scenario disk-full" in out and "scenario --list" in out
    assert stack["remediator_mode"] == "auto" and stack["alert_pace"] == "fast"


def test_disk_full_procedure_a_heals_it(stack: dict[str, Any]) -> None:
    before = metrics(stack)
    code, timeline, err = scenario(stack, "disk-full")
    assert code == 0, (err, timeline.get("why"))
    assert_disk_full_healed(stack, timeline, before)
    assert_dashboards_have_data(stack)


def test_disk_pressure_reclaims_old_partitions_without_touching_the_job(
    stack: dict[str, Any],
) -> None:
    before = metrics(stack)
    generation = io.job(stack)["generation"]
    code, timeline, err = scenario(stack, "disk-pressure")
    assert code == 0, (err, timeline.get("why"))

    (ended,) = ended_runs(timeline, "A")
    journaled = run(stack, ended["run"])
    assert [s["name"] for s in journaled["steps"]][-1] == "verify_disk", journaled["steps"]
    assert "suspend_job" not in [s["name"] for s in journaled["steps"]]
    injected = io.days_ago(12, 11, at=timeline["injected_at"])
    assert not {str(d) for d in injected} & partitions(stack)
    assert io.job(stack)["generation"] == generation  # never suspended nor restarted
    assert run_commit_steps(stack, ended["run"]) == []  # nothing through git
    first(timeline, "alert", name="TAClickHouseDiskPressure", state="firing")
    assert delta(before, metrics(stack), RUNS, procedure="A", outcome="succeeded") == 1
    assert_dashboards_have_data(stack)


def test_stale_signals_with_trading_on_the_gate_pauses_trading(stack: dict[str, Any]) -> None:
    before = metrics(stack)
    code, timeline, err = scenario(stack, "stale-signals-trading-on")
    assert code == 0, (err, timeline.get("why"))
    assert "resuming it as `scenario`" in err  # the baseline: trading on, a person's decision
    _gate_paused(stack, timeline, before)
    assert not ended_runs(timeline, "A") and not ended_runs(timeline, "B")
    assert_dashboards_have_data(stack)


def test_flink_failed_not_disk_pages_a_person_and_the_gate_pauses(stack: dict[str, Any]) -> None:
    before = metrics(stack)
    code, timeline, err = scenario(stack, "flink-failed")
    assert code == 0, (err, timeline.get("why"))
    routed = first(timeline, "routed", name="TAFlinkJobFailed")
    assert routed["receivers"] == ["null"], routed  # a person's route, not the remediator's
    assert first(timeline, "alert", name="TAFlinkJobFailed")["labels"]["procedure"] == "none"
    _gate_paused(stack, timeline, before)
    assert delta(before, metrics(stack), RUNS, procedure="A", outcome="succeeded") == 0
    assert_dashboards_have_data(stack)


def test_clickhouse_outage_signals_unknown_the_gate_pauses(stack: dict[str, Any]) -> None:
    before = metrics(stack)
    code, timeline, err = scenario(stack, "clickhouse-outage")
    assert code == 0, (err, timeline.get("why"))
    gate = first(timeline, "alert", name="TATradingOnStaleSignals", state="firing")
    assert gate["labels"]["signals"] == "unknown", gate
    _gate_paused(stack, timeline, before)
    assert_dashboards_have_data(stack)


def test_kafka_outage_probe_alerts_no_procedure_and_the_gate_pauses(
    stack: dict[str, Any],
) -> None:
    before = metrics(stack)
    code, timeline, err = scenario(stack, "kafka-outage")
    assert code == 0, (err, timeline.get("why"))
    probe = first(timeline, "alert", name="TAExporterProbeFailing", state="firing")
    assert probe["labels"]["probe"].startswith("kafka"), probe
    _gate_paused(stack, timeline, before)
    assert not ended_runs(timeline, "A") and not ended_runs(timeline, "B")
    assert_dashboards_have_data(stack)


def test_replicated_scenarios_refuse_a_plain_stack(stack: dict[str, Any]) -> None:
    for name in ("replica-readonly", "keeper-outage"):
        code, timeline, err = scenario(stack, name)
        assert code == 64 and "needs a --replicated stack" in err, (name, err)
        assert timeline == {}


def test_the_timeline_is_printed_live_without_json(stack: dict[str, Any]) -> None:
    from gameday_kit import cli

    done = cli("scenario", "stale-signals-trading-on", "--dir", stack["dir"], "--timeout", "1")
    assert done.returncode == 124, done.stdout + done.stderr  # no outcome within a second
    assert "inject" in done.stdout and "timeout: no outcome within 1s" in done.stdout
    assert "restore" in done.stdout  # the fault undone even on timeout
    assert Path(stack["dir"]).is_dir()
