"""Gates: each one blocks with its reason; an unreadable kill switch counts as paused."""

from __future__ import annotations

from remediator_kit import NOW, day_partition, facts, verdict

from remediator.policy import Context, KillSwitch, blocked, evaluate
from remediator.procedures import plan

OFF = (KillSwitch("config", False), KillSwitch("api", False), KillSwitch("annotation", False))


def ctx(**kw) -> Context:
    base = dict(
        now=NOW,
        key="A/torghut/torghut-ta",
        target="torghut/torghut-ta",
        last_acted_end=None,
        runs_last_hour=1,
        other_open_on_target=(),
        switches=OFF,
    )
    base.update(kw)
    return Context(**base)


def a_plan(rcfg):
    disk = {"clickhouse-disk": verdict("clickhouse-disk", "down", "A")}
    return plan("A", facts(verdicts=disk, partitions=(day_partition(8),)), rcfg)


def gates_by_name(gates):
    return {g.gate: (g.verdict, g.reason) for g in gates}


def test_observe_mode_blocks_only_on_mode_when_everything_else_passes(rcfg) -> None:
    gates = evaluate(a_plan(rcfg), ctx(), rcfg)
    assert [g.gate for g in blocked(gates)] == ["mode"]
    assert "nothing is changed" in gates_by_name(gates)["mode"][1]


def test_each_gate_blocks_and_says_why(rcfg) -> None:
    p = a_plan(rcfg)
    cases = {
        "kill_switch_api": ctx(
            switches=(OFF[0], KillSwitch("api", True, "paused by alice: maintenance"), OFF[2])
        ),
        "kill_switch_annotation": ctx(
            switches=(*OFF[:2], KillSwitch("annotation", None, "HTTP 403"))
        ),
        "cooldown": ctx(last_acted_end=NOW - 60),
        "rate_limit": ctx(runs_last_hour=50),
        "single_flight": ctx(other_open_on_target=("run-1",)),
    }
    for gate, context in cases.items():
        verdict_, reason = gates_by_name(evaluate(p, context, rcfg))[gate]
        assert verdict_ == "block", gate
        assert reason
    annotation = gates_by_name(evaluate(p, cases["kill_switch_annotation"], rcfg))[
        "kill_switch_annotation"
    ]
    assert "counts as paused" in annotation[1]
    assert (
        "1740s of cooldown left"
        in gates_by_name(evaluate(p, cases["cooldown"], rcfg))["cooldown"][1]
    )


def test_cooldown_ends_and_the_trading_gate_is_not_single_flighted(rcfg) -> None:
    p = a_plan(rcfg)
    assert gates_by_name(evaluate(p, ctx(last_acted_end=NOW - 3600), rcfg))["cooldown"][0] == "pass"
    gate_plan = plan(
        "trading_gate", facts(verdicts={"freshness": verdict("freshness", "down")}), rcfg
    )
    assert (
        gates_by_name(evaluate(gate_plan, ctx(other_open_on_target=("run-1",)), rcfg))[
            "single_flight"
        ][0]
        == "pass"
    )


def test_steps_outside_policy_bounds_ask_for_approval(rcfg) -> None:
    disk = {"clickhouse-disk": verdict("clickhouse-disk", "down", "A")}
    p = plan("A", facts(verdicts=disk, partitions=(day_partition(30),)), rcfg)  # older than Kafka
    verdict_, reason = gates_by_name(evaluate(p, ctx(), rcfg))["approval"]
    assert verdict_ == "approval" and "1 step(s) need a person: drop_partition" in reason
