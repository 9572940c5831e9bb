"""The remediator's fault matrix, end to end: one shared `--replicated` sandbox stack, the real
`ta-remediator serve` on its port, and per row ONE fault injected during a trading-gate run
(`fault_matrix_kit.py`; the rows: `fault_matrix_rows.py`). Every row asserts: no crash, no
duplicate actuation, no lost journal entry, the right escalation. The results are written to
docs/reliability.md when the module ends (`fault_matrix_doc.py`), merged with the last results
of the rows this session did not run. The unit-level behaviour of each actuator under these
faults is tested in tests/remediator/actuators/ and test_execute.py; this is the whole-system
view."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fault_matrix_clock import clock_forward_in_verify, clock_jump_past_silence, clock_jumps
from fault_matrix_doc import RowSpec, write
from fault_matrix_drivers import (
    am_duplicates,
    am_out_of_order,
    am_resolved_first,
    journal_disk_full,
    second_remediator,
    sigkill_between_actuation_and_verification,
)
from fault_matrix_faults import (
    allow_pushes,
    argocd,
    freeze,
    github_lift,
    github_settings,
    kube_fault,
    kube_lift,
    narrow_role,
    nothing_,
    refuse_pushes,
    restart_exporter,
    restore_role,
)
from fault_matrix_kit import POLICY, Seen, World, fast_argocd, gate_run, trading_enabled
from fault_matrix_rows import ROWS, UNTESTED
from remediator_e2e_kit import env_pid, launch, start_stack, stop_stack, stop_stack_remediator, wait

from sandbox.util import stop_pid

pytestmark = [pytest.mark.slow, pytest.mark.replicated, pytest.mark.timeout(600)]
RESULTS: dict[str, dict[str, Any]] = {}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    workdir = tmp_path_factory.mktemp("fault-matrix") / "stack"
    try:
        status = start_stack(workdir, replicated=True)
        stop_stack_remediator(status)
        stop_pid(env_pid(status, "prometheus"))  # only the runs the rows ask for
        port = int(status["remediator"].rsplit(":", 1)[1])

        def relaunch(
            env: dict[str, str] | None = None, policy: dict[str, Any] | None = None
        ) -> Any:
            return launch(status, "r1", port=port, policy={**POLICY, **(policy or {})},
                          edit=fast_argocd, env=env)  # fmt: skip

        yield World(status, relaunch(), relaunch)
    finally:
        stop_stack(workdir)
        if RESULTS:
            write(ROWS, UNTESTED, RESULTS)


Drive = Callable[[World], Seen]


def _gate(
    attempt: str, inject: Callable[[World], None], lift: Callable[[World], None] = nothing_,
    when: str = "before", after_done: Callable[[World], None] | None = None,
) -> Drive:  # fmt: skip
    return lambda w: gate_run(w, attempt, inject=inject, lift=lift, when=when,
                              after_done=after_done)  # fmt: skip


def _detail(drive: Drive, words: str) -> Drive:
    """`drive`, and the failed step's detail must say `words`."""

    def checked(w: World) -> Seen:
        seen = drive(w)
        details = [s["detail"] for s in seen.run["steps"] if s["status"] == "failed"]
        assert any(words in d for d in details), details
        return seen

    return checked


def _no_event(drive: Drive) -> Drive:
    """`drive`, and the step's Event must be the one thing lost (the run is not)."""

    def checked(w: World) -> Seen:
        seen = drive(w)
        assert seen.events == 0, seen.summary()
        return seen

    return checked


CH_STOP, CH_CONT = freeze("clickhouse")
KAFKA_STOP, KAFKA_CONT = freeze("kafka")
DRIVERS: dict[str, Drive] = {
    "clickhouse-stopped": _gate("ch-stopped", CH_STOP, CH_CONT, when="acting",
                                after_done=CH_CONT),
    "kafka-stopped": _gate("kafka-stopped", KAFKA_STOP, KAFKA_CONT, when="acting",
                           after_done=KAFKA_CONT),
    "kube-500-lease": _gate(
        "kube-500", kube_fault(method="PUT", resource="leases", status=500, count=2), kube_lift,
        when="acting",
    ),
    "kube-500-events": _no_event(_gate(
        "kube-500-ev", kube_fault(method="POST", resource="events", status=500, count=3),
        kube_lift,
    )),
    "kube-timeout": _gate(
        "kube-timeout", kube_fault(method="PUT", resource="leases", timeout=8, count=1),
        kube_lift, when="acting",
    ),
    "kube-409": _gate(
        "kube-409", kube_fault(method="PUT", resource="leases", status=409, count=2), kube_lift,
        when="acting",
    ),
    "kube-403-role": _no_event(_gate("kube-403", narrow_role, restore_role)),
    "git-push-rejected": _gate("push-refused", refuse_pushes, allow_pushes),
    "github-blip": _gate(
        "gh-blip", github_settings({"outage": {"status": 503, "count": 1}}), github_lift
    ),
    "github-down": _gate(
        "gh-down", github_settings({"outage": {"status": 502, "count": 100000}}), github_lift
    ),
    "github-rate-limited": _gate(
        "gh-limit", github_settings({"rate_limit": {"secondary_count": 1, "retry_after": 2}}),
        github_lift,
    ),
    "github-primary-limit": _detail(
        _gate("gh-primary", github_settings({"rate_limit": {"remaining": 0, "reset_in": 3600}}),
              github_lift),
        "primary rate limit exhausted (403); resets at",
    ),
    "argocd-sync-hang": _gate("argo-hang", argocd("hang"), argocd("none")),
    "argocd-sync-fail": _gate("argo-fail", argocd("fail"), argocd("none")),
    "am-duplicates": am_duplicates,
    "am-out-of-order": am_out_of_order,
    "am-resolved-first": am_resolved_first,
    "sigkill-before-verify": sigkill_between_actuation_and_verification,
    "exporter-restarted": _gate("exp-restart", restart_exporter, when="acting"),
    "second-remediator": second_remediator,
    "journal-disk-full": journal_disk_full,
    "clock-jump": clock_jumps,
    "clock-jump-past-silence": clock_jump_past_silence,
    "clock-forward-in-verify": clock_forward_in_verify,
}  # fmt: skip


# the rows another module runs (`RowSpec.module`) are not driven here
MATRIX_ROWS = [r for r in ROWS if not r.module]


def test_every_row_has_a_driver_and_every_driver_a_row() -> None:
    assert [r.id for r in MATRIX_ROWS] == list(DRIVERS)


PARAMS = [
    pytest.param(r, id=r.id, marks=[pytest.mark.xfail(strict=True, reason=r.known_defect)])
    if r.known_defect
    else pytest.param(r, id=r.id)
    for r in MATRIX_ROWS
]


@pytest.mark.parametrize("row", PARAMS)
def test_fault_row(world: World, row: RowSpec) -> None:
    today = datetime.now(UTC).date().isoformat()
    try:
        seen = DRIVERS[row.id](world)
        check(row, seen, world)
    except BaseException as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        RESULTS[row.id] = {"result": "FAIL", "observed": first, "date": today}
        raise
    RESULTS[row.id] = {"result": "pass", "observed": seen.summary(), "date": today}


def check(row: RowSpec, seen: Seen, w: World) -> None:
    final = seen.run
    # no crash
    assert seen.healthy, "the remediator does not answer /healthz"
    # the right escalation
    assert final["outcome"] == row.outcome, (final["outcome"], final["reason"])
    assert seen.paged == (row.outcome == "failed"), (seen.paged, final["reason"])
    # no duplicate actuation
    assert len(seen.commits) <= 1 and seen.pulls <= 1 and seen.events <= 1, seen.summary()
    if row.outcome == "succeeded":
        assert len(seen.commits) == 1 and seen.pulls == 1, seen.summary()
        # the run verified the switch itself; the exporter reports it on its next probe cycle
        wait(lambda: trading_enabled(w.stack) == 0.0, "the exporter sees trading paused")
    # no lost journal entry: what the run had at the fault is still there, every step settled
    names = [s["name"] for s in final["steps"]]
    before = [s["name"] for s in seen.at_fault["steps"]]
    assert before in ([], names), (seen.at_fault, final)  # planned later, or kept as planned
    had = {(d["gate"], d["reason"]) for d in seen.at_fault["decisions"]}
    kept = {(d["gate"], d["reason"]) for d in final["decisions"]}
    assert had <= kept, had - kept
    assert names == ["pause_trading", "verify_trading_paused"], names
    statuses = [s["status"] for s in final["steps"]]
    if row.outcome == "succeeded":
        assert statuses == ["done", "done"], final["steps"]
    else:
        assert "failed" in statuses and "acting" not in statuses, final["steps"]
