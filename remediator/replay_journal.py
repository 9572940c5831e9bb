"""The journal's part of person-started runs (a replay plan, its start, a rollback).

A replay plan is a run of procedure C in state `proposed` under a key of its own. Starting it
claims the key `C:active` in the same transaction that checks no other replay, rollback or image
rollback is running: two starts at once cannot both win.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from remediator.journal import Journal
from remediator.replay_plan import PERSON_STARTED

ACTIVE_KEY = "C:active"
PROPOSED = "proposed"


def new_run_id(now: float) -> str:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
    return f"run-{stamp}-{uuid.uuid4().hex[:6]}"


def insert(
    journal: Journal,
    run_id: str,
    *,
    procedure: str,
    key: str,
    target: str,
    state: str,
    reason: str,
    plan: dict[str, Any],
    who: str,
    action: str,
) -> None:
    now = journal.clock()
    with journal._tx() as db:
        db.execute(
            "INSERT INTO runs (id, key, procedure, target, mode, state, reason, plan, created_at,"
            " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (run_id, key, procedure, target, journal_mode(plan), state, reason,
             json.dumps(plan, sort_keys=True), now, now),
        )  # fmt: skip
        db.execute(
            "INSERT INTO audit (at, who, action, run_id, detail) VALUES (?, ?, ?, ?, ?)",
            (now, who, action, run_id, reason),
        )


def journal_mode(plan: dict[str, Any]) -> str:
    return str(plan.get("mode", "person"))


def active(journal: Journal) -> str | None:
    """The open replay, rollback or image rollback that is running (not a mere plan)."""
    with journal._lock:
        marks = ",".join("?" * len(PERSON_STARTED))
        row = journal._db.execute(
            f"SELECT id FROM runs WHERE ended_at IS NULL AND procedure IN ({marks})"
            " AND state != ? ORDER BY created_at LIMIT 1",
            (*sorted(PERSON_STARTED), PROPOSED),
        ).fetchone()
    return None if row is None else str(row[0])


def claim(journal: Journal, run_id: str, *, who: str, reason: str) -> str | None:
    """Start the proposed run: None when it started, else the run that is in the way (or the
    run itself, when it is no longer proposed)."""
    now = journal.clock()
    marks = ",".join("?" * len(PERSON_STARTED))
    with journal._tx() as db:
        row = db.execute(
            f"SELECT id FROM runs WHERE ended_at IS NULL AND procedure IN ({marks})"
            " AND state != ? AND id != ? LIMIT 1",
            (*sorted(PERSON_STARTED), PROPOSED, run_id),
        ).fetchone()
        if row is not None:
            return str(row[0])
        cur = db.execute(
            "UPDATE runs SET key = ?, state = 'acting', updated_at = ?, reason = ?"
            " WHERE id = ? AND state = ? AND ended_at IS NULL",
            (ACTIVE_KEY, now, reason, run_id, PROPOSED),
        )
        if cur.rowcount == 0:
            return run_id
        db.execute(
            "INSERT INTO audit (at, who, action, run_id, detail) VALUES (?, ?, 'start', ?, ?)",
            (now, who, run_id, reason),
        )
    return None
