"""The scenario table's judges and the checks of `ta-sandbox scenario` that need no stack."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sandbox import scenario_io, state
from sandbox.scenario_cli import listing, refusal
from sandbox.scenarios import EXPECTED, OTHER, SCENARIOS, Obs
from sandbox.testing.stack import run_cli
from sandbox.util import Service


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


def _replay(state: str, outcome: str | None, steps: list[str]) -> dict[str, Any]:
    return {**_run("C", outcome, steps), "state": state, "id": "run-c"}


REPLAY_STEPS = ["record_steady_state", "take_savepoint", "pause_trading",
                "silence_replay_alerts", "start_replay"]  # fmt: skip
ROLLBACK_STEPS = ["wait_replay_stopped", "return_to_steady", "restore_last_state",
                  "verify_steady_offsets", "verify_job", "expire_silences"]  # fmt: skip


def test_replay_expects_the_rollback_back_on_the_steady_group() -> None:
    judge = SCENARIOS["replay"].judge
    assert judge(Obs(runs=[_replay("proposed", None, [])])) is None  # waits for a person
    running = _replay("acting", None, REPLAY_STEPS)
    assert judge(Obs(runs=[running])) is None
    rolling = _run("C-rollback", None, ROLLBACK_STEPS[:2])
    assert judge(Obs(runs=[running, rolling])) is None
    back = _run("C-rollback", "succeeded", ROLLBACK_STEPS)
    # the replay's cancellation not journaled yet: keep watching
    assert judge(Obs(runs=[running, back])) is None
    cancelled = _replay("ended", "cancelled", REPLAY_STEPS)
    ok = judge(Obs(runs=[cancelled, back]))
    assert ok is not None and ok[0] == EXPECTED and "steady-state group" in ok[1], ok
    # the replay ran to its end before the rollback, or failed: another outcome
    finished = judge(Obs(runs=[_replay("ended", "succeeded", [*REPLAY_STEPS, "verify_job"])]))
    assert finished is not None and finished[0] == OTHER and "before its rollback" in finished[1]
    failed = _run("C-rollback", "failed", ROLLBACK_STEPS[:3], reason="offsets moved back")
    bad = judge(Obs(runs=[cancelled, failed]))
    assert bad == (OTHER, "rollback run run-C-rollback ended failed: offsets moved back")


def test_replay_refuses_a_stack_without_history() -> None:
    sc = SCENARIOS["replay"]
    assert sc.stack == "history"
    plain = {"remediator": "http://x", "remediator_mode": "auto", "replicated": "false"}
    for stack in (plain, {**plain, "history_hours": "0"}):
        why = str(refusal(sc, stack))
        assert "no history in Kafka" in why and "--history-hours" in why, why
    assert "only 1 hours" in str(refusal(sc, {**plain, "history_hours": "1"}))
    assert refusal(sc, {**plain, "history_hours": "3"}) is None
    assert "read-only" in str(refusal(sc, {**plain, "replicated": "true", "history_hours": "3"}))


def test_the_replay_scenario_on_a_stack_without_history_exits_64(tmp_path: Path) -> None:
    # a state file as `up` writes it, without --history-hours: no process needed for the check
    svc = [
        Service("remediator", 0, {"remediator": "http://127.0.0.1:9"}),
        Service(
            "settings", 0,
            {"remediator_mode": "auto", "replicated": "false", "alert_pace": "fast",
             "history_hours": "0"},
        ),
    ]  # fmt: skip
    state.save(tmp_path, svc)
    done = run_cli("scenario", "replay", "--dir", str(tmp_path))
    assert done.returncode == 64, done.stderr
    assert "replay needs the plain stack with a past in Kafka" in done.stderr, done.stderr
    assert "no history in Kafka" in done.stderr, done.stderr


def test_list_describes_every_scenario() -> None:
    text = listing()
    for name in SCENARIOS:
        assert f"\n{name}\n" in f"\n{text}\n", name
    assert "--history-hours" in text and "rolls it back" in text, text
    assert "not available yet" not in text
    done = run_cli("scenario", "no-such-thing")
    assert done.returncode == 64 and "unknown scenario 'no-such-thing'" in done.stderr


def test_days_ago_counts_from_the_given_instant_not_from_now() -> None:
    late = datetime(2026, 11, 30, 23, 59, 59, tzinfo=UTC).timestamp()
    assert scenario_io.days_ago(0, 9, at=late) == [date(2026, 11, 30), date(2026, 11, 21)]
    assert scenario_io.days_ago(0, at=late + 1) == [date(2026, 12, 1)]  # past midnight UTC
