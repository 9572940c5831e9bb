"""The wiring from step names to the actuator functions, with the actuator modules replaced by
recording stand-ins of their fixed signatures (the modules themselves are tested against the
sandbox on their own branches): what is called, in which order, with which edits."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from remediator_kit import facts, remediator_data, verdict

from remediator import config
from remediator.actuate import JOB_FILE, TRADING_FILE, RealActuators
from remediator.actuators import ActuationError, no_fence
from remediator.config import parse_remediator_config
from remediator.facts import Facts
from remediator.journal import Run
from remediator.journal_acting import StepRecord

RUN = Run("run-1", "A/torghut/torghut-ta", "A", "torghut/torghut-ta", "auto", "acting", None, "",
          None, True, 0.0, 0.0, None)  # fmt: skip


def step(name: str, index: int = 0, **target: str) -> StepRecord:
    return StepRecord("run-1", index, name, "reversible", target, "acting", f"run-1/{index}/{name}",
                      1, 0.0, None, "", {})  # fmt: skip


class Stand:
    """Recording stand-ins for the functions of remediator.actuators.{gitops,argocd,kube,
    clickhouse,events,alertmanager}, patched into the modules."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.job = SimpleNamespace(desired_state="running", state="FAILED", lifecycle="FAILED")
        self.readonly: list[tuple[str, str]] = []
        self.self_heal_error: ActuationError | None = None

        def rec(name: str, result: Callable[[dict[str, Any]], Any] = lambda kw: None) -> Any:
            async def call(**kw: Any) -> Any:
                self.calls.append((name, kw))
                return result(kw)

            return call

        def change(kw: dict[str, Any]) -> Any:
            edited = {path: edit("<text>") for path, edit in kw["edits"].items()}
            pr = None if kw["how"] == "push" else "https://github.test/pull/7"
            merged = "m1" if kw["how"] == "merge" else None
            return SimpleNamespace(branch=f"remediator/{kw['run_id']}/{kw['step']}", commit="c1",
                                   pr_number=7, pr_url=pr, merged_sha=merged, diff=str(edited),
                                   changed=True)  # fmt: skip

        def sync(kw: dict[str, Any]) -> Any:
            return SimpleNamespace(revision=kw["revision"])

        def patch(kw: dict[str, Any]) -> Any:
            self.job.desired_state = kw["state"]
            if kw["state"] == "suspended":
                self.job.lifecycle = "SUSPENDED"
            return self.job

        def heal(kw: dict[str, Any]) -> bool:
            if self.self_heal_error is not None:
                raise self.self_heal_error
            return True

        mods = {
            "gitops": {
                "change": rec("gitops.change", change),
                "wait_merged": rec(
                    "gitops.wait_merged",
                    lambda kw: SimpleNamespace(**{**kw["change"].__dict__, "merged_sha": "m2"}),
                ),
                "set_env": lambda text, name, value: f"{text} {name}={value}",
                "set_job_state": lambda text, state, *, bump_nonce: (
                    f"{text} state={state} bump={bump_nonce}"
                ),
            },
            "argocd": {"sync": rec("argocd.sync", sync)},
            "kube": {
                "read_job": rec("kube.read_job", lambda kw: self.job),
                "patch_job": rec("kube.patch_job", patch),
                "set_self_heal": rec("kube.set_self_heal", heal),
            },
            "clickhouse": {
                "drop_partition": rec("clickhouse.drop_partition"),
                "restart_replica": rec("clickhouse.restart_replica"),
                "restore_replica": rec("clickhouse.restore_replica"),
                "readonly_replicas": rec("clickhouse.readonly_replicas", lambda kw: self.readonly),
            },
            "events": {"record": rec("events.record")},
            "alertmanager": {
                "post": rec("alertmanager.post"),
                "remediation_failed": lambda *a: ("TARemediationFailed", *a),
                "awaiting_approval": lambda *a: ("TARemediationAwaitingApproval", *a),
                "resolved_by_remediation": lambda *a: ("TAResolvedByRemediation", *a),
            },
        }
        for name, attrs in mods.items():  # actuate imports the modules: patch their functions
            module = importlib.import_module(f"remediator.actuators.{name}")
            for attr, value in attrs.items():
                monkeypatch.setattr(module, attr, value)

    def names(self) -> list[str]:
        return [c[0] for c in self.calls if c[0] != "events.record"]

    def first(self, name: str) -> dict[str, Any]:
        return next(kw for n, kw in self.calls if n == name)


@pytest.fixture
def make(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., tuple[RealActuators, Stand]]:
    monkeypatch.setattr(config, "ACTING_NEEDS", {})

    def build(
        mode: str = "auto", the_facts: Facts | None = None, **policy: Any
    ) -> tuple[RealActuators, Stand]:
        cfg = parse_remediator_config(remediator_data(tmp_path, mode=mode, policy=policy))
        # the sections the gitops helper adds to the config (remediator.gitops, .argocd)
        object.__setattr__(
            cfg.remediator, "gitops", SimpleNamespace(direct_push=False, merge_timeout=60.0)
        )
        object.__setattr__(
            cfg.remediator,
            "argocd",
            SimpleNamespace(app="torghut-ta", namespace="argocd", sync_timeout=30.0),
        )
        stand = Stand(monkeypatch)
        current = the_facts or facts()

        async def read() -> Facts:
            return current

        acts = RealActuators(cfg, facts=read)

        async def no_wait(seconds: float) -> None:
            stand.calls.append(("sleep", {"seconds": seconds}))

        acts.sleep = no_wait
        return acts, stand

    return build


async def test_pause_trading_is_a_merged_git_change_of_the_trading_switch_then_a_sync(
    make: Any,
) -> None:
    acts, stand = make()
    evidence = await acts.act(step("pause_trading"), run=RUN, key="k", fence=no_fence)
    assert stand.names() == ["gitops.change", "argocd.sync"]
    change = stand.first("gitops.change")
    assert change["how"] == "merge" and list(change["edits"]) == [TRADING_FILE]
    assert change["edits"][TRADING_FILE]("x") == "x TRADING_ENABLED=false"
    assert stand.first("argocd.sync")["revision"] == "m1"
    assert evidence["pr_url"] == "https://github.test/pull/7" and evidence["merged_sha"] == "m1"
    [event] = [kw for n, kw in stand.calls if n == "events.record"]
    assert event["reason"] == "TARemediationPauseTrading" and event["type"] == "Normal"


async def test_the_trading_pause_is_checked_from_the_trading_switch_alone(make: Any) -> None:
    """A frozen ClickHouse makes a whole probe cycle wait out its timeouts: the pause's
    idempotency check and its verification read only the trading switch."""
    acts, _stand = make()
    reads: list[str] = []

    async def whole_cycle() -> Facts:
        reads.append("all")
        raise AssertionError("the pause must not wait for every probe")

    async def trading_only() -> Facts:
        reads.append("trading")
        return facts(trading_enabled=False)

    acts.facts, acts.trading_facts = whole_cycle, trading_only
    assert await acts.already_done(step("pause_trading"), run=RUN) is True
    verified = await acts.verify(step("verify_trading_paused"), run=RUN)
    assert verified.ok is True and reads == ["trading", "trading"], (verified, reads)


async def test_propose_mode_opens_a_pull_request_and_waits_for_a_person_to_merge(make: Any) -> None:
    acts, stand = make("propose")
    stand.job.desired_state, stand.job.lifecycle = "suspended", "SUSPENDED"
    evidence = await acts.act(step("suspend_job"), run=RUN, key="k", fence=no_fence)
    assert stand.names() == ["gitops.change", "gitops.wait_merged", "argocd.sync", "kube.read_job"]
    assert stand.first("gitops.change")["how"] == "pull_request"
    assert stand.first("argocd.sync")["revision"] == "m2" and evidence["merged_sha"] == "m2"


async def test_resume_sets_running_and_bumps_the_nonce_then_waits_for_the_operator(
    make: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    acts, stand = make()
    stand.job.desired_state = "suspended"
    reads = iter(["suspended", "running"])

    async def read_job(**kw: Any) -> Any:
        stand.calls.append(("kube.read_job", kw))
        stand.job.desired_state = next(reads)
        return stand.job

    monkeypatch.setattr(importlib.import_module("remediator.actuators.kube"), "read_job", read_job)
    evidence = await acts.act(step("resume_job"), run=RUN, key="k", fence=no_fence)
    edit = stand.first("gitops.change")["edits"][JOB_FILE]
    assert edit("x") == "x state=running bump=True"
    assert stand.names() == [
        "gitops.change",
        "argocd.sync",
        "kube.read_job",
        "sleep",
        "kube.read_job",
    ]
    assert evidence["job"].startswith("spec running")


async def test_a_suspend_is_done_once_the_operator_reports_the_job_suspended(
    make: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The spec alone is not enough: partitions are dropped only once the job's writes stopped
    (at a real cluster's pace the operator takes tens of seconds after the sync)."""
    acts, stand = make()
    lifecycles = iter(["FAILED", "UPGRADING", "SUSPENDED"])

    async def read_job(**kw: Any) -> Any:
        stand.calls.append(("kube.read_job", kw))
        stand.job.desired_state, stand.job.lifecycle = "suspended", next(lifecycles)
        return stand.job

    monkeypatch.setattr(importlib.import_module("remediator.actuators.kube"), "read_job", read_job)
    evidence = await acts.act(step("suspend_job"), run=RUN, key="k", fence=no_fence)
    assert stand.names()[-5:] == ["kube.read_job", "sleep", "kube.read_job", "sleep",
                                  "kube.read_job"]  # fmt: skip
    assert evidence["job"].endswith("lifecycle SUSPENDED"), evidence


async def test_the_operator_not_reconciling_in_time_escalates(make: Any) -> None:
    acts, stand = make(verify_timeout="30s", verify_every="10s")
    stand.job.desired_state = "running"  # never becomes suspended
    clock = iter(range(0, 1000, 10))
    acts.clock = lambda: float(next(clock))
    with pytest.raises(ActuationError) as err:
        await acts.act(step("suspend_job"), run=RUN, key="k", fence=no_fence)
    assert err.value.escalate and "did not reconcile spec.job.state suspended" in str(err.value)
    assert [kw for n, kw in stand.calls if n == "events.record"][-1]["type"] == "Warning"


async def test_the_emergency_patch_turns_self_heal_off_first_and_restores_it(make: Any) -> None:
    acts, stand = make(emergency_patch=True)
    evidence = await acts.act(step("suspend_job"), run=RUN, key="k", fence=no_fence)
    assert stand.names() == [
        "kube.set_self_heal",
        "kube.patch_job",
        "gitops.change",
        "argocd.sync",
        "kube.set_self_heal",
        "kube.read_job",
    ]
    heal = [kw["enabled"] for n, kw in stand.calls if n == "kube.set_self_heal"]
    assert heal == [False, True] and evidence["self_heal"].startswith("restored")


async def test_the_emergency_patch_is_refused_when_self_heal_cannot_be_turned_off(
    make: Any,
) -> None:
    acts, stand = make(emergency_patch=True)
    stand.self_heal_error = ActuationError(
        "403 patching the Application", escalate=True, code="403"
    )
    stand.job.desired_state, stand.job.lifecycle = "suspended", "SUSPENDED"
    evidence = await acts.act(step("suspend_job"), run=RUN, key="k", fence=no_fence)
    assert "kube.patch_job" not in stand.names()  # never patched against self-heal
    assert evidence["emergency_patch"].startswith("refused")


async def test_clickhouse_steps_use_the_bare_table_and_the_configured_replica(make: Any) -> None:
    acts, stand = make()
    await acts.act(step("drop_partition", table="ta_signals", partition="20261120", bytes="9"),
                   run=RUN, key="k", fence=no_fence)  # fmt: skip
    await acts.act(step("restore_replica", replica="r2", table="torghut.ta_microbars"),
                   run=RUN, key="k", fence=no_fence)  # fmt: skip
    drop = stand.first("clickhouse.drop_partition")
    assert (drop["replica"], drop["table"], drop["partition"]) == ("r1", "ta_signals", "20261120")
    restore = stand.first("clickhouse.restore_replica")
    assert (restore["replica"], restore["table"]) == ("r2", "ta_microbars")


async def test_already_done_re_reads_the_real_state(make: Any) -> None:
    acts, stand = make(the_facts=facts(trading_enabled=False))
    stand.job.desired_state = "suspended"  # in git and the spec, the operator not there yet
    assert await acts.already_done(step("suspend_job"), run=RUN) is False
    stand.job.lifecycle = "SUSPENDED"
    assert await acts.already_done(step("suspend_job"), run=RUN) is True
    assert await acts.already_done(step("resume_job"), run=RUN) is False
    assert await acts.already_done(step("pause_trading"), run=RUN) is True
    assert await acts.already_done(
        step("drop_partition", table="ta_signals", partition="p"), run=RUN
    )
    stand.readonly = [("r2", "ta_microbars")]
    restore = step("restore_replica", replica="r2", table="torghut.ta_microbars")
    assert await acts.already_done(restore, run=RUN) is False
    unknown, _ = make(the_facts=facts(trading_enabled=None))
    assert await unknown.already_done(step("pause_trading"), run=RUN) is None


async def test_verification_reads_the_job_and_fresh_facts_unknown_is_not_yet(make: Any) -> None:
    stale = facts(verdicts={"freshness": verdict("freshness", "unknown")})
    acts, stand = make(the_facts=stale)
    stand.job.state, stand.job.lifecycle = "RUNNING", "DEPLOYED"
    assert (await acts.verify(step("verify_job"), run=RUN)).ok is False
    stand.job.lifecycle = "STABLE"
    assert (await acts.verify(step("verify_job"), run=RUN)).ok is True
    assert (await acts.verify(step("verify_freshness"), run=RUN)).ok is None
    healthy, _ = make()
    assert (await healthy.verify(step("verify_freshness"), run=RUN)).ok is True


async def test_escalation_and_approval_requests_go_to_alertmanager(make: Any) -> None:
    acts, stand = make()
    await acts.escalate(RUN, "drop failed: Code 243")
    posted = [kw["alerts"] for n, kw in stand.calls if n == "alertmanager.post"]
    assert posted == [[("TARemediationFailed", "run-1", "A", "torghut/torghut-ta",
                        "drop failed: Code 243", "http://127.0.0.1:8080/runs/run-1")]]  # fmt: skip
    # with the API's address configured the alerts link the run there (an absolute URI)
    base = SimpleNamespace(run_url_base="http://remediator.test:8080/")
    object.__setattr__(acts.cfg.remediator, "alertmanager", base)
    await acts.escalate(RUN, "again")
    assert stand.calls[-1][1]["alerts"][0][-1] == "http://remediator.test:8080/runs/run-1"


async def test_trading_resume_sets_the_switch_true(make: Any) -> None:
    acts, stand = make()
    await acts.resume_trading(who="alice", reason="fresh", fence=no_fence)
    change = stand.first("gitops.change")
    assert change["edits"][TRADING_FILE]("x") == "x TRADING_ENABLED=true"
    assert "decided by alice: fresh" in change["title"]
