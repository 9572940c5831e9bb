"""The fault matrix's row on procedure A, `clickhouse-stopped-in-drop`: ClickHouse stopped while
A-full's DROP PARTITION runs. The matrix's own stack (`--replicated`) has no disk to fill, so the
row runs on the tmpfs stack of `test_e2e_procedure_a.py` (no stack of its own) and its result
goes into docs/reliability.md as the matrix's rows' do (`fault_matrix_doc.write`).

How the fault lands inside the statement: the remediator that runs the row reaches its ClickHouse
replica through a `sandbox.faults.TriggerProxy`, which SIGSTOPs the chdb server the moment the
`ALTER TABLE ... DROP PARTITION` arrives and only then forwards it, so the statement reaches a
server that stopped under it. ClickHouse stays stopped until the run has ended."""

from __future__ import annotations

import os
import re
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from e2e_cluster import job_status, steady
from e2e_gitops import file_at_main
from fault_matrix_doc import write
from fault_matrix_kit import trading_enabled
from fault_matrix_rows import ROWS, UNTESTED
from remediator_e2e_kit import Remediator, as_stack, launch, stop_stack_remediator

from sandbox import state
from sandbox.faults import TriggerProxy
from sandbox.scenario_io import restart_job
from sandbox.testing.remediator import call
from sandbox.util import poll_until

ROW = "clickhouse-stopped-in-drop"
DROP_SQL = re.compile(r"DROP\s+PARTITION\s+ID\s+'([^']*)'", re.I)
# the remediation identity's per-statement deadline for this row (120 s shipped): each of the
# drop step's 3 attempts waits this long on the stopped server
QUERY_TIMEOUT = "8s"


def _clickhouse_pids(stack: dict[str, Any]) -> list[int]:
    pids = [s.pid for s in state.load(Path(stack["dir"])) if s.name == "clickhouse" and s.pid]
    assert pids, "the stack's state names no running clickhouse service"
    return pids


def _through(proxy_port: int) -> Callable[[dict[str, Any]], None]:
    def edit(cfg: dict[str, Any]) -> None:
        replicas = cfg["clickhouse"]["replicas"]
        assert len(replicas) == 1, replicas  # the tmpfs stack: one replica, chi-0
        replicas[0]["url"] = f"http://127.0.0.1:{proxy_port}"
        cfg["remediator"]["clickhouse_remediation"]["query_timeout"] = QUERY_TIMEOUT

    return edit


@contextmanager
def clickhouse_stopped_at_drop(
    stack: dict[str, Any],
) -> Iterator[tuple[TriggerProxy, Remediator, list[int]]]:
    """The stack's remediator replaced (same port, config, Lease; its own journal) by one whose
    replica is the proxy; yields the proxy, that remediator and ClickHouse's pids. On exit
    ClickHouse continued, that remediator stopped, the proxy closed. The stack is left without a remediator: the row is its module's last test."""
    pids = _clickhouse_pids(stack)

    def stop() -> None:
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)

    host, _, port = stack["clickhouse_http"].removeprefix("http://").rpartition(":")
    proxy = TriggerProxy((host, int(port)), DROP_SQL, stop)
    rem: Remediator | None = None
    try:
        stop_stack_remediator(stack)
        listen = int(stack["remediator"].rsplit(":", 1)[1])
        rem = launch(stack, "r-drop", port=listen, edit=_through(proxy.port))
        yield proxy, rem, pids
    finally:
        continue_clickhouse(pids)
        if rem is not None:
            rem.stop()
        proxy.close()


def continue_clickhouse(pids: list[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGCONT)
        except ProcessLookupError:
            pass


def person_restores(stack: dict[str, Any], rem: Remediator) -> None:
    """What a person does after the module's earlier tests (the last leaves the job suspended
    and trading paused): the job restarted through git, trading resumed through the API."""
    spec, job, _ = job_status(stack)
    if spec != "running" or job == "FAILED":
        restart_job(stack, "fault matrix: back to a running job")
    steady(stack)
    if 'value: "false"' in file_at_main(stack, "knative-service.yaml"):
        body = {"reason": "fault matrix: back to trading before the row"}
        code, answer = call(as_stack(stack, rem), "POST", "/trading/resume", body=body)
        assert code == 200, (code, answer)
    poll_until(lambda: trading_enabled(stack) == 1.0, timeout=180, interval=1.0,
               what="the exporter seeing trading on")  # fmt: skip


def summary(run: dict[str, Any], drops_sent: list[str], gone: bool) -> str:
    steps = ", ".join(f"{s['name']} {s['status']}" for s in run["steps"])
    return (
        f"run {run['outcome']} ({steps}); {len(drops_sent)} DROP statement reached ClickHouse "
        f"(partition {', '.join(drops_sent)}; once continued it had "
        f"{'run' if gone else 'not run'}); job left suspended, trading paused; "
        "TARemediationFailed paged naming drop_partition, chi-0 and the DROP the first "
        "attempt sent"
    )


def record(result: str, observed: str) -> None:
    """This row's result into docs/reliability.md, merged with the matrix's."""
    today = datetime.now(UTC).date().isoformat()
    write(ROWS, UNTESTED, {ROW: {"result": result, "observed": observed, "date": today}})
