"""The replay scenario's figures in bench/closed_loop.py: phases and shares from a timeline,
the journal's two runs and Argo CD's syncs (made up here, as the stack would report them)."""

from __future__ import annotations

from typing import Any

import pytest

from bench.closed_loop_replay import IN_STEP, NO_STEP, PHASES, SHARES, figures, report, split

T0 = 1_000.0


def _step(name: str, start: float, end: float | None, status: str = "done") -> dict[str, Any]:
    return {"name": name, "started_at": T0 + start, "ended_at": None if end is None else T0 + end,
            "status": status}  # fmt: skip


def test_split_counts_each_instant_once_by_priority() -> None:
    spans = [(10.0, 20.0, "pipeline"), (15.0, 18.0, "argocd"), (30.0, 35.0, "person")]
    got = split(0.0, 40.0, spans)
    assert got == {"argocd": 3.0, "operator": 0.0, "pipeline": 7.0, "person": 5.0,
                   "remediator": 25.0}  # fmt: skip
    # spans reaching outside the span measured are clipped to it
    assert split(12.0, 16.0, spans) == {
        **dict.fromkeys(SHARES, 0.0),
        "argocd": 1.0,
        "pipeline": 3.0,
    }


REPLAY = {
    "id": "run-c", "created_at": T0 + 0.5, "ended_at": T0 + 80.0,
    "steps": [
        _step("record_steady_state", 1, 2),
        _step("take_savepoint", 2, 10),  # sync 4-5: the operator's savepoint 5-10
        _step("pause_trading", 10, 14),  # sync 11-12
        _step("silence_replay_alerts", 14, 15),
        _step("start_replay", 15, 25),  # sync 17-18: the new job RUNNING 18-25
        _step("verify_replay_caught_up", 25, 55),
        _step("verify_rewritten", 55, None, "acting"),  # cancelled by the rollback
    ],
}  # fmt: skip
ROLLBACK = {
    "id": "run-b", "created_at": T0 + 58.0, "ended_at": T0 + 100.0,
    "steps": [
        _step("wait_replay_stopped", 58, 60),
        _step("return_to_steady", 60, 70),  # sync 62-63
        _step("restore_last_state", 70, 85),  # the checkpoint 70-80, sync 81-82
        _step("verify_steady_offsets", 85, 90),
        _step("verify_job", 90, 95),
        _step("expire_silences", 95, 100),
    ],
}  # fmt: skip
SYNCS = [(T0 + a, T0 + b) for a, b in ((4, 5), (11, 12), (17, 18), (62, 63), (81, 82))]
TIMELINE = {
    "injected_at": T0,
    "events": [
        {"event": "inject", "at": T0},
        {"event": "plan", "at": T0 + 0.5, "run": "run-c"},
        {"event": "approval", "at": T0 + 1.0, "run": "run-c"},
        {"event": "ended", "at": T0 + 80, "run": "run-c", "procedure": "C", "outcome": "cancelled"},
        {"event": "ended", "at": T0 + 100, "run": "run-b", "procedure": "C-rollback",
         "outcome": "succeeded"},
    ],
}  # fmt: skip


def test_phases_and_shares_of_a_replay_rolled_back_once_caught_up() -> None:
    got = figures(TIMELINE, {"run-c": REPLAY, "run-b": ROLLBACK}, SYNCS)
    assert got is not None
    assert [got[k] for k in PHASES] == [25.0, 30.0, 45.0]
    assert got["total"] == 100.0
    shares = {s: got[f"share_{s}"] for s in SHARES}
    assert shares["argocd"] == 5.0
    # after each GitOps step's sync: 5 + 2 + 7 + 7 + 3, and verify_job's 5
    assert shares["operator"] == 29.0
    # caught up 30, rewritten never ended, the checkpoint 10 (70 -> the sync at 81 is 11),
    # steady offsets 5
    assert shares["pipeline"] == 30.0 + 11.0 + 5.0
    # the start asked 0.5 after the plan; the rollback asked 3 s after the catch-up
    assert shares["person"] == pytest.approx(3.5)
    assert sum(shares.values()) == pytest.approx(got["total"])
    assert shares["remediator"] == pytest.approx(100 - 5 - 29 - 46 - 3.5)
    # what is left, by the step acting then: the seconds before and after each sync, the
    # waits of the rollback, the silences' expiry; before the first step, the plan
    mine = {k[len(IN_STEP) :]: v for k, v in got.items() if k.startswith(IN_STEP)}
    assert mine == pytest.approx({
        NO_STEP: 0.5, "record_steady_state": 1, "take_savepoint": 2, "pause_trading": 1,
        "silence_replay_alerts": 1, "start_replay": 2, "wait_replay_stopped": 2,
        "return_to_steady": 2, "expire_silences": 5,
    })  # fmt: skip


def test_no_figures_without_the_catch_up_or_a_verified_rollback() -> None:
    runs = {"run-c": REPLAY, "run-b": ROLLBACK}
    failed = {**TIMELINE, "events": [
        {**e, "outcome": "failed"} if e.get("procedure") == "C-rollback" else e
        for e in TIMELINE["events"]
    ]}  # fmt: skip
    assert figures(failed, runs, SYNCS) is None
    early = {**REPLAY, "steps": REPLAY["steps"][:5]}  # rolled back before it caught up
    assert figures(TIMELINE, {**runs, "run-c": early}, SYNCS) is None
    assert figures({**TIMELINE, "events": TIMELINE["events"][:3]}, runs, SYNCS) is None


def test_the_report_prints_phases_shares_and_the_remediator_share() -> None:
    got = figures(TIMELINE, {"run-c": REPLAY, "run-b": ROLLBACK}, SYNCS)
    assert got is not None
    text = "\n".join(report("fast", "replay", [got, got]))
    assert "plan->started" in text and "caught up->rolled back" in text
    assert "25.0 (25.0-25.0)" in text
    assert "the remediator's own share of plan -> rolled back (fast): 16.5% (OVER" in text
    assert "the remediator's part by step (s): expire_silences 5.0, take_savepoint 2.0," in text
    assert report("fast", "replay", [])[-1].split() == ["replay", "0", "-", "-", "-"]
