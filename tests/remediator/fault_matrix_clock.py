"""The fault matrix's clock rows: the remediator alone under libfaketime (its wall clock read
from a file, its monotonic clock real, as on a host whose NTP steps the clock), the clock jumping
forward and back around a trading-gate run, during its verification, and past
policy.alerts_silent_after while the run is held open across the sweep."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from fault_matrix_drivers import HOLD_VERIFY, open_run_id
from fault_matrix_faults import kube_lift, lease_holder
from fault_matrix_kit import Seen, World, gate_run, run
from remediator_e2e_kit import as_stack

from sandbox.testing.remediator import alert, notification, post_webhook
from sandbox.util import poll_until

# Debian's libfaketime (scripts/ensure-deps.sh installs it): the wall clock of the one process
# it is preloaded into, read from a file on every call; the monotonic clock stays real
FAKETIME_LIB = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1")
HOUR = 3600.0


def _under_faketime(w: World, policy: dict[str, Any] | None = None) -> Path:
    """r1 restarted with libfaketime preloaded (and `policy` over the matrix's); the file its
    wall-clock offset is read from."""
    if not FAKETIME_LIB.exists():
        raise AssertionError(f"{FAKETIME_LIB} is missing: run scripts/ensure-deps.sh "
                             "(Debian package libfaketime)")  # fmt: skip
    offset = Path(w.stack["dir"]) / "r1.faketime"
    offset.write_text("+0\n")
    env = {"LD_PRELOAD": str(FAKETIME_LIB), "FAKETIME_TIMESTAMP_FILE": str(offset),
           "FAKETIME_NO_CACHE": "1", "FAKETIME_DONT_FAKE_MONOTONIC": "1"}  # fmt: skip
    w.rem.stop()
    w.rem = w.relaunch(env=env, policy=policy)
    return offset


def _real_clock_again(w: World, offset: Path) -> None:
    offset.write_text("+0\n")
    w.rem.stop()
    w.rem = w.relaunch()


def clock_jumps(w: World) -> Seen:
    """r1 runs under libfaketime: its wall clock jumps 1 h forward while pause_trading acts and
    2 h back (to 1 h behind) once the step is done; the monotonic clock (the Lease's timing)
    is untouched, as on a host whose NTP steps the clock. The jump stays under
    policy.alerts_silent_after (2 h): the row `clock-jump-past-silence` passes it."""
    offset = _under_faketime(w)

    def forward(w: World) -> None:
        offset.write_text("+1h\n")
        HOLD_VERIFY(w)  # verification waits for the jump back (it reads the switch in 0.1 s)

    def back_then_release(w: World) -> None:
        offset.write_text("-1h\n")
        poll_until(
            lambda: _trading_read_failed(w, lambda ts: ts < time.time() - HOUR / 2),
            timeout=180, interval=0.5, what="the remediator reading after the jump back",
        )  # fmt: skip
        kube_lift(w)

    try:
        seen = gate_run(
            w, "clock", inject=forward, when="acting", lift=kube_lift, after_done=back_then_release
        )
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
    run_id = open_run_id(w)
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
        return got if _trading_read_failed(w, lambda ts: ts > jumped_at + HOUR / 2) else None

    poll_until(checked_after_jump, timeout=180, interval=0.5,
               what="the remediator checking again after the jump, or the run ending")  # fmt: skip
    kube_lift(w)


def _trading_read_failed(w: World, at: Callable[[float], bool]) -> bool:
    """The remediator logged a failed read of the trading service at a wall time `at` accepts
    (its log carries its own, faked, wall clock)."""
    for line in w.rem.log.read_text(errors="replace").splitlines()[-400:]:
        if '"probe": "trading"' not in line or "probe failed" not in line:
            continue
        try:
            ts = json.loads(line)["ts"]
        except (ValueError, KeyError):
            continue
        if at(datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()):
            return True
    return False


# policy.alerts_silent_after for this row (2 h shipped): the sweep runs every
# min(60 s, silent_after / 4), so 30 s here instead of a minute; the jump (1 h) passes it as it
# would pass 2 h, and the silence the sweep measured (over 0.9 h) shows it was the jump
SILENT_AFTER = 120.0
JUMP = HOUR
# a run that never acts: procedure A refused at triage (the replicated stack's disk is not under
# pressure), open while its alert fires; posted straight to the webhook, so nothing re-sends it
UNACTED = {"alertname": "TAClickHouseDiskPressure", "procedure": "A", "severity": "critical"}


def clock_jump_past_silence(w: World) -> Seen:
    """The wall clock jumps 1 h forward (past policy.alerts_silent_after, 120 s here) while the
    gate run, which has acted, is held in verification (HOLD_VERIFY; verify_timeout 600 s, the
    shipped default, so the hold outlasts a sweep), next to a run that never acted. The sweep
    after the jump must presume only the latter resolved; the acted run ends through its
    executor once the hold is lifted. The clock is stepped back first (NTP correcting it): the
    run's end is what the next rows' cooldown reads (an end an hour ahead would hold their
    gate runs in cooldown for that hour)."""
    policy = {"verify_timeout": "600s", "alerts_silent_after": f"{SILENT_AFTER:.0f}s"}
    offset = _under_faketime(w, policy=policy)
    swept: list[dict[str, Any]] = []
    unacted = alert(**UNACTED, attempt="silence")
    try:
        seen = gate_run(
            w, "silence", inject=HOLD_VERIFY, when="acting", lift=kube_lift,
            after_done=lambda w: _jump_past_silence(w, offset, unacted, swept),
        )  # fmt: skip
    finally:
        kube_lift(w)
        post_webhook(as_stack(w.stack, w.rem), notification({**unacted, "status": "resolved"}))
        _real_clock_again(w, offset)
    assert swept, "the sweep never ended the run that had not acted"
    seen.notes.append(
        f"after +1 h the sweep presumed the never-acted run resolved ({swept[0]['reason']!r}); "
        "the acted run, as silent, stayed open in verification and ended through its executor"
    )
    return seen


def _jump_past_silence(
    w: World, offset: Path, unacted: dict[str, Any], swept: list[dict[str, Any]]
) -> None:
    gate_id = open_run_id(w)
    poll_until(lambda: run(w.stack, w.rem, gate_id)["steps"][1]["status"] == "acting",
               timeout=120, interval=0.2, what="verify_trading_paused begun")  # fmt: skip
    code, body = post_webhook(as_stack(w.stack, w.rem), notification(unacted))
    assert code == 202 and len(body["runs"]) == 1, (code, body)
    other = body["runs"][0]
    triaged = poll_until(
        lambda: (r := run(w.stack, w.rem, other))["state"] not in ("new", "triage") and r,
        timeout=120, interval=0.5, what="the never-acted run triaged",
    )  # fmt: skip
    assert triaged["outcome"] is None and not triaged["acted"], triaged
    offset.write_text("+1h\n")  # JUMP
    ended = poll_until(
        lambda: (r := run(w.stack, w.rem, other))["outcome"] is not None and r,
        timeout=240, interval=1.0, what="the sweep after the jump ending the never-acted run",
    )  # fmt: skip
    assert ended["outcome"] == "resolved" and "presumed resolved" in ended["reason"], ended
    # the sweep that ended it ran after the jump (not on real silence), and the acted run was
    # just as silent at that sweep; it is still verifying
    gate = run(w.stack, w.rem, gate_id)
    for silent in (ended, gate):
        last_seen = max(a["last_seen"] for a in silent["alerts"])
        assert ended["ended_at"] - last_seen > 0.9 * JUMP, (ended["ended_at"], silent["alerts"])
    assert gate["outcome"] is None and gate["acted"], gate
    assert [s["status"] for s in gate["steps"]] == ["done", "acting"], gate["steps"]
    swept.append(ended)
    offset.write_text("+0\n")
    kube_lift(w)
