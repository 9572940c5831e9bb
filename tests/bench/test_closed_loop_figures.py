"""A fault scenario's figures in bench/closed_loop.py: which alert they are measured from, and
the stage shares, from a made-up timeline, run and sync history."""

from __future__ import annotations

from typing import Any

from bench.closed_loop import figures, succeeded_run
from bench.closed_loop_replay import sync_began_in
from sandbox.scenario_run import alert_key

T0 = 1_000.0
WARNING = {"alertname": "TAClickHouseDiskPressure", "severity": "warning", "procedure": "A"}
GATE = {"alertname": "TATradingOnStaleSignals", "severity": "critical", "procedure": "none",
        "signals": "stale"}  # fmt: skip
REMEDIATOR = ["torghut-ta-remediator"]


def _alert(labels: dict[str, str], state: str, t: float) -> dict[str, Any]:
    name, key = alert_key(labels)
    return {"event": "alert", "name": name, "key": key, "state": state, "at": T0 + t}


def _routed(labels: dict[str, str], t: float) -> dict[str, Any]:
    name, key = alert_key(labels)
    return {"event": "routed", "name": name, "key": key, "receivers": REMEDIATOR, "at": T0 + t}


def _timeline() -> dict[str, Any]:
    """stale signals with trading on, on a stack whose predicted-disk warning fires first and
    opens a run the remediator refuses"""
    events = [
        _alert(WARNING, "firing", 240),  # pending before the injection: no pending event here
        _routed(WARNING, 240),
        {"event": "ended", "run": "run-warning", "outcome": "refused", "at": T0 + 290},
        _alert(GATE, "pending", 300),
        _alert(GATE, "firing", 420),
        _routed(GATE, 420),
        {"event": "ended", "run": "run-gate", "outcome": "succeeded", "at": T0 + 428},
    ]
    return {"injected_at": T0, "events": events}


RUN = {
    "id": "run-gate",
    "created_at": T0 + 421.5,
    "ended_at": T0 + 428,
    "alerts": [{"alertname": GATE["alertname"],
                "labels": {k: v for k, v in GATE.items() if k != "alertname"}}],
    "steps": [
        {"name": "pause_trading", "started_at": T0 + 422, "ended_at": T0 + 427},
        {"name": "verify_trading_paused", "started_at": T0 + 427, "ended_at": T0 + 428},
    ],
}  # fmt: skip


def test_the_figures_follow_the_alert_of_the_succeeded_run_not_the_first_routed() -> None:
    timeline = _timeline()
    assert succeeded_run(timeline) == "run-gate"
    # Argo CD's history is in whole seconds: the run's sync began at 421.6 and reads 421
    got = figures(timeline, RUN, [(T0 + 100, T0 + 101), (T0 + 421, T0 + 422)])
    assert got is not None
    assert got["fault_to_firing"] == 420  # the gate's firing, not the warning's at 240
    assert got["firing_to_first_actuation"] == 2
    assert got["mttr"] == 6
    assert got["total"] == 428
    assert got["share_detection"] == 300 and got["share_prometheus_for"] == 120
    assert got["share_alertmanager"] == 1.5
    assert got["share_argocd"] == 1  # the sync before the run is not the run's
    assert got["share_operator"] == 1  # verify_trading_paused
    assert got["share_remediator"] == 6.5 - 1 - 1  # webhook -> end less Argo CD, the operator
    shares = sum(v for k, v in got.items() if k.startswith("share_"))
    assert shares == got["total"]


def test_no_figures_without_a_succeeded_run_or_its_alert_routed_to_the_remediator() -> None:
    timeline = _timeline()
    assert figures(timeline, None, []) is None
    events = [
        e for e in timeline["events"] if not (e["event"] == "routed" and "signals" in e["key"])
    ]
    assert figures({**timeline, "events": events}, RUN, []) is None
    no_success = [e for e in timeline["events"] if e.get("outcome") != "succeeded"]
    assert succeeded_run({**timeline, "events": no_success}) is None


def test_a_sync_read_up_to_a_second_early_began_in_the_step() -> None:
    assert sync_began_in(421.0, 421.5, 428.0)  # truncated from 421.5-422
    assert not sync_began_in(420.5, 421.5, 428.0)  # a second or more before: an earlier one
    assert sync_began_in(428.0, 421.5, 428.0) and not sync_began_in(428.1, 421.5, 428.0)
