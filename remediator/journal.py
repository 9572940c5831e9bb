"""The journal: runs, their alerts, steps, decisions, approvals, controls and notifications.

SQLite in WAL mode on a local disk (never network storage). `PRAGMA user_version` is the schema
version; `MIGRATIONS` move an older file forward, never back. Every write commits before it
returns, so what the API acknowledged survives a crash. One open run per key is enforced by a
unique partial index: a storm of duplicate notifications cannot start a second run.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from remediator.intake import Trigger
from remediator.journal_acting import (
    MIGRATION_ACTING,
    ActingJournal,
    ApprovalRecord,
    StepRecord,
)

Clock = Callable[[], float]

MIGRATIONS: tuple[str, ...] = (
    # 1: the first schema
    """
    CREATE TABLE notifications (
        id INTEGER PRIMARY KEY, received_at REAL NOT NULL, group_key TEXT NOT NULL,
        status TEXT NOT NULL, alerts INTEGER NOT NULL, body TEXT NOT NULL);
    CREATE TABLE runs (
        id TEXT PRIMARY KEY, key TEXT NOT NULL, procedure TEXT NOT NULL, target TEXT NOT NULL,
        mode TEXT NOT NULL, state TEXT NOT NULL, outcome TEXT, reason TEXT NOT NULL DEFAULT '',
        plan TEXT, acted INTEGER NOT NULL DEFAULT 0,
        created_at REAL NOT NULL, updated_at REAL NOT NULL, ended_at REAL);
    CREATE UNIQUE INDEX one_open_run_per_key ON runs(key) WHERE ended_at IS NULL;
    CREATE INDEX runs_by_created ON runs(created_at);
    CREATE TABLE run_alerts (
        run_id TEXT NOT NULL REFERENCES runs(id), fingerprint TEXT NOT NULL,
        alertname TEXT NOT NULL, status TEXT NOT NULL, labels TEXT NOT NULL,
        first_seen REAL NOT NULL, last_seen REAL NOT NULL, PRIMARY KEY (run_id, fingerprint));
    CREATE TABLE decisions (
        id INTEGER PRIMARY KEY, run_id TEXT REFERENCES runs(id), at REAL NOT NULL,
        gate TEXT NOT NULL, verdict TEXT NOT NULL, reason TEXT NOT NULL);
    CREATE TABLE controls (
        key TEXT PRIMARY KEY, value TEXT NOT NULL, who TEXT NOT NULL, at REAL NOT NULL,
        reason TEXT NOT NULL);
    CREATE TABLE audit (
        id INTEGER PRIMARY KEY, at REAL NOT NULL, who TEXT NOT NULL, action TEXT NOT NULL,
        run_id TEXT, detail TEXT NOT NULL);
    """,
    # 2: acting - steps with idempotency keys, approvals, cancel requests
    MIGRATION_ACTING,
)
SCHEMA_VERSION = len(MIGRATIONS)
ENDED_OUTCOMES = frozenset(
    {
        "succeeded",
        "failed",
        "escalated",
        "observed",
        "resolved",
        "refused",
        "cancelled",
        "denied",
        "expired",
    }
)


class JournalError(RuntimeError):
    """The journal cannot be opened or written (disk full, read-only, newer schema)."""


@dataclass(frozen=True)
class RunAlert:
    fingerprint: str
    alertname: str
    status: str
    labels: dict[str, str]
    first_seen: float
    last_seen: float


@dataclass(frozen=True)
class Decision:
    at: float
    gate: str
    verdict: str
    reason: str


@dataclass(frozen=True)
class Run:
    id: str
    key: str
    procedure: str
    target: str
    mode: str
    state: str
    outcome: str | None
    reason: str
    plan: dict[str, Any] | None
    acted: bool
    created_at: float
    updated_at: float
    ended_at: float | None
    alerts: tuple[RunAlert, ...] = ()
    decisions: tuple[Decision, ...] = field(default=())
    cancel_requested: str | None = None
    steps: tuple[StepRecord, ...] = ()
    approvals: tuple[ApprovalRecord, ...] = ()

    @property
    def open(self) -> bool:
        return self.ended_at is None

    @property
    def firing(self) -> bool:
        return any(a.status == "firing" for a in self.alerts)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "key": self.key,
            "procedure": self.procedure,
            "target": self.target,
            "mode": self.mode,
            "state": self.state,
            "outcome": self.outcome,
            "reason": self.reason,
            "plan": self.plan,
            "acted": self.acted,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "ended_at": self.ended_at,
            "alerts": [a.__dict__ for a in self.alerts],
            "decisions": [d.__dict__ for d in self.decisions],
            "cancel_requested": self.cancel_requested,
            "steps": [s.to_json() for s in self.steps],
            "approvals": [a.to_json() for a in self.approvals],
        }


@dataclass(frozen=True)
class Attached:
    run_id: str
    created: bool  # a new run started for this incident
    new_alert: bool  # this alert had not been seen on the run before


class Journal(ActingJournal):
    """Thread-safe; call from a worker thread (`asyncio.to_thread`) in async code."""

    def __init__(self, path: Path, *, clock: Clock = time.time) -> None:
        self.path = path
        self.clock = clock
        self._lock = threading.Lock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._migrate()
        except (OSError, sqlite3.Error) as exc:
            raise JournalError(f"cannot open journal {path}: {exc}") from None

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def schema_version(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self) -> None:
        version = self.schema_version()
        if version > SCHEMA_VERSION:
            raise JournalError(
                f"journal schema {version} is newer than this remediator's {SCHEMA_VERSION}"
            )
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            self._db.executescript(f"BEGIN;\n{script}\nPRAGMA user_version={number};\nCOMMIT;")

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                    self._db.execute("COMMIT")
                except BaseException:
                    if self._db.in_transaction:  # SQLite may have rolled back already
                        self._db.execute("ROLLBACK")
                    raise
            except sqlite3.Error as exc:
                raise JournalError(f"journal write failed: {exc}") from None

    # --- notifications and runs ------------------------------------------------------------

    def record_notification(self, group_key: str, status: str, alerts: int, body: str) -> int:
        with self._tx() as db:
            cur = db.execute(
                "INSERT INTO notifications (received_at, group_key, status, alerts, body) "
                "VALUES (?, ?, ?, ?, ?)",
                (self.clock(), group_key, status, alerts, body),
            )
            return int(cur.lastrowid or 0)

    def attach(self, trigger: Trigger, *, mode: str) -> Attached | None:
        """Join the trigger to the open run of its key, or start one when it is firing.

        A resolved alert with no open run is only recorded by the caller (returns None)."""
        now = self.clock()
        labels = json.dumps(trigger.labels, sort_keys=True)
        with self._tx() as db:
            row = db.execute(
                "SELECT id FROM runs WHERE key = ? AND ended_at IS NULL", (trigger.key,)
            ).fetchone()
            created = False
            if row is None:
                if trigger.status != "firing":
                    return None
                run_id = _new_id(now)
                db.execute(
                    "INSERT INTO runs (id, key, procedure, target, mode, state, created_at,"
                    " updated_at) VALUES (?, ?, ?, ?, ?, 'new', ?, ?)",
                    (run_id, trigger.key, trigger.procedure, str(trigger.target), mode, now, now),
                )
                created = True
            else:
                run_id = str(row[0])
            seen = db.execute(
                "SELECT 1 FROM run_alerts WHERE run_id = ? AND fingerprint = ?",
                (run_id, trigger.fingerprint),
            ).fetchone()
            db.execute(
                "INSERT INTO run_alerts (run_id, fingerprint, alertname, status, labels,"
                " first_seen, last_seen) VALUES (?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (run_id, fingerprint) DO UPDATE SET status = excluded.status,"
                " last_seen = excluded.last_seen, labels = excluded.labels",
                (run_id, trigger.fingerprint, trigger.alertname, trigger.status, labels, now, now),
            )
            db.execute("UPDATE runs SET updated_at = ? WHERE id = ?", (now, run_id))
            return Attached(run_id, created, seen is None)

    def update_run(
        self,
        run_id: str,
        *,
        state: str | None = None,
        reason: str | None = None,
        plan: dict[str, Any] | None = None,
        acted: bool | None = None,
        outcome: str | None = None,
        expect_state: str | None = None,
    ) -> bool:
        """Change a run; an `outcome` ends it (and frees its key for a new run). With
        `expect_state`, only while the run is still in that state; returns whether it changed."""
        if outcome is not None and outcome not in ENDED_OUTCOMES:
            raise ValueError(f"unknown outcome {outcome!r}")
        now = self.clock()
        sets: list[str] = ["updated_at = ?"]
        args: list[Any] = [now]
        for column, value in (("state", state), ("reason", reason), ("outcome", outcome)):
            if value is not None:
                sets.append(f"{column} = ?")
                args.append(value)
        if plan is not None:
            sets.append("plan = ?")
            args.append(json.dumps(plan, sort_keys=True))
        if acted is not None:
            sets.append("acted = ?")
            args.append(int(acted))
        if outcome is not None:
            sets.extend(["ended_at = ?", "state = 'ended'"])
            args.append(now)
        where, keys = "id = ?", [run_id]
        if expect_state is not None:
            where, keys = "id = ? AND state = ?", [run_id, expect_state]
        with self._tx() as db:
            cur = db.execute(f"UPDATE runs SET {', '.join(sets)} WHERE {where}", (*args, *keys))
            return cur.rowcount > 0

    def decide(self, run_id: str | None, gate: str, verdict: str, reason: str) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO decisions (run_id, at, gate, verdict, reason) VALUES (?, ?, ?, ?, ?)",
                (run_id, self.clock(), gate, verdict, reason),
            )

    def run(self, run_id: str) -> Run | None:
        with self._lock:
            row = self._db.execute(f"SELECT {_RUN_COLUMNS} FROM runs WHERE id = ?", (run_id,))
            found = row.fetchone()
            if found is None:
                return None
            alerts = tuple(
                RunAlert(fp, name, status, json.loads(labels), first, last)
                for fp, name, status, labels, first, last in self._db.execute(
                    "SELECT fingerprint, alertname, status, labels, first_seen, last_seen"
                    " FROM run_alerts WHERE run_id = ? ORDER BY first_seen, fingerprint",
                    (run_id,),
                )
            )
            decisions = tuple(
                Decision(*r)
                for r in self._db.execute(
                    "SELECT at, gate, verdict, reason FROM decisions WHERE run_id = ? ORDER BY id",
                    (run_id,),
                )
            )
        return _run_from_row(
            found, alerts, decisions, tuple(self.steps(run_id)), tuple(self.approvals(run_id))
        )

    def runs(self, *, open_only: bool = False, limit: int = 100) -> list[Run]:
        where = "WHERE ended_at IS NULL" if open_only else ""
        with self._lock:
            ids = [
                str(r[0])
                for r in self._db.execute(
                    f"SELECT id FROM runs {where} ORDER BY created_at DESC, id DESC LIMIT ?",
                    (limit,),
                )
            ]
        return [r for r in (self.run(i) for i in ids) if r is not None]

    def last_acted_end(self, key: str) -> float | None:
        """When the last run of this key that changed something ended (for the cooldown)."""
        with self._lock:
            row = self._db.execute(
                "SELECT max(ended_at) FROM runs WHERE key = ? AND acted = 1", (key,)
            ).fetchone()
        return None if row[0] is None else float(row[0])

    def runs_started_since(self, since: float) -> int:
        with self._lock:
            row = self._db.execute(
                "SELECT count(*) FROM runs WHERE created_at >= ?", (since,)
            ).fetchone()
        return int(row[0])

    # --- controls and audit ------------------------------------------------------------------

    def set_control(self, key: str, value: str, *, who: str, reason: str) -> None:
        now = self.clock()
        with self._tx() as db:
            db.execute(
                "INSERT INTO controls (key, value, who, at, reason) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value, who = excluded.who,"
                " at = excluded.at, reason = excluded.reason",
                (key, value, who, now, reason),
            )
            db.execute(
                "INSERT INTO audit (at, who, action, run_id, detail) VALUES (?, ?, ?, NULL, ?)",
                (now, who, f"set {key}={value}", reason),
            )

    def control(self, key: str) -> tuple[str, str, float, str] | None:
        with self._lock:
            row = self._db.execute(
                "SELECT value, who, at, reason FROM controls WHERE key = ?", (key,)
            ).fetchone()
        return None if row is None else (str(row[0]), str(row[1]), float(row[2]), str(row[3]))

    def audit(self, who: str, action: str, run_id: str | None, detail: str) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO audit (at, who, action, run_id, detail) VALUES (?, ?, ?, ?, ?)",
                (self.clock(), who, action, run_id, detail),
            )

    def audit_log(self, run_id: str | None = None) -> list[dict[str, Any]]:
        query = "SELECT at, who, action, run_id, detail FROM audit"
        args: tuple[Any, ...] = ()
        if run_id is not None:
            query, args = query + " WHERE run_id = ?", (run_id,)
        with self._lock:
            rows = self._db.execute(query + " ORDER BY id", args).fetchall()
        return [
            dict(zip(("at", "who", "action", "run_id", "detail"), r, strict=True)) for r in rows
        ]

    def counts(self) -> dict[str, int]:
        """Rows per table (for tests and the bench)."""
        tables = ("notifications", "runs", "run_alerts", "decisions", "audit", "steps", "approvals")
        with self._lock:
            return {
                t: int(self._db.execute(f"SELECT count(*) FROM {t}").fetchone()[0]) for t in tables
            }


_RUN_COLUMNS = (
    "id, key, procedure, target, mode, state, outcome, reason, plan, acted, created_at,"
    " updated_at, ended_at, cancel_requested"
)


def _run_from_row(
    row: tuple[Any, ...],
    alerts: tuple[RunAlert, ...],
    decisions: tuple[Decision, ...],
    steps: tuple[StepRecord, ...],
    approvals: tuple[ApprovalRecord, ...],
) -> Run:
    (rid, key, procedure, target, mode, state, outcome, reason, plan, acted, c, u, e, cancel) = row
    return Run(
        id=rid,
        key=key,
        procedure=procedure,
        target=target,
        mode=mode,
        state=state,
        outcome=outcome,
        reason=reason,
        plan=None if plan is None else json.loads(plan),
        acted=bool(acted),
        created_at=c,
        updated_at=u,
        ended_at=e,
        alerts=alerts,
        decisions=decisions,
        cancel_requested=cancel,
        steps=steps,
        approvals=approvals,
    )


def _new_id(now: float) -> str:
    """Readable and sortable: UTC time, then a random suffix."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
    return f"run-{stamp}-{uuid.uuid4().hex[:6]}"
