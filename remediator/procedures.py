"""The runbook's procedures as pure planners: (procedure, facts, config) -> Plan.

Each planner first confirms the cause (the runbook's preconditions): a run for the wrong cause,
or one whose deciding facts are unknown, is refused with the reason, never acted on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from remediator.config import DropBounds, RemediatorConfig
from remediator.facts import DAY, Facts, PartitionFact
from remediator.plan import Plan, Step, refused

NEVER_DELETE_FILES = (
    "free space outside ClickHouse (detached parts, system log tables) or grow the volume; "
    "never delete files on a node by hand"
)


def plan(procedure: str, facts: Facts, cfg: RemediatorConfig, *, predicted: bool = False) -> Plan:
    """`predicted`: every firing alert of the run is a prediction (`remediation: approval`)."""
    if procedure == "A":
        return plan_a(facts, cfg, predicted=predicted)
    if procedure == "B":
        return plan_b(facts, cfg)
    if procedure == "trading_gate":
        return plan_trading_gate(facts, cfg)
    return refused(procedure, f"unknown procedure {procedure!r}")


# --- shared steps -----------------------------------------------------------------------------


def _pause_trading_first(facts: Facts) -> list[Step]:
    """Trading first: a run that stops or restarts the job makes the signals stale."""
    if facts.market_open is False:
        return []
    if facts.trading_enabled is False:
        return []
    why = "the run stops the TA job, so its signals go stale; pausing trading is the safe direction"
    if facts.trading_enabled is None or facts.market_open is None:
        why += " (the trading switch or the market session could not be read: treated as on)"
    return [Step("pause_trading", "reversible", why, {"env": "TRADING_ENABLED", "value": "false"})]


def _verify(facts: Facts, cfg: RemediatorConfig) -> list[Step]:
    steps = [
        Step(
            "verify_job",
            "verify",
            "status.jobStatus.state RUNNING and lifecycle STABLE (never Argo CD's health)",
            {"deployment": facts.deployment},
        ),
        Step(
            "verify_freshness",
            "verify",
            f"max(event_ts) of {cfg.clickhouse.signals_table} advances",
            {"table": cfg.clickhouse.signals_table},
        ),
    ]
    if cfg.jangar is not None:
        steps.append(
            Step(
                "verify_api",
                "verify",
                "the Jangar API serves fresh data for the watched symbols",
                {"symbols": ",".join(cfg.jangar.symbols)},
            )
        )
    return steps


def _restart_job(facts: Facts) -> Step:
    return Step(
        "resume_job",
        "reversible",
        "spec.job.state: running and a spec.restartNonce bump in one change "
        "(a nonce bump alone does not start a suspended job)",
        {"deployment": facts.deployment},
    )


# --- procedure A: ClickHouse disk --------------------------------------------------------------


def choose_partitions(
    facts: Facts, bounds: DropBounds, tables: Sequence[str]
) -> tuple[list[PartitionFact], list[str]]:
    """Oldest first, only those wholly older than the keep window, within the count and byte
    bounds. Returns the chosen partitions and notes on what was left out and why."""
    cutoff = facts.now - bounds.keep_days * DAY
    by_key: dict[tuple[str, str], PartitionFact] = {}
    for p in facts.partitions:
        if p.table not in tables:
            continue
        known = by_key.get((p.table, p.partition))
        if known is None or p.bytes > known.bytes:
            by_key[(p.table, p.partition)] = p  # the largest copy across replicas
    notes = []
    undated = sorted(k for k, p in by_key.items() if p.start is None)
    if undated:
        notes.append(f"{len(undated)} partition(s) with no known date are never dropped")
    eligible = sorted(
        (p for p in by_key.values() if p.end is not None and p.end <= cutoff),
        key=lambda p: (p.start or 0.0, p.table, p.partition),
    )
    chosen: list[PartitionFact] = []
    total = 0
    for p in eligible:
        if len(chosen) >= bounds.max_partitions:
            notes.append(f"stopped at max_partitions={bounds.max_partitions}")
            break
        if total + p.bytes > bounds.max_bytes:
            notes.append(f"{p.table} {p.partition} would pass max_bytes={bounds.max_bytes}")
            break
        chosen.append(p)
        total += p.bytes
    return chosen, notes


def _drop_steps(facts: Facts, cfg: RemediatorConfig) -> tuple[list[Step], list[str]]:
    bounds = cfg.remediator.policy.drop
    chosen, notes = choose_partitions(facts, bounds, cfg.clickhouse.tables)
    window = facts.replay_window_start
    steps = []
    for p in chosen:
        replayable = window is not None and p.start is not None and p.start >= window
        source = (
            "its rows can be replayed from Kafka"
            if replayable
            else "its rows are older than Kafka retention (or retention is unknown): "
            "only backups can restore them"
        )
        needs = not replayable and bounds.approve_unreplayable
        steps.append(
            Step(
                "drop_partition",
                "destructive",
                f"{p.table} partition {p.partition}: {p.bytes} bytes, {p.rows} rows, older than "
                f"the newest {bounds.keep_days} days; {source}",
                # the replica holding the largest copy (the one whose disk it relieves most)
                {
                    "table": p.table,
                    "partition": p.partition,
                    "bytes": str(p.bytes),
                    "replica": p.replica,
                },
                needs_approval=needs,
                approval_reason="policy: partitions Kafka cannot replay need a person"
                if needs
                else "",
            )
        )
    return steps, notes


def plan_a(facts: Facts, cfg: RemediatorConfig, *, predicted: bool = False) -> Plan:
    disk = facts.verdicts.get("clickhouse-disk")
    if disk is None or disk.status == "unknown":
        return refused(
            "A",
            "ClickHouse disk usage could not be read; unknown is never healthy, so nothing "
            "destructive runs: a person must look",
        )
    if disk.status == "healthy" and predicted:
        return _plan_predicted(facts, cfg, disk.summary)
    if disk.status == "healthy":
        return refused(
            "A", f"the disks that hold the TA tables are not under pressure ({disk.summary})"
        )
    drops, notes = _drop_steps(facts, cfg)
    failed = "FAILED" in (facts.job_state, facts.lifecycle)
    shape = "A-full" if failed else "A-pressure"
    if not drops:
        return Plan(
            "A",
            shape,
            escalate=f"{disk.summary}; no partition is older than the keep window "
            f"({cfg.remediator.policy.drop.keep_days} days): {NEVER_DELETE_FILES}",
            notes=tuple(notes),
        )
    if not failed:
        if facts.job_state is None:
            notes.append("the job's state could not be read: the job is left alone")
        verify = Step("verify_disk", "verify", "free space is back above the threshold")
        return Plan("A", shape, (*drops, verify), notes=tuple(notes))
    steps = [
        *_pause_trading_first(facts),
        Step(
            "suspend_job",
            "reversible",
            "stop write pressure: spec.job.state: suspended (GitOps first)",
            {"deployment": facts.deployment},
        ),
        *drops,
        _restart_job(facts),
        *_verify(facts, cfg),
    ]
    notes.append(
        "if DROP PARTITION fails with Code 243 (disk 100% full), the run escalates: "
        + NEVER_DELETE_FILES
    )
    return Plan("A", shape, tuple(steps), notes=tuple(notes))


def _plan_predicted(facts: Facts, cfg: RemediatorConfig, summary: str) -> Plan:
    """A disk predicted full, still above the threshold: the same bounded drops, each only
    proposed (a person approves it), the job and trading left alone."""
    drops, notes = _drop_steps(facts, cfg)
    if not drops:
        return refused(
            "A",
            f"the disk is predicted full but not yet under pressure ({summary}) and no partition "
            f"is older than the keep window ({cfg.remediator.policy.drop.keep_days} days): "
            "nothing to propose",
        )
    why = "a prediction only proposes: a person approves each drop"
    proposed = [replace(s, needs_approval=True, approval_reason=why) for s in drops]
    notes.append(f"predicted full, not yet under the threshold ({summary})")
    verify = Step("verify_disk", "verify", "free space is still above the threshold")
    return Plan("A", "A-predicted", (*proposed, verify), notes=tuple(notes))


# --- procedure B: read-only replicas -------------------------------------------------------------


def plan_b(facts: Facts, cfg: RemediatorConfig) -> Plan:
    replicas = facts.verdicts.get("clickhouse-replicas")
    if replicas is None or replicas.status == "unknown":
        return refused("B", "replica state could not be read: unknown is never healthy")
    if not facts.readonly:
        return refused("B", f"no TA table replica is read-only ({replicas.summary})")
    if replicas.procedure != "B":
        return refused(
            "B",
            f"read-only replicas, but not from lost metadata on a reachable Keeper "
            f"({replicas.summary}): SYSTEM RESTORE REPLICA is the wrong action",
        )
    # only the tables whose metadata is lost: RESTORE on a table with its metadata is refused by
    # ClickHouse, and a table read-only for another reason is not Procedure B's to fix
    lost = [rt for rt in facts.readonly if rt in facts.metadata_lost]
    if not lost:
        return refused(
            "B",
            f"read-only replicas, but none with lost Keeper metadata ({replicas.summary}): "
            "SYSTEM RESTORE REPLICA is the wrong action",
        )
    steps: list[Step] = []
    for replica, table in lost:
        target = {"replica": replica, "table": f"{cfg.clickhouse.database}.{table}"}
        steps.append(
            Step(
                "restart_replica",
                "reversible",
                "SYSTEM RESTART REPLICA first: RESTORE needs the replica re-initialised",
                target,
            )
        )
        steps.append(
            Step(
                "restore_replica",
                "destructive",
                "SYSTEM RESTORE REPLICA re-creates the table's metadata in Keeper from local parts",
                target,
                needs_approval=True,
                approval_reason="policy: restoring replica metadata needs a person",
            )
        )
    steps.append(
        Step("verify_writable", "verify", "system.replicas shows every TA table writable again")
    )
    if facts.job_state != "RUNNING":
        steps.extend([*_pause_trading_first(facts), _restart_job(facts)])
    steps.extend(_verify(facts, cfg))
    return Plan("B", "B", tuple(steps))


# --- the trading gate ----------------------------------------------------------------------------


def plan_trading_gate(facts: Facts, cfg: RemediatorConfig) -> Plan:
    if facts.trading_enabled is False:
        return refused("trading_gate", "trading is already paused: nothing to do")
    freshness = facts.status("freshness")
    if facts.market_open is False:
        return refused("trading_gate", "the market is closed")
    if freshness == "healthy":
        return refused("trading_gate", "signals are fresh now")
    why = f"signals are {'unknown' if freshness == 'unknown' else 'stale'} while trading is on"
    if facts.trading_enabled is None:
        why += " (the trading switch could not be read: pausing is the safe direction)"
    need = cfg.remediator.policy.approve_trading_pause
    steps = (
        Step(
            "pause_trading",
            "reversible",
            why,
            {"env": "TRADING_ENABLED", "value": "false"},
            needs_approval=need,
            approval_reason="policy: approve_trading_pause" if need else "",
        ),
        Step("verify_trading_paused", "verify", "the trading service's ready revision has it off"),
    )
    return Plan(
        "trading_gate",
        "trading-gate",
        steps,
        notes=("resuming trading is always a person's decision",),
    )
