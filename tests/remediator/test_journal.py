"""The journal: schema versions, one open run per incident, durability, clear write errors."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from remediator.intake import Target, Trigger
from remediator.journal import MIGRATIONS, SCHEMA_VERSION, Journal, JournalError
from remediator.plan import Step


def trig(fp: str, *, status: str = "firing", procedure: str = "A") -> Trigger:
    return Trigger(procedure, Target("torghut", "torghut-ta"), "TAX", fp, status, {"a": "b"})  # type: ignore[arg-type]


def test_a_new_file_gets_the_current_schema_in_wal_mode(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.sqlite3")
    assert j.schema_version() == SCHEMA_VERSION
    mode = sqlite3.connect(tmp_path / "j.sqlite3").execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_a_newer_schema_is_refused_not_downgraded(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    Journal(path).close()
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(JournalError, match="newer than this remediator"):
        Journal(path)


def test_alerts_of_one_incident_join_one_run_and_new_ones_are_told_apart(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.sqlite3")
    first = j.attach(trig("f1"), mode="observe")
    again = j.attach(trig("f1"), mode="observe")
    other = j.attach(trig("f2"), mode="observe")
    assert first is not None and again is not None and other is not None
    assert (first.created, first.new_alert) == (True, True)
    assert (again.run_id, again.created, again.new_alert) == (first.run_id, False, False)
    assert (other.run_id, other.created, other.new_alert) == (first.run_id, False, True)
    run = j.run(first.run_id)
    assert run is not None and [a.fingerprint for a in run.alerts] == ["f1", "f2"]


def test_a_resolved_alert_without_an_open_run_starts_nothing(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.sqlite3")
    assert j.attach(trig("f1", status="resolved"), mode="observe") is None
    assert j.counts()["runs"] == 0


def test_an_ended_run_frees_its_key_and_keeps_its_story(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.sqlite3")
    first = j.attach(trig("f1"), mode="observe")
    assert first is not None
    j.decide(first.run_id, "precondition", "block", "disk is fine")
    j.update_run(first.run_id, outcome="refused", reason="disk is fine")
    second = j.attach(trig("f1"), mode="observe")
    assert second is not None and second.created and second.run_id != first.run_id
    ended = j.run(first.run_id)
    assert ended is not None and not ended.open and ended.outcome == "refused"
    assert [d.reason for d in ended.decisions] == ["disk is fine"]
    with pytest.raises(ValueError, match="unknown outcome"):
        j.update_run(second.run_id, outcome="great")


def test_concurrent_duplicates_from_many_threads_make_exactly_one_run(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.sqlite3")
    barrier = threading.Barrier(16)
    results = []

    def send() -> None:
        barrier.wait()
        for _ in range(20):
            results.append(j.attach(trig("f1"), mode="observe"))

    threads = [threading.Thread(target=send) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 320
    assert len({r.run_id for r in results if r is not None}) == 1
    assert sum(1 for r in results if r is not None and r.created) == 1
    assert j.counts()["runs"] == 1


def test_everything_survives_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    j = Journal(path)
    att = j.attach(trig("f1"), mode="observe")
    assert att is not None
    j.update_run(att.run_id, state="observed", plan={"plan": {"shape": "A-full"}})
    j.set_control("paused", "true", who="alice", reason="maintenance")
    j.close()
    again = Journal(path)
    run = again.run(att.run_id)
    assert run is not None and run.state == "observed" and run.plan == {"plan": {"shape": "A-full"}}
    assert again.control("paused")[:2] == ("true", "alice")  # type: ignore[index]
    assert [a["action"] for a in again.audit_log()] == ["set paused=true"]


def test_a_full_disk_is_a_clear_error_and_loses_what_was_written(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.sqlite3")
    att = j.attach(trig("f1"), mode="observe")
    assert att is not None
    pages = j._db.execute("PRAGMA page_count").fetchone()[0]
    j._db.execute(f"PRAGMA max_page_count = {pages}")  # SQLite's own "disk is full"
    with pytest.raises(JournalError, match="journal write failed: database or disk is full"):
        j.record_notification("g", "firing", 1, "x" * 200_000)
    run = j.run(att.run_id)
    assert run is not None and [a.fingerprint for a in run.alerts] == ["f1"]


def test_an_unopenable_path_is_a_journal_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(JournalError, match="cannot open journal"):
        Journal(blocker / "sub" / "j.sqlite3")


def _version_1_file(path: Path) -> None:
    """A journal as the first release wrote it: schema 1, one open run with an alert."""
    db = sqlite3.connect(path)
    db.executescript(f"BEGIN;\n{MIGRATIONS[0]}\nPRAGMA user_version=1;\nCOMMIT;")
    db.execute(
        "INSERT INTO runs (id, key, procedure, target, mode, state, plan, created_at, updated_at)"
        " VALUES ('run-1', 'A/torghut/torghut-ta', 'A', 'torghut/torghut-ta', 'observe',"
        ' \'observed\', \'{"plan": {"shape": "A-full"}}\', 1.0, 2.0)'
    )
    db.execute("INSERT INTO run_alerts VALUES ('run-1', 'f1', 'TAX', 'firing', '{}', 1.0, 2.0)")
    db.commit()
    db.close()


def test_a_version_1_journal_is_migrated_forward_and_keeps_its_runs(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    _version_1_file(path)
    j = Journal(path)
    assert j.schema_version() == SCHEMA_VERSION == 2
    run = j.run("run-1")
    assert run is not None and run.state == "observed" and run.plan == {"plan": {"shape": "A-full"}}
    assert (run.steps, run.approvals, run.cancel_requested) == ((), (), None)
    # the new tables work on the migrated file, and the one-open-run index still holds
    assert j.set_steps("run-1", [Step("suspend_job", "reversible", "why", {"d": "x"})])
    assert [s.key for s in j.steps("run-1")] == ["run-1/0/suspend_job"]
    assert j.attach(trig("f2"), mode="observe").run_id == "run-1"  # type: ignore[union-attr]
    j.close()
    assert Journal(path).schema_version() == 2  # reopening migrates nothing twice


def test_a_step_is_acting_with_its_key_before_the_actuation_and_the_run_acted(
    tmp_path: Path,
) -> None:
    j = Journal(tmp_path / "j.sqlite3")
    att = j.attach(trig("f1"), mode="auto")
    assert att is not None
    steps = [Step("suspend_job", "reversible", "w"), Step("verify_job", "verify", "w")]
    assert j.set_steps(att.run_id, steps)
    j.step_acting(att.run_id, 1)  # verifying changes nothing
    assert not j.run(att.run_id).acted  # type: ignore[union-attr]
    acting = j.step_acting(att.run_id, 0)
    assert (acting.status, acting.attempts, acting.key) == (
        "acting",
        1,
        f"{att.run_id}/0/suspend_job",
    )
    run = j.run(att.run_id)
    assert run is not None and run.acted and run.steps[0].status == "acting"
    j.step_end(att.run_id, 0, "done", "merged", {"pr_url": "http://x/pull/1"})
    assert j.steps(att.run_id)[0].evidence == {"pr_url": "http://x/pull/1"}
    # a plan that acted is never rewritten
    assert not j.set_steps(att.run_id, [Step("drop_partition", "destructive", "w")])
    assert [s.name for s in j.steps(att.run_id)] == ["suspend_job", "verify_job"]
    with pytest.raises(ValueError, match="unknown step status"):
        j.step_end(att.run_id, 0, "great")  # type: ignore[arg-type]


def test_approvals_expire_are_superseded_and_journal_who(tmp_path: Path) -> None:
    now = [1000.0]
    j = Journal(tmp_path / "j.sqlite3", clock=lambda: now[0])
    att = j.attach(trig("f1"), mode="auto")
    assert att is not None
    first = j.request_approval(att.run_id, step="*", plan_digest="d1", ttl=60)
    second = j.request_approval(att.run_id, step="*", plan_digest="d2", ttl=60)
    assert [a.verdict for a in j.approvals(att.run_id)] == ["superseded", None]
    assert first.id != second.id and second.expires_at == 1060.0
    decided = j.decide_approval(att.run_id, "approved", who="alice", reason="looked")
    assert decided is not None and (decided.verdict, decided.decided_by) == ("approved", "alice")
    assert j.decide_approval(att.run_id, "denied", who="bob", reason="late") is None
    j.request_approval(att.run_id, step="2", plan_digest="d3", ttl=60)
    now[0] = 1200.0
    late = j.decide_approval(att.run_id, "approved", who="alice", reason="sorry")
    assert late is not None and (late.verdict, late.decided_by) == ("expired", "remediator")
    assert [(a["who"], a["action"]) for a in j.audit_log(att.run_id)] == [("alice", "approve")]


def test_cancel_ends_a_run_that_never_acted_and_flags_one_that_did(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.sqlite3")
    idle = j.attach(trig("f1"), mode="auto")
    busy = j.attach(trig("f1", procedure="B"), mode="auto")
    assert idle is not None and busy is not None
    assert j.request_cancel(idle.run_id, who="alice", reason="x", executing=False) == "cancelled"
    assert j.run(idle.run_id).outcome == "cancelled"  # type: ignore[union-attr]
    assert j.request_cancel(idle.run_id, who="alice", reason="x", executing=False) == "ended"
    assert j.request_cancel(busy.run_id, who="bob", reason="y", executing=True) == "cancelling"
    run = j.run(busy.run_id)
    assert run is not None and run.open and run.cancel_requested == "cancelled by bob: y"
