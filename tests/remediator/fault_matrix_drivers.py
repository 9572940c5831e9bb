"""The fault matrix's rows that need more than one injection around `gate_run`: the remediator
SIGKILLed between actuation and verification, a second remediator, Alertmanager's duplicates and
reorderings (webhooks posted straight to the remediator), the journal unwritable. The clock's
rows are in `fault_matrix_clock.py`."""

from __future__ import annotations

import os
import resource
import signal
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from fault_matrix_faults import kube_fault, kube_lift, lease_holder, nothing_
from fault_matrix_kit import (
    GATE,
    POLICY,
    Seen,
    World,
    fast_argocd,
    gate_run,
    healthy,
    observe,
    restore,
    run,
)
from remediator_e2e_kit import as_stack, launch, runs, wait

from sandbox.testing.remediator import alert, call, notification, post_webhook
from sandbox.util import free_port, pid_alive, poll_until

# verification reads the trading service's ready revision through the Kubernetes API (the
# remediator's own probes, not the exporter process): 503 on those reads keeps it "not yet"
HOLD_VERIFY = kube_fault(method="GET", resource="services", status=503, count=100000)


def sigkill_between_actuation_and_verification(w: World) -> Seen:
    """Verification is held (the trading service unreadable: 503 from the Kubernetes API) from
    the moment pause_trading acts; once the step is done and verification has begun, the
    remediator is SIGKILLed, the hold lifted and the remediator started again with the same
    config and journal."""
    killed: list[int] = []

    def kill_and_restart(w: World) -> None:
        run_id = open_run_id(w)
        poll_until(lambda: run(w.stack, w.rem, run_id)["steps"][1]["status"] == "acting",
                   timeout=120, interval=0.2, what="verify_trading_paused begun")  # fmt: skip
        os.kill(w.rem.pid, signal.SIGKILL)
        poll_until(lambda: not pid_alive(w.rem.pid), timeout=60, what="r1 gone")
        killed.append(w.rem.pid)
        kube_lift(w)
        w.rem = w.relaunch()

    seen = gate_run(w, "sigkill", inject=HOLD_VERIFY, lift=kube_lift, when="acting",
                    after_done=kill_and_restart)  # fmt: skip
    assert killed, "the remediator was never killed"
    seen.notes.append(f"killed pid {killed[0]} while verifying, restarted")
    return seen


def second_remediator(w: World) -> Seen:
    """r2 starts (its own journal, identity, port) while r1's run acts, and gets the same
    notification; only the Lease holder acts."""
    started: list[Any] = []

    def inject(w: World) -> None:
        r2 = launch(w.stack, "r2", port=free_port(), policy=POLICY, edit=fast_argocd)
        started.append(r2)
        code, body = post_webhook(as_stack(w.stack, r2),
                                  notification(alert(**GATE, attempt="second")))  # fmt: skip
        assert code == 202, (code, body)

    def lift(w: World) -> None:
        for r2 in started:
            r2.stop()

    try:
        seen = gate_run(w, "second", inject=inject, lift=nothing_, when="acting")
        r2 = started[0]
        theirs = runs(w.stack, r2)
        assert len(theirs) == 1 and not theirs[0]["acted"], theirs
        assert all(s["status"] == "pending" for s in theirs[0]["steps"]), theirs
        reasons = [
            d["reason"]
            for d in wait(
                lambda: run(w.stack, r2, theirs[0]["id"])["decisions"], "r2's run decided",
                timeout=120,
            )
        ]  # fmt: skip
        # fenced by the Lease, or (when r1's change was already visible) nothing left to do
        fenced = any("not the leader" in r for r in reasons)
        assert fenced or any("nothing to do" in r for r in reasons), reasons
        assert lease_holder(w.stack) == "r1"
        why = "fenced by the Lease" if fenced else "found trading already paused"
        seen.notes.append(f"r2 got the same alert, did not act ({why}); r1 kept the Lease")
        code, _ = call(as_stack(w.stack, r2), "POST", f"/runs/{theirs[0]['id']}/cancel",
                       body={"reason": "fault matrix: fencing checked"})  # fmt: skip
        assert code == 200
    finally:
        lift(w)
    return seen


def _webhook_direct(w: World, *alerts: dict[str, Any]) -> tuple[int, Any]:
    return post_webhook(as_stack(w.stack, w.rem), notification(*alerts))


def _one_run_from(w: World, attempt: str, send: Callable[[World], None]) -> Seen:
    """`send` posts webhooks straight to the remediator (as Alertmanager would, in whatever order
    and number); exactly one gate run must follow and end."""
    restore(w)
    before = {r["id"] for r in runs(w.stack, w.rem)}
    send(w)
    fresh = [r for r in runs(w.stack, w.rem) if r["id"] not in before]
    assert len(fresh) == 1, fresh
    run_id = fresh[0]["id"]
    at = run(w.stack, w.rem, run_id)
    final = wait(lambda: (r := run(w.stack, w.rem, run_id))["outcome"] is not None and r,
                 f"the {attempt} run to end")  # fmt: skip
    resolved = alert(**GATE, attempt=attempt, status="resolved")
    _webhook_direct(w, resolved)
    return observe(w, final, at)


def am_duplicates(w: World) -> Seen:
    def send(w: World) -> None:
        firing = alert(**GATE, attempt="dup")
        answers = [_webhook_direct(w, firing) for _ in range(3)]
        assert all(code == 202 for code, _ in answers), answers
        assert len({tuple(body["runs"]) for _, body in answers}) == 1, answers

    return _one_run_from(w, "dup", send)


def am_out_of_order(w: World) -> Seen:
    def send(w: World) -> None:
        newer = alert(**GATE, attempt="order")
        older = {**newer, "startsAt": (datetime.now(UTC) - timedelta(minutes=10)).isoformat()}
        for a in (newer, older):
            code, body = _webhook_direct(w, a)
            assert code == 202, (code, body)

    return _one_run_from(w, "order", send)


def am_resolved_first(w: World) -> Seen:
    def send(w: World) -> None:
        resolved = alert(**GATE, attempt="early", status="resolved")
        code, body = _webhook_direct(w, resolved)
        assert code == 202 and body["runs"] == [], (code, body)
        code, body = _webhook_direct(w, alert(**GATE, attempt="early"))
        assert code == 202 and len(body["runs"]) == 1, (code, body)

    seen = _one_run_from(w, "early", send)
    seen.notes.append("the early resolved opened no run; the firing after it did")
    return seen


def journal_disk_full(w: World) -> Seen:
    """RLIMIT_FSIZE of 1 byte on the running remediator (prlimit(2)): every write past a file's
    first byte fails with EFBIG, the journal's included - as on a full disk, where SQLite
    reports SQLITE_FULL. (A size-limited tmpfs for the journal alone needs a remount per row.)"""
    restore(w)
    before = runs(w.stack, w.rem)
    firing = alert(**GATE, attempt="disk-full")
    resource.prlimit(w.rem.pid, resource.RLIMIT_FSIZE, (1, resource.RLIM_INFINITY))
    try:
        code, body = _webhook_direct(w, firing)
        assert code == 503 and "journal cannot be written" in body["error"], (code, body)
        assert healthy(w.rem), "/healthz while the journal cannot be written"
        kept = runs(w.stack, w.rem)
    finally:
        resource.prlimit(w.rem.pid, resource.RLIMIT_FSIZE,
                         (resource.RLIM_INFINITY, resource.RLIM_INFINITY))  # fmt: skip
    assert [r["id"] for r in kept] == [r["id"] for r in before]  # every earlier run readable
    # Alertmanager retries a 503; the retry, once space is back:
    seen = _one_run_from(w, "disk-full", lambda w: _retry_accepted(w, firing))
    seen.notes.append("the webhook under EFBIG answered 503 (Alertmanager retries); the retry "
                      "after the limit was lifted opened the run")  # fmt: skip
    return seen


def open_run_id(w: World) -> str:
    open_gate = [r for r in runs(w.stack, w.rem) if r["outcome"] is None]
    assert len(open_gate) == 1, open_gate
    return str(open_gate[0]["id"])


def _retry_accepted(w: World, firing: dict[str, Any]) -> None:
    code, body = _webhook_direct(w, firing)
    assert code == 202 and len(body["runs"]) == 1, (code, body)
