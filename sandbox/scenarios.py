"""The game-day scenarios of `ta-sandbox scenario NAME`: what each injects, what outcome it
expects (issue 13), how it is judged from what the stack shows, and how the healthy state comes
back afterwards. Judges are pure: `Obs` -> verdict; the runner (`sandbox.scenario_run`) polls.

The sandbox's market is open around the clock, so every scenario that makes the signals stale
(on the plain stack) also expects the trading gate to pause trading.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sandbox import scenario_io as io

EXPECTED, OTHER = "expected", "other"
DESTRUCTIVE = ("suspend_job", "drop_partition", "restart_replica", "restore_replica")
GATE = "TATradingOnStaleSignals"


@dataclass
class Obs:
    """One look at the stack since the injection."""

    alerts: list[dict[str, Any]] = field(default_factory=list)  # Prometheus /api/v1/alerts
    am: list[dict[str, Any]] = field(default_factory=list)  # Alertmanager's active alerts
    runs: list[dict[str, Any]] = field(default_factory=list)  # remediator runs, in full
    trading_was_on: bool = True  # at the injection

    def firing(self, name: str, **labels: str) -> list[dict[str, Any]]:
        return [
            a for a in self.alerts
            if a["labels"].get("alertname") == name and a["state"] == "firing"
            and all(a["labels"].get(k) == v for k, v in labels.items())
        ]  # fmt: skip

    def routed_to_person(self, name: str) -> bool:
        """Alertmanager holds it, and not for the remediator (the sandbox's person: `null`)."""
        got = [a for a in self.am if a["labels"].get("alertname") == name]
        return bool(got) and all(
            "torghut-ta-remediator" not in [r["name"] for r in a.get("receivers", [])] for a in got
        )

    def of(self, procedure: str) -> list[dict[str, Any]]:
        return [r for r in self.runs if r["procedure"] == procedure]


Verdict = tuple[str, str] | None  # (EXPECTED | OTHER, why), None: keep watching


def _steps(run: dict[str, Any]) -> list[str]:
    return [s["name"] for s in run["steps"] if s["status"] == "done"]


def _acted_destructively(obs: Obs) -> str | None:
    for r in obs.runs:
        done = [s for s in _steps(r) if s in DESTRUCTIVE]
        if done:
            return f"run {r['id']} ({r['procedure']}) did {', '.join(done)}"
    return None


def _ended(run: dict[str, Any]) -> bool:
    return run["outcome"] is not None


def _gate(obs: Obs) -> Verdict:
    """The trading gate's part: paused by a gate run (or paused already at the injection)."""
    if not obs.trading_was_on:
        return EXPECTED, "trading was already paused"
    for r in obs.of("trading_gate"):
        if _ended(r) and r["outcome"] == "succeeded" and "pause_trading" in _steps(r):
            return EXPECTED, f"the trading gate paused trading (run {r['id']})"
        if _ended(r) and r["outcome"] not in ("succeeded", "refused", "resolved"):
            return OTHER, f"trading gate run {r['id']} ended {r['outcome']}: {r['reason']}"
    return None


def _both(*parts: Verdict) -> Verdict:
    for p in parts:
        if p is not None and p[0] == OTHER:
            return p
    if all(p is not None for p in parts):
        return EXPECTED, "; ".join(p[1] for p in parts if p is not None)
    return None


def judge_disk_full(obs: Obs) -> Verdict:
    for r in obs.of("A"):
        if not _ended(r):
            continue
        done = _steps(r)
        healed = {"suspend_job", "drop_partition", "resume_job", "verify_freshness"} <= set(done)
        if r["outcome"] == "succeeded" and healed:
            return EXPECTED, (
                f"procedure A healed it (run {r['id']}: {', '.join(done)}); trading stays paused"
            )
        if r["acted"] or r["outcome"] not in ("refused", "resolved"):
            return OTHER, f"A run {r['id']} ended {r['outcome']}: {r['reason']}"
    return None


def judge_disk_pressure(obs: Obs) -> Verdict:
    for r in obs.of("A"):
        done = _steps(r)
        if "suspend_job" in done:
            return OTHER, f"A run {r['id']} suspended the job"
        if not _ended(r):
            continue
        if r["outcome"] == "succeeded" and "drop_partition" in done:
            return (
                EXPECTED,
                f"A-pressure reclaimed old partitions (run {r['id']}: {', '.join(done)})",
            )
        if r["acted"] or r["outcome"] not in ("refused", "resolved"):
            return OTHER, f"A run {r['id']} ended {r['outcome']}: {r['reason']}"
    return None


def judge_replica_readonly(obs: Obs) -> Verdict:
    for r in obs.of("B"):
        if not _ended(r):
            continue
        done = _steps(r)
        named = "read-only" in (r["reason"] or "") and "chi-0" in (r["reason"] or "")
        if (
            r["outcome"] == "failed"
            and {"restart_replica", "restore_replica"} <= set(done)
            and named
        ):
            return EXPECTED, f"procedure B restarted and restored, then escalated: {r['reason']}"
        if r["acted"]:
            return OTHER, f"B run {r['id']} ended {r['outcome']}: {r['reason']}"
    return None


def judge_keeper_outage(obs: Obs) -> Verdict:
    for r in obs.of("B"):
        if r["acted"]:
            return OTHER, f"B run {r['id']} acted during a Keeper outage"
    if obs.firing("TAClickHouseKeeperUnavailable") and obs.routed_to_person(
        "TAClickHouseKeeperUnavailable"
    ):
        return EXPECTED, "no B run acted; TAClickHouseKeeperUnavailable pages a person"
    return None


def _nothing_destructive(obs: Obs) -> Verdict:
    bad = _acted_destructively(obs)
    return (OTHER, bad) if bad else (EXPECTED, "nothing destructive")


def judge_flink_failed(obs: Obs) -> Verdict:
    paged: Verdict = None
    if obs.firing("TAFlinkJobFailed", procedure="none") and obs.routed_to_person(
        "TAFlinkJobFailed"
    ):
        paged = EXPECTED, "TAFlinkJobFailed (not disk) pages a person"
    return _both(_nothing_destructive(obs), paged, _gate(obs))


def judge_clickhouse_outage(obs: Obs) -> Verdict:
    return _both(_nothing_destructive(obs), _gate(obs))


def judge_kafka_outage(obs: Obs) -> Verdict:
    probe: Verdict = None
    if obs.firing("TAExporterProbeFailing"):
        probe = EXPECTED, "TAExporterProbeFailing fires"
    acted = [r for r in obs.runs if r["procedure"] in ("A", "B") and r["acted"]]
    if acted:
        return OTHER, f"procedure {acted[0]['procedure']} acted (run {acted[0]['id']})"
    return _both(probe, _gate(obs))


def judge_stale(obs: Obs) -> Verdict:
    return _both(_nothing_destructive(obs), _gate(obs))


def judge_replay(obs: Obs) -> Verdict:
    """Procedure C's replay, rolled back once it ran: the rollback back on the steady group."""
    replays = obs.of("C")
    for r in replays:
        if _ended(r) and r["outcome"] != "cancelled":
            return (
                OTHER,
                f"replay run {r['id']} ended {r['outcome']} before its rollback: {r['reason']}",
            )
    for b in obs.of("C-rollback"):
        if not _ended(b):
            continue
        done = _steps(b)
        if b["outcome"] != "succeeded" or "verify_steady_offsets" not in done:
            return OTHER, f"rollback run {b['id']} ended {b['outcome']}: {b['reason']}"
        if replays and all(_ended(r) for r in replays):
            return EXPECTED, (
                f"rolled back (run {b['id']}: {', '.join(done)}): the job is back on the "
                f"steady-state group; replay {replays[0]['id']} cancelled"
            )
    return None


# --- injection and restore -------------------------------------------------------------------------


def inject_disk_full(status: io.Status) -> None:
    for day in io.days_ago(10, 9):  # old enough for the default keep window of 7 days
        io.insert_old_day(status, day, 100_000)
    io.fill(status)  # the other tenant takes the last byte: inserts fail, the job FAILS
    from sandbox.util import poll_until

    poll_until(lambda: io.job(status)["jobState"] == "FAILED", timeout=300, interval=1.0,
               what="the TA job FAILED on its inserts")  # fmt: skip
    # a 100% full disk blocks DROP PARTITION too (docs/sandbox.md): the tenant gives a little
    io.free_some(status, 2 * io.MIB)


def inject_disk_pressure(status: io.Status) -> None:
    for day in io.days_ago(12, 11):
        io.insert_old_day(status, day, 150_000)
    since = time.time()
    # 13% free: under the 15% bound with room for the writer's inserts. The other tenant keeps
    # the volume between 10% and 13% free until a run acts: merges keep their source parts on
    # disk for minutes, then give them back, so without a floor the job was seen to fail (that
    # is disk-full, not pressure), and without a ceiling the freed parts lifted the disk over
    # 15% again before the shipped rule's 5 minutes had passed. Once a run acts the tenant
    # only gives back: what the drops free stays free.
    total = io.disk(status)[1]
    io.fill(status, leave=int(0.13 * total))
    _other_tenant(status, floor=0.10, ceiling=0.13,
                  holds=lambda: not _acted_since(status, since))  # fmt: skip


def _acted_since(status: io.Status, since: float) -> bool:
    """Whether a run of what happened since `since` has begun a step (the predicted-disk
    warning's run, refused at triage, has not)."""
    return any(s["status"] != "pending" for r in io.runs_since(status, since) for s in r["steps"])


_TENANTS: dict[str, threading.Event] = {}


def _other_tenant(
    status: io.Status, *, floor: float, ceiling: float, holds: Callable[[], bool]
) -> None:
    """A tenant of ClickHouse's volume on its own thread: it gives back a MiB whenever the free
    space falls under `floor` and, while `holds()` (asked every 2 s until it first says no),
    takes the free space back down to `ceiling`."""
    stop = threading.Event()
    _TENANTS[str(status["dir"])] = stop

    def loop() -> None:
        holding, asked = True, 0.0
        while not stop.wait(0.5):
            if holding and time.monotonic() - asked >= 2.0:
                asked = time.monotonic()
                try:
                    holding = holds()
                except (OSError, RuntimeError):
                    pass  # asked again in 2 s; the floor matters more
            try:
                if not io.filler(status).exists():
                    return
                free, total = io.disk(status)
                if free < floor * total:
                    io.free_some(status, io.MIB)
                elif holding and free > ceiling * total + io.MIB:
                    io.fill(status, leave=int(ceiling * total))
            except OSError:  # the volume gone with the stack
                return

    threading.Thread(target=loop, name="other-tenant", daemon=True).start()


def clear_disk(status: io.Status) -> None:
    stop = _TENANTS.pop(str(status["dir"]), None)
    if stop is not None:
        stop.set()
    io.filler(status).unlink(missing_ok=True)


def inject_replica_readonly(status: io.Status) -> None:
    from sandbox.clickhouse.replicated import replica_path, zk_cli

    zk_cli(status["zookeeper"], "deleteall", replica_path("ta_signals"))


def inject_flink_failed(status: io.Status) -> None:
    io.fail_job(status, "Java heap space", "java.lang.OutOfMemoryError")


def nothing(status: io.Status) -> None:
    return None


@dataclass(frozen=True)
class Scenario:
    name: str
    injects: str
    expects: str
    stack: str  # "plain" | "disk" (plain with --disk-limit) | "replicated" | "history"
    inject: Callable[[io.Status], None]
    restore: Callable[[io.Status], None]
    judge: Callable[[Obs], Verdict]
    freezes: str | None = None  # the service SIGSTOPped (thawed by the restore)
    gate: bool = False  # starts with trading on (the gate's or procedure A's pause to watch)


def _freeze(name: str) -> Callable[[io.Status], None]:
    return lambda status: io.freeze(status, name)


def _thaw(name: str) -> Callable[[io.Status], None]:
    return lambda status: io.thaw(status, name)


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario(
            "disk-full", "another tenant fills ClickHouse's volume: the job's inserts fail",
            "procedure A heals it: trading paused, job suspended, old partitions dropped within "
            "bounds, restart, freshness advances; trading stays paused for a person",
            "disk", inject_disk_full, clear_disk, judge_disk_full, gate=True,
        ),
        Scenario(
            "disk-pressure", "another tenant holds ClickHouse's volume at 10-13% free until a run acts",
            "A-pressure reclaims old partitions; the job is never suspended",
            "disk", inject_disk_pressure, clear_disk, judge_disk_pressure,
        ),
        Scenario(
            "replica-readonly", "ta_signals' Keeper metadata deleted (zkCli deleteall)",
            "procedure B: RESTART + RESTORE REPLICA issued (RESTORE after an approval); chdb's "
            "replica stays read-only, so the run escalates naming it",
            "replicated", inject_replica_readonly, nothing, judge_replica_readonly,
        ),
        Scenario(
            "keeper-outage", "ZooKeeper frozen (SIGSTOP)",
            "no B run acts; TAClickHouseKeeperUnavailable pages a person",
            "replicated", _freeze("zookeeper"), _thaw("zookeeper"), judge_keeper_outage,
            freezes="zookeeper",
        ),
        Scenario(
            "flink-failed", "the job throws java.lang.OutOfMemoryError (not a disk problem)",
            "TAFlinkJobFailed (not disk) pages a person; no destructive step; the trading gate "
            "pauses trading once signals go stale",
            "plain", inject_flink_failed, nothing, judge_flink_failed, gate=True,
        ),
        Scenario(
            "clickhouse-outage", "ClickHouse frozen (SIGSTOP) during market hours",
            "signals unknown: the trading gate pauses trading (approval per policy); nothing "
            "destructive",
            "plain", _freeze("clickhouse"), _thaw("clickhouse"), judge_clickhouse_outage,
            freezes="clickhouse", gate=True,
        ),
        Scenario(
            "kafka-outage", "Kafka frozen (SIGSTOP)",
            "probe failure alerts (TAExporterProbeFailing); no procedure acts; the trading gate "
            "pauses trading once signals go stale",
            "plain", _freeze("kafka"), _thaw("kafka"), judge_kafka_outage,
            freezes="kafka", gate=True,
        ),
        Scenario(
            "stale-signals-trading-on", "the trades feed stops (SIGSTOP): no new signals",
            "the trading gate pauses trading; nothing destructive",
            "plain", _freeze("feed"), _thaw("feed"), judge_stale, freezes="feed", gate=True,
        ),
        Scenario(
            "replay", "a person plans procedure C, a replay from 2 hours ago to 30 minutes ago, "
            "and starts it (the approval: --approve); once the replay job runs, the person "
            "rolls it back",
            "the plan's feasibility and new group shown; trading paused, savepoint, replay "
            "started on the new group; the rollback cancels the replay and returns the job to "
            "the steady-state group (rollback succeeded, replay cancelled)",
            "history", nothing, nothing, judge_replay,
        ),
    )
}  # fmt: skip
