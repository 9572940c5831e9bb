"""The counters of X-ClickHouse-Summary, taken from the engine's own progress of each query.

Real ClickHouse fills the header from the query's Progress: `read_rows` / `read_bytes` are what
the sources read from storage (the SelectedRows of a MergeTree scan after primary-key and
partition pruning), `total_rows_to_read` the sources' estimate before reading, `result_rows` /
`result_bytes` what the query returned (for an INSERT: what it wrote).

What chdb 26.9 offers, measured: the result object's `storage_rows_read()` /
`storage_bytes_read()` are that Progress (free: ~1 us per call); its `rows_read()` /
`bytes_read()` are the result's rows and bytes. `total_rows_to_read` is only in the payload of
the connection's progress callback (`Connection.set_progress_callback`), which chdb calls on the
querying thread, at least once at the end of every query, before `query` returns: ~17 us a
query. `system.query_log` is absent unless configured, and reading it back needs `SYSTEM FLUSH
LOGS` per query (~33 ms); `system.processes` is empty once a query has finished.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Protocol

log = logging.getLogger(__name__)


class _Result(Protocol):
    """The statistics accessors of chdb's `query_result`."""

    def rows_read(self) -> int: ...
    def bytes_read(self) -> int: ...
    def storage_rows_read(self) -> int: ...
    def storage_bytes_read(self) -> int: ...
    def rows_written(self) -> int: ...
    def bytes_written(self) -> int: ...


class Progress:
    """The last progress payload chdb reported for one Session's current query."""

    __slots__ = ("payload",)

    def __init__(self) -> None:
        self.payload: dict[str, Any] | None = None

    def attach(self, session: Any) -> None:
        """Register on the Session's connection (one callback per Session, so no sharing)."""
        conn = getattr(session, "_conn", None)  # chdb.session.Session keeps its Connection here
        try:
            conn.set_progress_callback(self._on_progress)  # type: ignore[union-attr]
        except AttributeError:
            log.warning("chdb offers no progress callback: total_rows_to_read = read_rows")

    def reset(self) -> None:
        self.payload = None

    def _on_progress(self, payload: dict[str, Any]) -> None:
        # Each payload is cumulative for the running query; the last one is the final state.
        self.payload = payload

    def total_rows_to_read(self, default: int) -> int:
        if self.payload is None:
            return default
        return int(self.payload.get("total_rows_to_read", default))


@dataclass
class Outcome:
    """What the engine produced, with the counters that go into X-ClickHouse-Summary."""

    body: bytes
    read_rows: int = 0
    read_bytes: int = 0
    written_rows: int = 0
    written_bytes: int = 0
    total_rows_to_read: int = 0
    result_rows: int = 0
    result_bytes: int = 0
    elapsed_ns: int = 0

    @classmethod
    def from_result(
        cls, body: bytes, result: _Result, progress: Progress, elapsed_ns: int
    ) -> Outcome:
        """The summary of one finished query from chdb's result and progress."""
        read_rows = int(result.storage_rows_read())
        written_rows = int(result.rows_written())
        written_bytes = int(result.bytes_written())
        result_rows, result_bytes = int(result.rows_read()), int(result.bytes_read())
        if written_rows and not result_rows:  # an INSERT: ClickHouse reports what it wrote
            result_rows, result_bytes = written_rows, written_bytes
        return cls(
            body=body,
            read_rows=read_rows,
            read_bytes=int(result.storage_bytes_read()),
            written_rows=written_rows,
            written_bytes=written_bytes,
            total_rows_to_read=progress.total_rows_to_read(read_rows),
            result_rows=result_rows,
            result_bytes=result_bytes,
            elapsed_ns=elapsed_ns,
        )

    def summary(self) -> dict[str, str]:
        """The header's JSON object: every value a decimal string, as ClickHouse sends them."""
        return {
            "read_rows": str(self.read_rows),
            "read_bytes": str(self.read_bytes),
            "written_rows": str(self.written_rows),
            "written_bytes": str(self.written_bytes),
            "total_rows_to_read": str(self.total_rows_to_read),
            "result_rows": str(self.result_rows),
            "result_bytes": str(self.result_bytes),
            "elapsed_ns": str(self.elapsed_ns),
        }
