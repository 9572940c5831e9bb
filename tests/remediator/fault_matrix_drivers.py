"""The fault matrix's rows that need more than one injection around `gate_run`: the remediator
SIGKILLed between actuation and verification, a second remediator, Alertmanager's duplicates and
reorderings (webhooks posted straight to the remediator), the journal unwritable, the clock."""

from __future__ import annotations

import json
import os
import resource
import signal
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
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
        run_id = _acting_run(w)
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


# Debian's libfaketime (scripts/ensure-deps.sh installs it): the wall clock of the one process
# it is preloaded into, read from a file on every call; the monotonic clock stays real
FAKETIME_LIB = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1")
HOUR = 3600.0


def _under_faketime(w: World) -> Path:
    """r1 restarted with libfaketime preloaded; the file its wall-clock offset is read from."""
    if not FAKETIME_LIB.exists():
        raise AssertionError(f"{FAKETIME_LIB} is missing: run scripts/ensure-deps.sh "
                             "(Debian package libfaketime)")  # fmt: skip
    offset = Path(w.stack["dir"]) / "r1.faketime"
    offset.write_text("+0\n")
    env = {"LD_PRELOAD": str(FAKETIME_LIB), "FAKETIME_TIMESTAMP_FILE": str(offset),
           "FAKETIME_NO_CACHE": "1", "FAKETIME_DONT_FAKE_MONOTONIC": "1"}  # fmt: skip
    w.rem.stop()
    w.rem = w.relaunch(env=env)
    return offset


def _real_clock_again(w: World, offset: Path) -> None:
    offset.write_text("+0\n")
    w.rem.stop()
    w.rem = w.relaunch()


def clock_jumps(w: World) -> Seen:
    """r1 runs under libfaketime: its wall clock jumps 1 h forward while pause_trading acts and
    2 h back (to 1 h behind) once the step is done; the monotonic clock (the Lease's timing)
    is untouched, as on a host whose NTP steps the clock. The jump stays under
    policy.alerts_silent_after (2 h): see the untested row `clock-jump-past-silence`."""
    offset = _under_faketime(w)
    try:
        seen = gate_run(
            w, "clock", inject=lambda _w: offset.write_text("+1h\n"), when="acting",
            after_done=lambda _w: offset.write_text("-1h\n"),
        )  # fmt: skip
        pause, verify = seen.run["steps"]
        # the jumps reached the journal's wall times: the step ended an hour after it started,
        # verification ended before the step it verifies
        assert pause["ended_at"] - pause["started_at"] > 0.9 * HOUR, pause
        assert verify["ended_at"] < pause["ended_at"] - 1.5 * HOUR, (pause, verify)
        assert lease_holder(w.stack) == "r1"
        seen.notes.append("journal wall times show +1 h then -2 h; r1 kept the Lease")
    finally:
        _real_clock_again(w, offset)
    return seen


def clock_forward_in_verify(w: World) -> Seen:
    """The wall clock jumps 1 h forward while verify_trading_paused waits (held by HOLD_VERIFY,
    so the check cannot pass yet); once the remediator has checked again after the jump (the
    step's journal row rewritten with a jumped time), the hold is lifted.
    Verification must run to its real deadline (60 s), not end because the wall clock moved."""
    offset = _under_faketime(w)
    try:
        seen = gate_run(
            w, "clock-verify", inject=HOLD_VERIFY, when="acting", lift=kube_lift,
            after_done=lambda w: _jump_then_release(w, offset),
        )  # fmt: skip
        seen.notes.append("verification outlived a +1 h wall-clock jump")
    finally:
        kube_lift(w)
        _real_clock_again(w, offset)
    return seen


def _jump_then_release(w: World, offset: Path) -> None:
    run_id = _acting_run(w)
    verifying = poll_until(
        lambda: (v := run(w.stack, w.rem, run_id)["steps"][1])["status"] == "acting"
        and v.get("started_at") and v,
        timeout=120, interval=0.2, what="verify_trading_paused started",
    )  # fmt: skip
    jumped_at = float(verifying["started_at"])
    offset.write_text("+1h\n")

    def checked_after_jump() -> dict[str, Any] | None:
        got = run(w.stack, w.rem, run_id)
        if got["outcome"] is not None:
            return got  # ended (a deadline measured on the wall clock)
        # the remediator read the (held) trading service again after the jump: its log line
        # for the failed read carries the jumped wall time
        return got if _trading_read_failed_since(w, jumped_at + 1800) else None

    poll_until(checked_after_jump, timeout=180, interval=0.5,
               what="the remediator checking again after the jump, or the run ending")  # fmt: skip
    kube_lift(w)


def _trading_read_failed_since(w: World, since: float) -> bool:
    for line in w.rem.log.read_text(errors="replace").splitlines()[-400:]:
        if '"probe": "trading"' not in line or "probe failed" not in line:
            continue
        try:
            ts = json.loads(line)["ts"]
        except (ValueError, KeyError):
            continue
        if datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp() > since:
            return True
    return False


def _acting_run(w: World) -> str:
    open_gate = [r for r in runs(w.stack, w.rem) if r["outcome"] is None]
    assert len(open_gate) == 1, open_gate
    return str(open_gate[0]["id"])


def _retry_accepted(w: World, firing: dict[str, Any]) -> None:
    code, body = _webhook_direct(w, firing)
    assert code == 202 and len(body["runs"]) == 1, (code, body)
