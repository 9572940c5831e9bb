"""The scenario table's judges and the checks of `ta-sandbox scenario` that need no stack."""

from __future__ import annotations

from typing import Any

from sandbox.scenario_cli import listing, refusal
from sandbox.scenarios import EXPECTED, OTHER, SCENARIOS, Obs
from sandbox.testing.stack import run_cli


def _run(procedure: str, outcome: str | None, steps: list[str], acted: bool = True,
         reason: str = "") -> dict[str, Any]:  # fmt: skip
    return {
        "id": f"run-{procedure}", "procedure": procedure, "outcome": outcome, "acted": acted,
        "reason": reason, "steps": [{"name": s, "status": "done"} for s in steps],
    }  # fmt: skip


def _alert(name: str, receiver: str, **labels: str) -> tuple[dict[str, Any], dict[str, Any]]:
    all_labels = {"alertname": name, **labels}
    return (
        {"labels": all_labels, "state": "firing"},
        {"labels": all_labels, "receivers": [{"name": receiver}]},
    )


A_FULL = ["pause_trading", "suspend_job", "drop_partition", "resume_job", "verify_job",
          "verify_freshness"]  # fmt: skip
GATE_RUN = _run("trading_gate", "succeeded", ["pause_trading", "verify_trading_paused"])


def test_disk_full_waits_then_judges_the_a_run() -> None:
    judge = SCENARIOS["disk-full"].judge
    assert judge(Obs(runs=[_run("A", None, A_FULL[:2])])) is None
    assert judge(Obs(runs=[_run("A", "succeeded", A_FULL)]))[0] == EXPECTED  # type: ignore[index]
    failed = judge(Obs(runs=[_run("A", "failed", A_FULL[:3], reason="Code 243")]))
    assert failed == (OTHER, "A run run-A ended failed: Code 243")
    # a refused A run (e.g. the predicted-disk warning) is not the outcome: keep watching
    assert judge(Obs(runs=[_run("A", "refused", [], acted=False)])) is None


def test_disk_pressure_never_suspends() -> None:
    judge = SCENARIOS["disk-pressure"].judge
    assert judge(Obs(runs=[_run("A", None, ["suspend_job"])]))[0] == OTHER  # type: ignore[index]
    ok = judge(Obs(runs=[_run("A", "succeeded", ["drop_partition", "verify_disk"])]))
    assert ok is not None and ok[0] == EXPECTED


def test_keeper_outage_pages_a_person_and_no_b_run_acts() -> None:
    judge = SCENARIOS["keeper-outage"].judge
    alert, held = _alert("TAClickHouseKeeperUnavailable", "null")
    assert judge(Obs(alerts=[alert], am=[held]))[0] == EXPECTED  # type: ignore[index]
    _, to_rem = _alert("TAClickHouseKeeperUnavailable", "torghut-ta-remediator")
    assert judge(Obs(alerts=[alert], am=[to_rem])) is None
    acted = Obs(alerts=[alert], am=[held], runs=[_run("B", None, ["restart_replica"])])
    assert judge(acted)[0] == OTHER  # type: ignore[index]


def test_replica_readonly_expects_the_escalation_naming_the_replica() -> None:
    judge = SCENARIOS["replica-readonly"].judge
    steps = ["restart_replica", "restore_replica"]
    named = _run("B", "failed", steps, reason="torghut.ta_signals still read-only on chi-0")
    assert judge(Obs(runs=[named]))[0] == EXPECTED  # type: ignore[index]
    assert judge(Obs(runs=[_run("B", "succeeded", steps)]))[0] == OTHER  # type: ignore[index]


def test_gate_scenarios_need_the_pause_and_nothing_destructive() -> None:
    for name in ("clickhouse-outage", "stale-signals-trading-on"):
        judge = SCENARIOS[name].judge
        assert judge(Obs()) is None, name
        assert judge(Obs(runs=[GATE_RUN]))[0] == EXPECTED, name  # type: ignore[index]
        assert judge(Obs(trading_was_on=False))[0] == EXPECTED, name  # type: ignore[index]
        bad = Obs(runs=[GATE_RUN, _run("A", None, ["suspend_job"])])
        assert judge(bad)[0] == OTHER, name  # type: ignore[index]
        failed = _run("trading_gate", "failed", ["pause_trading"], reason="push rejected")
        assert judge(Obs(runs=[failed]))[0] == OTHER, name  # type: ignore[index]


def test_flink_failed_and_kafka_outage_also_need_their_page() -> None:
    flink = SCENARIOS["flink-failed"].judge
    assert flink(Obs(runs=[GATE_RUN])) is None  # the person's page not seen yet
    alert, held = _alert("TAFlinkJobFailed", "null", procedure="none")
    assert flink(Obs(runs=[GATE_RUN], alerts=[alert], am=[held]))[0] == EXPECTED  # type: ignore[index]
    kafka = SCENARIOS["kafka-outage"].judge
    probe, held = _alert("TAExporterProbeFailing", "null", probe="kafka_lag")
    assert kafka(Obs(runs=[GATE_RUN])) is None
    assert kafka(Obs(runs=[GATE_RUN], alerts=[probe], am=[held]))[0] == EXPECTED  # type: ignore[index]
    acted = _run("A", "refused", [], acted=True)
    assert kafka(Obs(runs=[GATE_RUN, acted], alerts=[probe]))[0] == OTHER  # type: ignore[index]


def test_refusals_name_what_the_stack_lacks() -> None:
    plain = {"remediator": "http://x", "remediator_mode": "auto", "replicated": "false"}
    assert refusal(SCENARIOS["stale-signals-trading-on"], plain) is None
    assert "not replicated" in str(refusal(SCENARIOS["replica-readonly"], plain))
    assert "no --disk-limit" in str(refusal(SCENARIOS["disk-full"], plain))
    observe = {**plain, "remediator_mode": "observe"}
    assert "observe mode" in str(refusal(SCENARIOS["flink-failed"], observe))
    replicated = {**plain, "replicated": "true"}
    assert "read-only" in str(refusal(SCENARIOS["kafka-outage"], replicated))
    assert refusal(SCENARIOS["keeper-outage"], replicated) is None


def test_list_describes_every_scenario_and_replay_is_not_available_yet() -> None:
    text = listing()
    for name in [*SCENARIOS, "replay"]:
        assert f"\n{name}\n" in f"\n{text}\n", name
    done = run_cli("scenario", "replay")
    assert done.returncode == 1 and "not available yet" in done.stderr, done.stderr
    done = run_cli("scenario", "no-such-thing")
    assert done.returncode == 64 and "unknown scenario 'no-such-thing'" in done.stderr
