"""The journal's acting half: a run's steps with their idempotency keys, approvals, cancel
requests. Mixed into `Journal` (which owns the connection, the lock and the migrations).

The executor writes a step `acting` (with its idempotency key) BEFORE the actuation and
`done`/`failed` after it, so a process that died in between finds the step `acting` on restart
and asks the real state instead of repeating the change.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Literal

from remediator.plan import Step

StepStatus = Literal["pending", "acting", "done", "failed", "skipped"]
STEP_STATUSES: tuple[str, ...] = ("pending", "acting", "done", "failed", "skipped")
ApprovalVerdict = Literal["approved", "denied", "expired", "superseded"]

MIGRATION_ACTING = """
    ALTER TABLE runs ADD COLUMN cancel_requested TEXT;
    CREATE TABLE steps (
        run_id TEXT NOT NULL REFERENCES runs(id), idx INTEGER NOT NULL, name TEXT NOT NULL,
        kind TEXT NOT NULL, target TEXT NOT NULL DEFAULT '{}',
        status TEXT NOT NULL
            CHECK (status IN ('pending', 'acting', 'done', 'failed', 'skipped')),
        idempotency_key TEXT NOT NULL UNIQUE, attempts INTEGER NOT NULL DEFAULT 0,
        started_at REAL, ended_at REAL, detail TEXT NOT NULL DEFAULT '',
        evidence TEXT NOT NULL DEFAULT '{}', PRIMARY KEY (run_id, idx));
    CREATE TABLE approvals (
        id INTEGER PRIMARY KEY, run_id TEXT NOT NULL REFERENCES runs(id),
        step TEXT NOT NULL, plan_digest TEXT NOT NULL,
        requested_at REAL NOT NULL, expires_at REAL NOT NULL,
        decided_by TEXT, decided_at REAL,
        verdict TEXT CHECK (verdict IS NULL
            OR verdict IN ('approved', 'denied', 'expired', 'superseded')),
        reason TEXT NOT NULL DEFAULT '');
    CREATE INDEX approvals_by_run ON approvals(run_id, id);
"""


@dataclass(frozen=True)
class StepRecord:
    run_id: str
    index: int
    name: str
    kind: str
    target: dict[str, str]
    status: str
    key: str  # the idempotency key: run, index and name
    attempts: int
    started_at: float | None
    ended_at: float | None
    detail: str
    evidence: dict[str, str]

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class ApprovalRecord:
    id: int
    run_id: str
    step: str  # a step index, or "*" for the whole plan
    plan_digest: str
    requested_at: float
    expires_at: float
    decided_by: str | None
    decided_at: float | None
    verdict: str | None
    reason: str

    @property
    def pending(self) -> bool:
        return self.verdict is None

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


_STEP_COLUMNS = (
    "run_id, idx, name, kind, target, status, idempotency_key, attempts, started_at, ended_at,"
    " detail, evidence"
)
_APPROVAL_COLUMNS = (
    "id, run_id, step, plan_digest, requested_at, expires_at, decided_by, decided_at, verdict,"
    " reason"
)


def step_key(run_id: str, index: int, name: str) -> str:
    return f"{run_id}/{index}/{name}"


def _step(row: tuple[Any, ...]) -> StepRecord:
    run_id, idx, name, kind, target, status, key, attempts, start, end, detail, evidence = row
    return StepRecord(
        run_id,
        int(idx),
        name,
        kind,
        json.loads(target),
        status,
        key,
        int(attempts),
        start,
        end,
        detail,
        json.loads(evidence),
    )


class ActingJournal:
    """Steps, approvals and cancel requests; `Journal` provides the storage."""

    _db: sqlite3.Connection
    _lock: threading.Lock
    clock: Callable[[], float]

    def _tx(self) -> AbstractContextManager[sqlite3.Connection]:  # pragma: no cover
        raise NotImplementedError

    # --- steps -------------------------------------------------------------------------------

    def set_steps(self, run_id: str, steps: Sequence[Step]) -> bool:
        """The plan's steps, all pending, replacing the run's earlier plan; False (and nothing
        changed) once any step has started: a plan that acted is never rewritten."""
        with self._tx() as db:
            started = db.execute(
                "SELECT count(*) FROM steps WHERE run_id = ? AND status != 'pending'", (run_id,)
            ).fetchone()[0]
            if started:
                return False
            db.execute("DELETE FROM steps WHERE run_id = ?", (run_id,))
            for i, s in enumerate(steps):
                db.execute(
                    "INSERT INTO steps (run_id, idx, name, kind, target, status, idempotency_key)"
                    " VALUES (?, ?, ?, ?, ?, 'pending', ?)",
                    (run_id, i, s.name, s.kind, json.dumps(s.target), step_key(run_id, i, s.name)),
                )
            return True

    def steps(self, run_id: str) -> list[StepRecord]:
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_STEP_COLUMNS} FROM steps WHERE run_id = ? ORDER BY idx", (run_id,)
            ).fetchall()
        return [_step(r) for r in rows]

    def step_acting(self, run_id: str, index: int) -> StepRecord:
        """Write the idempotency key's intent before the actuation: status `acting`, one more
        attempt, and (for a step that changes something) the run marked as having acted."""
        now = self.clock()
        with self._tx() as db:
            db.execute(
                "UPDATE steps SET status = 'acting', attempts = attempts + 1,"
                " started_at = coalesce(started_at, ?) WHERE run_id = ? AND idx = ?",
                (now, run_id, index),
            )
            row = db.execute(
                f"SELECT {_STEP_COLUMNS} FROM steps WHERE run_id = ? AND idx = ?", (run_id, index)
            ).fetchone()
            if row is None:
                raise KeyError(f"run {run_id} has no step {index}")
            if row[3] != "verify":
                db.execute("UPDATE runs SET acted = 1, updated_at = ? WHERE id = ?", (now, run_id))
            return _step(row)

    def step_end(
        self,
        run_id: str,
        index: int,
        status: StepStatus,
        detail: str = "",
        evidence: dict[str, str] | None = None,
    ) -> None:
        if status not in STEP_STATUSES:
            raise ValueError(f"unknown step status {status!r}")
        ended = None if status in ("pending", "acting") else self.clock()
        with self._tx() as db:
            db.execute(
                "UPDATE steps SET status = ?, ended_at = ?, detail = ?,"
                " evidence = coalesce(?, evidence) WHERE run_id = ? AND idx = ?",
                (
                    status,
                    ended,
                    detail,
                    None if evidence is None else json.dumps(evidence, sort_keys=True),
                    run_id,
                    index,
                ),
            )

    # --- approvals ---------------------------------------------------------------------------

    def request_approval(
        self, run_id: str, *, step: str, plan_digest: str, ttl: float
    ) -> ApprovalRecord:
        """A new request; an earlier undecided one of the run is superseded (its plan is gone)."""
        now = self.clock()
        with self._tx() as db:
            db.execute(
                "UPDATE approvals SET verdict = 'superseded', decided_by = 'remediator',"
                " decided_at = ?, reason = 'a newer request replaced it'"
                " WHERE run_id = ? AND verdict IS NULL",
                (now, run_id),
            )
            cur = db.execute(
                "INSERT INTO approvals (run_id, step, plan_digest, requested_at, expires_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (run_id, step, plan_digest, now, now + ttl),
            )
            row = db.execute(
                f"SELECT {_APPROVAL_COLUMNS} FROM approvals WHERE id = ?", (cur.lastrowid,)
            ).fetchone()
        return ApprovalRecord(*row)

    def approvals(self, run_id: str) -> list[ApprovalRecord]:
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_APPROVAL_COLUMNS} FROM approvals WHERE run_id = ? ORDER BY id",
                (run_id,),
            ).fetchall()
        return [ApprovalRecord(*r) for r in rows]

    def decide_approval(
        self, run_id: str, verdict: ApprovalVerdict, *, who: str, reason: str
    ) -> ApprovalRecord | None:
        """Decide the run's open request; one past its expiry is recorded `expired` whatever
        was asked. None when the run has no open request."""
        now = self.clock()
        with self._tx() as db:
            row = db.execute(
                f"SELECT {_APPROVAL_COLUMNS} FROM approvals WHERE run_id = ? AND verdict IS NULL"
                " ORDER BY id DESC LIMIT 1",
                (run_id,),
            ).fetchone()
            if row is None:
                return None
            pending = ApprovalRecord(*row)
            if now >= pending.expires_at:
                verdict, who, reason = "expired", "remediator", "not answered before it expired"
            db.execute(
                "UPDATE approvals SET verdict = ?, decided_by = ?, decided_at = ?, reason = ?"
                " WHERE id = ?",
                (verdict, who, now, reason, pending.id),
            )
            if verdict in ("approved", "denied"):
                db.execute(
                    "INSERT INTO audit (at, who, action, run_id, detail) VALUES (?, ?, ?, ?, ?)",
                    (now, who, {"approved": "approve", "denied": "deny"}[verdict], run_id, reason),
                )
            row = db.execute(
                f"SELECT {_APPROVAL_COLUMNS} FROM approvals WHERE id = ?", (pending.id,)
            ).fetchone()
        return ApprovalRecord(*row)

    # --- cancel ------------------------------------------------------------------------------

    def request_cancel(self, run_id: str, *, who: str, reason: str, executing: bool) -> str:
        """Record a person's cancel. A run that never acted and is not being executed ends here
        ("cancelled"); otherwise the executor stops it before its next step ("cancelling").
        "ended" when the run had already ended."""
        now = self.clock()
        text = f"cancelled by {who}: {reason}"
        with self._tx() as db:
            row = db.execute("SELECT acted, ended_at FROM runs WHERE id = ?", (run_id,)).fetchone()
            if row is None or row[1] is not None:
                return "ended"
            db.execute(
                "INSERT INTO audit (at, who, action, run_id, detail) VALUES (?, ?, 'cancel', ?, ?)",
                (now, who, run_id, reason),
            )
            if not row[0] and not executing:
                db.execute(
                    "UPDATE runs SET cancel_requested = ?, outcome = 'cancelled', reason = ?,"
                    " state = 'ended', ended_at = ?, updated_at = ? WHERE id = ?",
                    (text, text, now, now, run_id),
                )
                return "cancelled"
            db.execute(
                "UPDATE runs SET cancel_requested = ?, updated_at = ? WHERE id = ?",
                (text, now, run_id),
            )
            return "cancelling"

    def last_decision(self, run_id: str) -> tuple[str, str, str] | None:
        with self._lock:
            row = self._db.execute(
                "SELECT gate, verdict, reason FROM decisions WHERE run_id = ?"
                " ORDER BY id DESC LIMIT 1",
                (run_id,),
            ).fetchone()
        return None if row is None else (str(row[0]), str(row[1]), str(row[2]))
