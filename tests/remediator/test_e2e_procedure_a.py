"""Procedure A end to end on a whole sandbox stack (ClickHouse on a 64 MiB tmpfs) with the real
remediator in auto mode: its alerts reach it through the stack's real Alertmanager and routing,
and it acts through git, the GitHub stand-in, Argo CD, the operator and ClickHouse.

The alerts are posted to the stack's Alertmanager API (as Prometheus posts them): the shipped
rules hold TAFlinkJobFailed 2 minutes and TAClickHouseDiskPressure 5 minutes before firing.
The tests share one stack and run in order; each leaves the job RUNNING (or says what it left).
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from e2e_a_full import a_full_auto
from e2e_a_setup import FRESHNESS_S, LIMIT_MIB, OVERRIDES, full_disk_and_failed_job
from e2e_alerting import am_alerts, ended, fire, resolve_all
from e2e_clickhouse import MIB, days, disk, fill, filler, free_a_little, insert_old_day, partitions
from e2e_cluster import events, exporter_verdicts, flinkdeployment, start_stack, steady, wait_job
from e2e_gitops import file_at_main, run_commits
from fault_matrix_drop import (
    clickhouse_stopped_at_drop,
    continue_clickhouse,
    person_restores,
    record,
    summary,
)
from remediator_e2e_kit import run as read_run
from remediator_e2e_kit import runs as read_runs

from sandbox import stack as sandbox_stack
from sandbox import state
from sandbox.testing.remediator import RUNS, STEPS, metric, metrics
from sandbox.util import poll_until

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    workdir = tmp_path_factory.mktemp("procedure-a") / "stack"
    try:
        info = start_stack(workdir, mode="auto", overrides=OVERRIDES, disk_limit_mib=LIMIT_MIB)
        steady(info)
        yield info
    finally:
        sandbox_stack.down(workdir, log=lambda _m: None)


@pytest.fixture
def tenant(stack: dict[str, Any]) -> Iterator[Path]:
    """The other tenant's file on ClickHouse's volume, gone after the test; and every alert the
    test posted resolved (else Alertmanager re-sends them and the next test sees a run)."""
    try:
        yield filler(stack)
    finally:
        filler(stack).unlink(missing_ok=True)
        resolve_all(stack)


def test_a_pressure_drops_only_old_partitions_and_leaves_the_job_alone(
    stack: dict[str, Any], tenant: Path
) -> None:
    old, kept, today = days(6, 5), days(1)[0], days(0)[0]  # once: the run may pass midnight
    for day in old:
        insert_old_day(stack, day, 150_000)
    insert_old_day(stack, kept, 10_000)
    parts = partitions(stack)
    old_bytes = sum(parts[str(d)] for d in old)
    total = disk(stack)[1]
    assert old_bytes > 0.08 * total, (parts, total)  # the drop lifts the disk over 15% free
    generation = flinkdeployment(stack)["metadata"]["generation"]
    before = metrics(stack)

    fill(stack, leave=int(0.09 * total))
    poll_until(
        lambda: exporter_verdicts(stack).get("clickhouse-disk") not in ("healthy", None),
        timeout=120, interval=2.0, what="the exporter judging the disk under pressure",
    )  # fmt: skip
    run_id = fire(stack, "TAClickHouseDiskPressure")
    run = ended(stack, run_id)

    assert run["outcome"] == "succeeded", run
    assert [s["name"] for s in run["steps"]] == ["drop_partition", "drop_partition", "verify_disk"]
    assert [s["target"].get("partition") for s in run["steps"][:2]] == [str(d) for d in old]
    assert all(s["status"] == "done" for s in run["steps"]), run["steps"]
    after = partitions(stack)
    assert not {str(d) for d in old} & set(after), after
    assert str(kept) in after and str(today) in after, after
    fd = flinkdeployment(stack)
    assert fd["metadata"]["generation"] == generation  # no suspend, no restart
    assert fd["spec"]["job"]["state"] == "running"
    assert run_commits(stack, run_id) == []  # nothing went through git
    assert "TRADING_ENABLED" in file_at_main(stack, "knative-service.yaml")
    reasons = [e["reason"] for e in events(stack) if run_id in (e["message"] or "")]
    assert reasons == ["TARemediationDropPartition"] * 2, reasons
    now = metrics(stack)
    for name, labels, delta in (
        (STEPS, {"procedure": "A", "step": "drop_partition", "outcome": "done"}, 2),
        (STEPS, {"procedure": "A", "step": "verify_disk", "outcome": "done"}, 1),
        (RUNS, {"procedure": "A", "outcome": "succeeded"}, 1),
    ):
        assert metric(now, name, **labels) - metric(before, name, **labels) == delta, name


def test_a_full_in_auto_mode_pauses_suspends_drops_restarts_and_verifies(
    stack: dict[str, Any], tenant: Path
) -> None:
    a_full_auto(stack)


def _paged(stack: dict[str, Any], run_id: str) -> dict[str, Any] | None:
    """The run's TARemediationFailed as the stack's Alertmanager holds it."""
    for a in am_alerts(stack):
        labels = a["labels"]
        if labels.get("alertname") == "TARemediationFailed" and labels.get("run_id") == run_id:
            return a
    return None


def test_a_verification_failure_ends_the_run_failed_and_pages(
    stack: dict[str, Any], tenant: Path
) -> None:
    steady(stack)
    old = days(10)
    insert_old_day(stack, old[0], 50_000)
    (feed,) = [s for s in state.load(Path(stack["dir"])) if s.name == "feed"]
    before = metrics(stack)
    full_disk_and_failed_job(stack)
    os.kill(feed.pid, signal.SIGSTOP)  # no trades: the restarted job has nothing to write
    try:
        stopped = datetime.now(UTC)
        free_a_little(stack, 2 * MIB)
        # no signal can be newer than the feed's last trade: wait until even that one is
        # older than the remediator's freshness bound, so the signals cannot look fresh
        poll_until(
            lambda: datetime.now(UTC) > stopped + timedelta(seconds=FRESHNESS_S + 5),
            timeout=FRESHNESS_S + 60, interval=1.0, what="the last trade older than the bound",
        )  # fmt: skip
        run_id = fire(stack, "TAFlinkJobFailed", "TAClickHouseDiskPressure")
        run = ended(stack, run_id)

        assert run["outcome"] == "failed", run
        steps = {s["name"]: s for s in run["steps"]}
        assert "pause_trading" not in steps  # paused since the last test: nothing to do
        for name in ("suspend_job", "drop_partition", "resume_job", "verify_job"):
            assert steps[name]["status"] == "done", steps[name]
        verify = steps["verify_freshness"]
        assert verify["status"] == "failed", verify
        assert "not verified within 60s" in verify["detail"], verify["detail"]
        assert steps["verify_api"]["status"] == "pending", steps["verify_api"]
        # this run paused nothing (an earlier one did) and finished its restart
        assert "nothing this run changed is left half-done" in run["reason"], run["reason"]
        paged = poll_until(
            lambda: _paged(stack, run_id), timeout=60, interval=1.0,
            what="TARemediationFailed in the stack's Alertmanager",
        )  # fmt: skip
        assert paged["labels"]["severity"] == "critical", paged
        assert "verify_freshness" in paged["annotations"]["description"], paged
        # left safe: trading paused, the job as the run left it (running; nothing half-done)
        assert 'value: "false"' in file_at_main(stack, "knative-service.yaml")
        assert flinkdeployment(stack)["spec"]["job"]["state"] == "running"
        now = metrics(stack)
        esc = "torghut_ta_remediation_escalations_total"
        assert metric(now, esc, procedure="A") - metric(before, esc, procedure="A") == 1
        assert (
            metric(now, RUNS, procedure="A", outcome="failed")
            - metric(before, RUNS, procedure="A", outcome="failed")
            == 1
        )
    finally:
        os.kill(feed.pid, signal.SIGCONT)


def test_a_full_disk_at_100_percent_escalates_with_the_numbers_and_deletes_no_file(
    stack: dict[str, Any], tenant: Path
) -> None:
    steady(stack)
    old = days(11)
    insert_old_day(stack, old[0], 50_000)
    full_disk_and_failed_job(stack)
    size = tenant.stat().st_size

    run_id = fire(stack, "TAFlinkJobFailed", "TAClickHouseDiskPressure")
    run = ended(stack, run_id)

    assert run["outcome"] == "failed", run
    steps = {s["name"]: s for s in run["steps"]}
    assert steps["suspend_job"]["status"] == "done", steps["suspend_job"]
    drop = steps["drop_partition"]
    assert drop["status"] == "failed", drop
    assert "243" in drop["detail"] and "a person must act" in drop["detail"], drop["detail"]
    assert "bytes free" in drop["detail"], drop["detail"]  # the disk's numbers
    assert "never delete files" in drop["detail"], drop["detail"]
    assert steps["resume_job"]["status"] == "pending", steps["resume_job"]
    assert "stays suspended" in run["reason"], run["reason"]
    # nothing deleted: the other tenant's file and the old partition are both still there
    assert tenant.stat().st_size == size
    assert str(old[0]) in partitions(stack)
    # left safe: the job suspended in git and in the cluster, trading paused
    assert flinkdeployment(stack)["spec"]["job"]["state"] == "suspended"
    assert wait_job(stack, lambda j: j[0] == "suspended", "the job suspended")[0] == "suspended"
    assert 'value: "false"' in file_at_main(stack, "knative-service.yaml")
    paged = poll_until(
        lambda: _paged(stack, run_id), timeout=60, interval=1.0,
        what="TARemediationFailed in the stack's Alertmanager",
    )  # fmt: skip
    assert "243" in paged["annotations"]["description"], paged


@pytest.mark.timeout(900)
def test_fault_matrix_clickhouse_stopped_in_drop(stack: dict[str, Any], tenant: Path) -> None:
    """The fault matrix's row `clickhouse-stopped-in-drop` (docs/reliability.md, written here):
    ClickHouse SIGSTOPped as A-full's first DROP PARTITION reaches it (fault_matrix_drop.py) and
    kept stopped until the run ended. The drop step fails after its attempts, the run pages
    naming the step and the replica, the job stays suspended and trading paused, and only that
    one DROP statement ever reached ClickHouse. Last in the module: it leaves the job suspended,
    trading paused and the stack without its remediator."""
    try:
        observed = _clickhouse_stopped_in_drop(stack)
    except BaseException as exc:
        record("FAIL", (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300])
        raise
    record("pass", observed)


def _clickhouse_stopped_in_drop(stack: dict[str, Any]) -> str:
    with clickhouse_stopped_at_drop(stack) as (proxy, rem, pids):
        person_restores(stack, rem)
        for day in days(13, 12):
            insert_old_day(stack, day, 50_000)
        full_disk_and_failed_job(stack)
        free_a_little(stack, 2 * MIB)  # room for the drop itself: the fault is the stop
        run_id = fire(stack, "TAFlinkJobFailed", "TAClickHouseDiskPressure")
        final = ended(stack, run_id)
        assert proxy.matches, "no DROP PARTITION reached ClickHouse: the fault never landed"
        paged = poll_until(
            lambda: _paged(stack, run_id), timeout=90, interval=1.0,
            what="TARemediationFailed in the stack's Alertmanager",
        )  # fmt: skip
        continue_clickhouse(pids)
        after = poll_until(lambda: partitions(stack), timeout=120, interval=1.0,
                           what="ClickHouse answering again")  # fmt: skip
        left_open = [r["id"] for r in read_runs(stack, rem) if r["outcome"] is None]
        warnings = [
            e["message"] for e in events(stack)
            if run_id in (e["message"] or "") and e["type"] == "Warning"
        ]  # fmt: skip
        again = read_run(stack, rem, run_id)

    # the right escalation: failed, paged naming the step and the replica
    assert final["outcome"] == "failed", final
    steps = final["steps"]
    names = [s["name"] for s in steps]
    assert names[:2] == ["pause_trading", "suspend_job"], names
    assert [s["status"] for s in steps[:2]] == ["done", "done"], steps[:2]
    drops = [s for s in steps if s["name"] == "drop_partition"]
    first = drops[0]
    assert first["status"] == "failed" and first["attempts"] == 3, first
    assert "drop_partition failed (network, 3 attempts exhausted)" in first["detail"], first
    assert "ClickHouse chi-0" in first["detail"], first["detail"]
    # the reason and the page name every attempt: the first sent the DROP (effect unknown), the
    # retries died at connect
    sent = "attempt 1 failed (network): ClickHouse chi-0: ALTER TABLE"
    assert sent in first["detail"] and "DROP PARTITION ID" in first["detail"], first["detail"]
    description = paged["annotations"]["description"]
    assert "drop_partition" in description and "chi-0" in description, paged
    assert "DROP PARTITION ID" in description, description
    # no lost journal entry: every later step journaled, none left half-done
    assert all(s["status"] == "pending" for s in steps[names.index("drop_partition") + 1 :]), steps
    assert "resume_job" in names and "acting" not in {s["status"] for s in steps}, steps
    assert any(d["gate"] == "fail_safe" for d in final["decisions"]), final["decisions"]
    assert again["steps"] == steps and again["outcome"] == "failed", again
    # each failed attempt is on record as a Warning Event; the first names the statement sent
    # (the journal keeps the step's last detail only)
    assert sum("drop_partition failed" in m for m in warnings) == 3, warnings
    assert any("DROP PARTITION ID" in m for m in warnings), warnings
    # the safe state: the job suspended (git and cluster), trading paused, not resumed blindly
    assert "stays suspended" in final["reason"] and "trading stays paused" in final["reason"], (
        final["reason"]
    )
    assert flinkdeployment(stack)["spec"]["job"]["state"] == "suspended"
    assert "state: suspended" in file_at_main(stack, "ta/flinkdeployment.yaml")
    assert 'value: "false"' in file_at_main(stack, "knative-service.yaml")
    assert left_open == [], left_open  # no run picked the job up again
    # nothing dropped twice: one DROP statement reached ClickHouse, the others' partitions stay
    assert len(proxy.matches) == 1, proxy.matches
    for later in drops[1:]:
        assert later["target"]["partition"] in after, (later, after)
    gone = first["target"]["partition"] not in after
    return summary(final, proxy.matches, gone)
