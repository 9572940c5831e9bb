"""Procedure C's pure planning: feasibility, isolation, the way back, refusals, bad input."""

from __future__ import annotations

import pytest

from remediator.replay_plan import (
    NO_SAVEPOINT,
    ReplayFacts,
    ReplayRequest,
    TableFact,
    plan_replay,
    replay_group,
)
from remediator.replay_times import ReplayInputError, Window, parse_time, parse_window

NOW = 1_800_000_000.0  # 2027-01-15T08:00:00Z
HOUR = 3600.0
RUN = "run-20270115T080000Z-abc123"


def facts(**kw: object) -> ReplayFacts:
    base: dict[str, object] = dict(
        now=NOW,
        steady_group="torghut-ta-v1",
        starting_offsets="earliest",
        upgrade_mode="last-state",
        image="registry.example/torghut-ta@sha256:" + "a" * 64,
        input_topics=("trades", "quotes"),
        earliest={"trades": NOW - 7 * 24 * HOUR, "quotes": NOW - 3 * 24 * HOUR},
        window_records=72_000,
        recent_rate=40.0,
        steady_committed={"trades:0": 1000},
        output_tables={
            "ta_signals": TableFact("ReplacingMergeTree", 30 * 86400.0),
            "ta_microbars": TableFact("ReplicatedReplacingMergeTree", None),
        },
        output_topics={"TA_SIGNALS_TOPIC": "ta.signals"},
        output_consumers=("torghut-trading",),
        trading_enabled=True,
        market_open=True,
        job_state="RUNNING",
        lifecycle="STABLE",
    )
    base.update(kw)
    return ReplayFacts(**base)  # type: ignore[arg-type]


def request(start: float = NOW - 2 * HOUR, end: float | None = None, **kw: object) -> ReplayRequest:
    return ReplayRequest(Window(start, end), "bad signals after the 06:00 deploy", "alice", **kw)  # type: ignore[arg-type]


def names(plan: object) -> list[str]:
    return [s.name for s in plan.steps]  # type: ignore[attr-defined]


def test_plan_starts_stateless_from_the_timestamp_under_a_new_group() -> None:
    plan = plan_replay(request(), facts(), RUN)
    assert plan.refused is None
    assert plan.shape == "C-to-present"
    start = next(s for s in plan.steps if s.name == "start_replay")
    assert start.target["upgrade_mode"] == "stateless"
    assert start.target["starting_offsets"] == f"timestamp:{int((NOW - 2 * HOUR) * 1000)}"
    assert start.target["group"] == replay_group("torghut-ta-v1", RUN, NOW)
    assert start.target["group"].startswith("torghut-ta-v1-replay-20270115T080000Z-abc123")
    assert any("new group id alone would replay nothing" in n for n in plan.notes)
    assert any("estimated_seconds: 1800" == n for n in plan.notes)
    assert any("torghut-trading" in n for n in plan.notes)


def test_the_way_back_is_planned_before_the_way_out() -> None:
    plan = plan_replay(request(end=NOW - HOUR), facts(), RUN)
    order = names(plan)
    assert order[0] == "record_steady_state"
    assert order.index("pause_trading") < order.index("start_replay")
    assert order.index("silence_replay_alerts") < order.index("start_replay")
    assert order.index("return_to_steady") < order.index("restore_last_state")
    back = next(s for s in plan.steps if s.name == "return_to_steady")
    assert back.target == {
        "group": "torghut-ta-v1",
        "starting_offsets": "committed",
        "image": facts().image,
    }
    restore = next(s for s in plan.steps if s.name == "restore_last_state")
    assert restore.target["upgrade_mode"] == "last-state"
    assert restore.target["starting_offsets"] == "earliest"
    assert order[-1] == "expire_silences"
    assert plan.shape == "C-bounded"


def test_a_healthy_job_gets_a_savepoint_right_after_the_steady_state_is_recorded() -> None:
    plan = plan_replay(request(end=NOW - HOUR), facts(), RUN)
    assert names(plan)[:2] == ["record_steady_state", "take_savepoint"]
    step = plan.steps[1]
    assert step.kind == "reversible" and "savepointTriggerNonce" in step.why
    assert any("initialSavepointPath" in n and "savepointRedeployNonce" in n for n in plan.notes)
    assert not any(NO_SAVEPOINT in n for n in plan.notes)


@pytest.mark.parametrize(
    ("job_state", "lifecycle"),
    [("RUNNING", "DEPLOYED"), ("FAILED", "FAILED"), ("RUNNING", None), (None, None)],
)
def test_no_savepoint_unless_running_and_stable(
    job_state: str | None, lifecycle: str | None
) -> None:
    plan = plan_replay(request(), facts(job_state=job_state, lifecycle=lifecycle), RUN)
    assert plan.refused is None
    assert "take_savepoint" not in names(plan)
    [note] = [n for n in plan.notes if n.startswith(NO_SAVEPOINT)]
    assert f"job {job_state or 'unknown'}, lifecycle {lifecycle or 'unknown'}" in note
    assert names(plan)[0] == "record_steady_state"  # the committed offsets are still recorded


def test_signals_known_good_skips_the_pause_and_says_who() -> None:
    plan = plan_replay(request(signals_known_good=True), facts(), RUN)
    assert "pause_trading" not in names(plan)
    assert any("alice stated the signals are known good" in n for n in plan.notes)


def test_trading_unknown_is_paused() -> None:
    assert "pause_trading" in names(plan_replay(request(), facts(trading_enabled=None), RUN))
    assert "pause_trading" not in names(plan_replay(request(), facts(trading_enabled=False), RUN))


def test_refused_before_the_earliest_retained_record_with_the_numbers() -> None:
    plan = plan_replay(request(start=NOW - 4 * 24 * HOUR), facts(), RUN)
    assert plan.refused is not None
    assert "earliest retained record of quotes" in plan.refused
    assert "2027-01-12T08:00:00Z" in plan.refused and "86400s later" in plan.refused
    assert not plan.steps


def test_refused_when_retention_is_unknown() -> None:
    plan = plan_replay(request(), facts(earliest={"trades": NOW - HOUR * 100, "quotes": None}), RUN)
    assert plan.refused is not None and "quotes could not be read" in plan.refused


def test_refused_while_another_replay_runs() -> None:
    plan = plan_replay(request(), facts(active_replay="run-x"), RUN)
    assert plan.refused is not None and "run-x" in plan.refused


def test_refused_when_the_group_equals_the_steady_state_one() -> None:
    plan = plan_replay(request(group_id="torghut-ta-v1"), facts(), RUN)
    assert plan.refused is not None and "equals the steady-state group" in plan.refused


def test_refused_when_the_steady_state_is_unreadable() -> None:
    plan = plan_replay(request(), facts(image=None), RUN)
    assert plan.refused is not None and "spec.image" in plan.refused


def test_warns_about_ttl_and_non_deduplicating_tables() -> None:
    tables = {
        "ta_signals": TableFact("MergeTree", 3600.0),
        "ta_microbars": None,
    }
    plan = plan_replay(request(), facts(output_tables=tables), RUN)
    assert plan.refused is None
    text = " | ".join(plan.notes)
    assert "older than its TTL" in text
    assert "MergeTree does not deduplicate" in text
    assert "ta_microbars: engine and TTL could not be read" in text


def test_no_estimate_without_volume() -> None:
    plan = plan_replay(request(), facts(window_records=None), RUN)
    assert any("volume of the window is unknown" in n for n in plan.notes)


def test_digest_changes_with_the_steady_state() -> None:
    assert facts().digest() == facts(steady_committed={"trades:0": 5}).digest()
    assert facts().digest() != facts(steady_group="other").digest()
    assert facts().digest() != facts(upgrade_mode="stateless").digest()


# --- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2027-01-15T06:00:00Z", NOW - 2 * HOUR),
        ("2027-01-15T08:00:00+02:00", NOW - 2 * HOUR),
        ("2027-01-15 06:00:00 UTC", NOW - 2 * HOUR),
        ("2027-01-15T06:00:00+00:00", NOW - 2 * HOUR),
    ],
)
def test_times_with_utc_or_an_offset(text: str, expected: float) -> None:
    assert parse_time(text, "from") == expected


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("2027-01-15T06:00:00", "has no time zone"),
        ("2027-01-15T06:00:00 EST", "time zone 'EST' is not accepted"),
        ("2027-01-15T06:00:00 Europe/Berlin", "time zone 'Europe/Berlin' is not accepted"),
        ("yesterday", "is not a time"),
        ("2027-13-45T06:00:00Z", "is not a time"),
        ("", "a time is required"),
    ],
)
def test_bad_times_name_the_field(text: str, fragment: str) -> None:
    with pytest.raises(ReplayInputError) as err:
        parse_time(text, "from")
    assert err.value.field == "from"
    assert fragment in str(err.value)
    assert str(err.value).startswith("from: ")


def test_future_times_and_an_end_before_the_start() -> None:
    with pytest.raises(ReplayInputError, match=r"^from: .* is in the future"):
        parse_window("2027-01-15T09:00:00Z", None, now=NOW)
    with pytest.raises(ReplayInputError, match=r"^to: .* is in the future"):
        parse_window("2027-01-15T06:00:00Z", "2027-01-15T09:00:00Z", now=NOW)
    with pytest.raises(ReplayInputError, match=r"^to: .* is not after --from"):
        parse_window("2027-01-15T06:00:00Z", "2027-01-15T05:00:00Z", now=NOW)
    window = parse_window("2027-01-15T06:00:00Z", "2027-01-15T07:00:00Z", now=NOW)
    assert window == Window(NOW - 2 * HOUR, NOW - HOUR)
