"""Planners: the cause is confirmed first, unknown refuses, trading is paused first, bounds hold."""

from __future__ import annotations

from remediator_kit import NOW, day_partition, facts, verdict

from remediator.engine import _only_predicted
from remediator.facts import DAY
from remediator.intake import Target, Trigger
from remediator.journal import Journal
from remediator.procedures import choose_partitions, plan


def names(p) -> list[str]:
    return [s.name for s in p.steps]


DISK_FULL = {"clickhouse-disk": verdict("clickhouse-disk", "down", "A", "r1 default: 1.0% free")}
OLD = [
    day_partition(30),
    day_partition(20, table="ta_microbars"),
    day_partition(10),
    day_partition(2),
]


def test_a_full_pauses_trading_suspends_drops_old_partitions_restarts_and_verifies(rcfg) -> None:
    window = NOW - 15 * DAY  # Kafka still holds the last 15 days
    p = plan(
        "A",
        facts(
            verdicts=DISK_FULL,
            job_state="FAILED",
            lifecycle="FAILED",
            partitions=tuple(OLD),
            replay_window_start=window,
        ),
        rcfg,
    )
    assert p.shape == "A-full" and p.refused is None
    assert names(p) == [
        "pause_trading",
        "suspend_job",
        "drop_partition",
        "drop_partition",
        "drop_partition",
        "resume_job",
        "verify_job",
        "verify_freshness",
    ]
    drops = [s for s in p.steps if s.name == "drop_partition"]
    assert [(s.target["table"], s.target["partition"], s.target["replica"]) for s in drops] == [
        (OLD[0].table, OLD[0].partition, OLD[0].replica),  # oldest first, on its replica
        (OLD[1].table, OLD[1].partition, OLD[1].replica),
        (OLD[2].table, OLD[2].partition, OLD[2].replica),
    ]
    assert all(s.kind == "destructive" for s in drops)
    # 30 days ago is older than the replay window: only backups could restore it
    assert drops[0].needs_approval and "only backups" in drops[0].why
    assert not drops[2].needs_approval and "replayed from Kafka" in drops[2].why
    assert "restartNonce" in p.steps[5].why and "running" in p.steps[5].why


def test_a_with_the_job_running_is_pressure_only_and_never_touches_the_job(rcfg) -> None:
    p = plan("A", facts(verdicts=DISK_FULL, partitions=tuple(OLD)), rcfg)
    assert p.shape == "A-pressure"
    assert set(names(p)) == {"drop_partition", "verify_disk"}


def test_trading_is_not_paused_when_the_market_is_closed_or_trading_is_off(rcfg) -> None:
    base = {"verdicts": DISK_FULL, "job_state": "FAILED", "partitions": tuple(OLD)}
    assert "pause_trading" not in names(plan("A", facts(**base, market_open=False), rcfg))
    assert "pause_trading" not in names(plan("A", facts(**base, trading_enabled=False), rcfg))
    unknown = plan("A", facts(**base, trading_enabled=None), rcfg)
    assert names(unknown)[0] == "pause_trading" and "treated as on" in unknown.steps[0].why


def test_a_refuses_when_the_disk_is_fine_or_unreadable(rcfg) -> None:
    fine = plan("A", facts(job_state="FAILED", partitions=tuple(OLD)), rcfg)
    assert fine.shape == "refused" and "not under pressure" in (fine.refused or "")
    unknown = plan(
        "A", facts(verdicts={"clickhouse-disk": verdict("clickhouse-disk", "unknown")}), rcfg
    )
    assert unknown.refused is not None and "unknown is never healthy" in unknown.refused
    assert unknown.steps == ()


def test_a_escalates_when_nothing_is_old_enough_to_drop(rcfg) -> None:
    p = plan(
        "A", facts(verdicts=DISK_FULL, job_state="FAILED", partitions=(day_partition(1),)), rcfg
    )
    assert p.steps == () and p.escalate is not None
    assert "never delete files on a node" in p.escalate and "keep window (7 days)" in p.escalate


def test_partition_bounds_count_bytes_keep_window_and_undated(make_config) -> None:
    cfg = make_config(policy={"drop": {"keep_days": 5, "max_partitions": 10, "max_bytes": 2500}})
    undated = day_partition(40)
    undated = type(undated)("r1", "ta_signals", "all", 999, 1, None)
    parts = (
        day_partition(9, size=1000),
        day_partition(8, size=1000),
        day_partition(7, size=1000),
        day_partition(4, size=10),  # inside the keep window
        day_partition(9, size=1200, replica="r2"),  # the same partition on r2: larger copy counts
        undated,
        day_partition(9, table="not_a_ta_table"),
    )
    chosen, notes = choose_partitions(
        facts(partitions=parts), cfg.remediator.policy.drop, cfg.clickhouse.tables
    )
    assert [(p.partition, p.bytes) for p in chosen] == [
        (parts[4].partition, 1200),
        (parts[1].partition, 1000),
    ]
    assert any("max_bytes=2500" in n for n in notes)
    assert any("no known date are never dropped" in n for n in notes)
    assert all(p.end is not None and p.end <= NOW - 5 * DAY for p in chosen)


def test_unknown_retention_makes_every_drop_need_approval(rcfg) -> None:
    p = plan("A", facts(verdicts=DISK_FULL, partitions=tuple(OLD), replay_window_start=None), rcfg)
    drops = [s for s in p.steps if s.name == "drop_partition"]
    assert drops and all(s.needs_approval for s in drops)


READONLY = {
    "clickhouse-replicas": verdict(
        "clickhouse-replicas", "down", "B", "read-only replicas: r2/ta_signals"
    )
}


def test_b_restarts_then_restores_each_lost_table_and_needs_approval(rcfg) -> None:
    both = (("r2", "ta_microbars"), ("r2", "ta_signals"))
    p = plan("B", facts(verdicts=READONLY, readonly=both, metadata_lost=both), rcfg)
    assert names(p)[:4] == [
        "restart_replica",
        "restore_replica",
        "restart_replica",
        "restore_replica",
    ]
    assert p.steps[0].target == {"replica": "r2", "table": "torghut.ta_microbars"}
    assert [s.needs_approval for s in p.steps if s.name == "restore_replica"] == [True, True]
    assert "resume_job" not in names(p)  # the job runs: it is not restarted


def test_b_restores_only_the_tables_whose_metadata_is_lost(rcfg) -> None:
    readonly = (("r2", "ta_microbars"), ("r2", "ta_signals"))
    p = plan("B", facts(verdicts=READONLY, readonly=readonly, metadata_lost=readonly[1:]), rcfg)
    targets = {s.target["table"] for s in p.steps if s.name.endswith("_replica")}
    assert targets == {"torghut.ta_signals"}
    none_lost = plan("B", facts(verdicts=READONLY, readonly=readonly), rcfg)
    assert none_lost.refused is not None and "none with lost Keeper metadata" in none_lost.refused


def test_b_restarts_a_failed_job_only_after_clickhouse_is_writable(rcfg) -> None:
    lost = (("r2", "ta_signals"),)
    p = plan(
        "B", facts(verdicts=READONLY, readonly=lost, metadata_lost=lost, job_state="FAILED"), rcfg
    )
    n = names(p)
    assert n.index("verify_writable") < n.index("pause_trading") < n.index("resume_job")


def test_b_refuses_a_keeper_outage_and_unknown_state(rcfg) -> None:
    keeper = {
        "clickhouse-replicas": verdict("clickhouse-replicas", "down", "none", "Keeper unreachable")
    }
    p = plan("B", facts(verdicts=keeper, readonly=(("r1", "ta_signals"),)), rcfg)
    assert p.refused is not None and "SYSTEM RESTORE REPLICA is the wrong action" in p.refused
    unknown = {"clickhouse-replicas": verdict("clickhouse-replicas", "unknown")}
    assert plan("B", facts(verdicts=unknown), rcfg).refused is not None
    assert "no TA table replica is read-only" in (plan("B", facts(), rcfg).refused or "")


def test_trading_gate_pauses_on_stale_or_unknown_signals_only(rcfg) -> None:
    stale = {"freshness": verdict("freshness", "down")}
    unknown = {"freshness": verdict("freshness", "unknown")}
    assert names(plan("trading_gate", facts(verdicts=stale), rcfg)) == [
        "pause_trading",
        "verify_trading_paused",
    ]
    p = plan("trading_gate", facts(verdicts=unknown), rcfg)
    assert p.steps[0].why.startswith("signals are unknown")
    assert "person's decision" in p.notes[0]
    assert plan("trading_gate", facts(), rcfg).refused == "signals are fresh now"
    assert (
        plan("trading_gate", facts(verdicts=stale, trading_enabled=False), rcfg).refused is not None
    )
    assert (
        plan("trading_gate", facts(verdicts=stale, market_open=False), rcfg).refused
        == "the market is closed"
    )


def test_a_predicted_full_only_proposes_each_drop_and_leaves_the_job_alone(rcfg) -> None:
    fine = {"clickhouse-disk": verdict("clickhouse-disk", "healthy", "none", "r1: 40% free")}
    window = NOW - 15 * DAY
    f = facts(verdicts=fine, partitions=tuple(OLD), replay_window_start=window)
    p = plan("A", f, rcfg, predicted=True)
    assert p.shape == "A-predicted" and p.refused is None
    assert names(p) == ["drop_partition"] * 3 + ["verify_disk"]
    drops = [s for s in p.steps if s.name == "drop_partition"]
    # even the replayable partitions wait for a person: a prediction never acts by itself
    assert all(s.needs_approval and "prediction only proposes" in s.approval_reason for s in drops)
    # the same facts without the prediction: not under pressure, nothing planned
    assert plan("A", f, rcfg).refused is not None
    # nothing old enough: nothing to propose, refused (not escalated: nothing is wrong yet)
    young = plan("A", facts(verdicts=fine, partitions=(day_partition(1),)), rcfg, predicted=True)
    assert young.refused is not None and "nothing to propose" in young.refused


def test_a_run_is_a_prediction_only_while_every_firing_alert_is_one(tmp_path) -> None:
    journal = Journal(tmp_path / "j.sqlite3")
    target = Target("torghut", "torghut-ta")

    def attach(fp: str, labels: dict[str, str], status: str = "firing") -> str:
        trig = Trigger("A", target, "TAClickHouseDiskPressure", fp, status, labels)
        attached = journal.attach(trig, mode="auto")
        assert attached is not None
        return attached.run_id

    run_id = attach("p1", {"remediation": "approval", "severity": "warning"})
    assert _only_predicted(journal.run(run_id))
    attach("c1", {"severity": "critical"})  # the disk really under 15% joins the same run
    assert not _only_predicted(journal.run(run_id))
    attach("c1", {"severity": "critical"}, status="resolved")
    assert _only_predicted(journal.run(run_id))
    journal.close()
