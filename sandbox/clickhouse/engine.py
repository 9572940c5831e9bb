"""The chdb engine behind the HTTP front: sessions, per-query settings, queries and inserts.

Measured on chdb 26.9: one `chdb.session.Session` runs one query at a time (4 x `SELECT
sleep(0.5)` from 4 threads on one Session take 2.0 s), while several Sessions opened on the same
data path run in parallel (0.5 s) and keep separate session state (temporary tables, SET,
current database). A second *path* in the same process is refused (EmbeddedServer is one per
process). So the engine keeps a pool of Sessions for requests without `session_id` and one
dedicated Session per `session_id`; a Session costs ~0.6 ms to open.

Inserts with data put the bytes in an anonymous in-memory file (memfd) and run `INSERT ... FROM
INFILE '/proc/self/fd/N' FORMAT <fmt>` (the engine parses the bytes itself, with the INSERT's own
column defaults and input-format settings). Not `Session.send_insert(...).finish()`: chdb 26.9
loses every exception raised past the input parser at finish (the part write failing with
NOT_ENOUGH_SPACE on a full disk, a CHECK constraint, a materialized view's error) and reports
success with rows_written = the rows parsed, though nothing was stored. FROM INFILE is as fast
(~6 ms for 10 rows, ~80 ms for 200k) and raises what the engine raised.

X-ClickHouse-Summary carries the engine's own progress counters, as real ClickHouse's does:
chdb's result object has `storage_rows_read()` / `storage_bytes_read()` (rows and bytes read
from storage: a full scan of 1M rows reports 1M, a primary-key lookup one 8192-row granule),
while its `rows_read()` / `bytes_read()` are the *result* rows and bytes. `total_rows_to_read`
exists only in the payload of the connection's progress callback, which chdb calls on the
querying thread before `query` returns (~17 us per query). See `summary.py`.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from chdb.session import Session

from sandbox.clickhouse.errors import SESSION_IS_LOCKED, STD_EXCEPTION, ClickHouseError
from sandbox.clickhouse.summary import Outcome, Progress


@dataclass
class Statement:
    """One request, already split into SQL (or an INSERT prefix) and data."""

    sql: str
    data: bytes | None = None  # for INSERT ... FORMAT <fmt> with a body: the encoded rows
    insert_format: str = ""
    settings: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    database: str | None = None
    session_id: str | None = None
    session_timeout: float | None = None
    default_format: str = "TabSeparated"


@dataclass
class _Slot:
    """A Session plus what the engine tracks about it."""

    session: Session
    database: str = "default"
    lock: threading.Lock = field(default_factory=threading.Lock)
    last_used: float = field(default_factory=time.monotonic)
    timeout: float = 60.0
    overlay: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (value, restore)
    progress: Progress = field(default_factory=Progress)

    def __post_init__(self) -> None:
        self.progress.attach(self.session)


def quote_ident(name: str) -> str:
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


def quote_literal(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


_SET_STATEMENT = re.compile(r"^\s*SET\s", re.IGNORECASE)


class Engine:
    """Runs statements on chdb Sessions opened on one data path."""

    def __init__(
        self,
        data_dir: Path,
        *,
        config_file: Path | None = None,
        startup_settings: Mapping[str, str] | None = None,
    ) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        args = [f"config-file={config_file.resolve()}"] if config_file is not None else []
        args += [f"{name}={value}" for name, value in (startup_settings or {}).items()]
        self.conn_str = str(data_dir.resolve()) + ("?" + "&".join(args) if args else "")
        self._lock = threading.Lock()
        self._idle: dict[str, list[_Slot]] = {}
        self._named: dict[str, _Slot] = {}
        first = _Slot(Session(self.conn_str))  # starts the embedded server
        self._idle["default"] = [first]
        self.version = self.scalar("SELECT version()")
        self.timezone = self.scalar("SELECT timezone()")

    # -- sessions -----------------------------------------------------------------------------

    @contextlib.contextmanager
    def _slot(self, stmt: Statement) -> Iterator[_Slot]:
        if stmt.session_id:
            slot = self._named_slot(stmt.session_id, stmt.session_timeout)
            if not slot.lock.acquire(blocking=False):
                raise ClickHouseError.make(
                    SESSION_IS_LOCKED,
                    "SESSION_IS_LOCKED",
                    f"Session {stmt.session_id} is locked by a concurrent client",
                )
            try:
                yield slot
            finally:
                slot.last_used = time.monotonic()
                slot.lock.release()
            return
        want = stmt.database or "default"
        with self._lock:
            pool = self._idle.get(want) or self._idle.get("default") or []
            slot = pool.pop() if pool else None
        if slot is None:
            slot = _Slot(Session(self.conn_str))
        try:
            yield slot
        finally:
            with self._lock:
                self._idle.setdefault(slot.database, []).append(slot)

    def _named_slot(self, session_id: str, timeout: float | None) -> _Slot:
        now = time.monotonic()
        expired: list[_Slot] = []
        with self._lock:
            for key, slot in list(self._named.items()):
                if now - slot.last_used > slot.timeout and not slot.lock.locked():
                    expired.append(self._named.pop(key))
            slot = self._named.get(session_id)
            if slot is None:
                slot = self._named[session_id] = _Slot(Session(self.conn_str))
            if timeout:
                slot.timeout = timeout
        for old in expired:
            old.session.close()
        return slot

    # -- execution ----------------------------------------------------------------------------

    def execute(self, stmt: Statement) -> Outcome:
        """Run one statement; raises ClickHouseError with the engine's code on failure."""
        with self._slot(stmt) as slot:
            session = slot.session
            if stmt.database and stmt.database != slot.database:
                self._run(session, f"USE {quote_ident(stmt.database)}")
                slot.database = stmt.database
            self._apply_settings(slot, stmt.settings, stmt.sql)
            slot.progress.reset()  # forget the USE / SET statements run just above
            if stmt.data is not None:
                return self._insert(slot, stmt)
            return self._query(slot, stmt)

    def scalar(self, sql: str) -> str:
        """First value of a one-row query, as text (for startup and tests)."""
        outcome = self.execute(Statement(sql=sql, default_format="TabSeparatedRaw"))
        return outcome.body.decode().split("\t", 1)[0].strip()

    def close(self) -> None:
        with self._lock:
            slots = [s for pool in self._idle.values() for s in pool] + list(self._named.values())
            self._idle.clear()
            self._named.clear()
        for slot in slots:
            with contextlib.suppress(Exception):
                slot.session.close()

    @staticmethod
    def _run(session: Session, sql: str) -> bytes:
        try:
            return bytes(session.query(sql, "TabSeparated").bytes())
        except Exception as exc:
            raise ClickHouseError.from_engine(exc) from None

    def _apply_settings(self, slot: _Slot, settings: Mapping[str, str], sql: str) -> None:
        """Make the Session's settings = its own + this statement's URL settings.

        URL settings hold for one statement, yet clickhouse-connect sends the same few with every
        request; re-setting and restoring them each time tripled the cost of `SELECT 1`. So the
        slot remembers what it overlaid and only changes the difference.
        """
        if _SET_STATEMENT.match(sql):
            settings = {}  # the session's own SET: let it land on the session's own values
        overlay = slot.overlay
        stale = [n for n, (v, _) in overlay.items() if settings.get(n) != v]
        if stale:
            restore = ", ".join(f"{n} = {overlay.pop(n)[1]}" for n in stale)
            with contextlib.suppress(ClickHouseError):
                self._run(slot.session, f"SET {restore}")
        new = {n: v for n, v in settings.items() if n not in overlay}
        if not new:
            return
        names = ", ".join(quote_literal(n) for n in new)
        before = self._run(
            slot.session,
            f"SELECT name, value, changed FROM system.settings WHERE name IN ({names})",
        )
        previous = {}
        for line in before.decode().splitlines():
            name, value, changed = line.split("\t")
            previous[name] = quote_literal(value) if changed == "1" else "DEFAULT"
        unknown = [n for n in new if n not in previous]
        if unknown:
            raise ClickHouseError.make(115, "UNKNOWN_SETTING", f"Unknown setting '{unknown[0]}'")
        assignments = ", ".join(f"{n} = {quote_literal(v)}" for n, v in new.items())
        self._run(slot.session, f"SET {assignments}")
        for name, value in new.items():
            overlay[name] = (value, previous[name])

    @staticmethod
    def _query(slot: _Slot, stmt: Statement) -> Outcome:
        start = time.perf_counter_ns()
        try:
            result = slot.session.query(stmt.sql, stmt.default_format, params=stmt.params or None)
        except Exception as exc:
            raise ClickHouseError.from_engine(exc) from None
        elapsed = time.perf_counter_ns() - start
        return Outcome.from_result(bytes(result.bytes()), result, slot.progress, elapsed)

    @staticmethod
    def _insert(slot: _Slot, stmt: Statement) -> Outcome:
        start = time.perf_counter_ns()
        fd = os.memfd_create("chdb-insert", os.MFD_CLOEXEC)
        try:
            _write_all(fd, stmt.data or b"")
            sql = infile_insert(stmt.sql, f"/proc/self/fd/{fd}", stmt.insert_format)
            result = slot.session.query(sql, "TabSeparated", params=stmt.params or None)
        except OSError as exc:
            raise ClickHouseError.make(
                STD_EXCEPTION, "STD_EXCEPTION", f"Cannot buffer insert data: {exc}"
            ) from None
        except Exception as exc:
            raise ClickHouseError.from_engine(exc) from None
        finally:
            os.close(fd)
        elapsed = time.perf_counter_ns() - start
        return Outcome.from_result(b"", result, slot.progress, elapsed)


# A trailing `SETTINGS a = 1, ...` of the INSERT prefix; FROM INFILE must come before it.
_TRAILING_SETTINGS = re.compile(
    r"^(?P<head>.*?)\s+(?P<settings>SETTINGS\s+[A-Za-z_][A-Za-z0-9_]*\s*=.*)$",
    re.IGNORECASE | re.DOTALL,
)


def infile_insert(prefix: str, path: str, fmt: str) -> str:
    """`INSERT INTO t (cols) [SETTINGS ...]` -> the same INSERT reading `path` in format `fmt`."""
    head, settings = prefix.strip(), ""
    match = _TRAILING_SETTINGS.match(head)
    if match:
        head, settings = match["head"], " " + match["settings"].strip()
    return f"{head} FROM INFILE {quote_literal(path)} COMPRESSION 'none'{settings} FORMAT {fmt}"


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
