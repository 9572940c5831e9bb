"""Procedure C (replay within Kafka retention) as a pure planner: (request, facts) -> Plan.

Started by a person, never by an alert. The plan makes the job start WITHOUT restored source
state (`upgradeMode: stateless`) from the wanted time (`TA_KAFKA_STARTING_OFFSETS=timestamp:<ms>`)
under a new, unique `TA_GROUP_ID`: a new group id alone replays nothing, because a job restored
from checkpoint or savepoint state resumes its checkpointed Kafka offsets. The way back is
planned before the way out: the steady-state group's committed offsets are recorded first, and
returning starts the job stateless from them (`committed` with the steady-state group id), and
only then puts the steady-state upgrade mode back (a plain switch back to `last-state` would
restore the replay job's own checkpoint: the trap in reverse). Where the job is healthy a
savepoint is taken too (`savepointTriggerNonce`): a second, person-restorable way back.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import dataclass, field

from remediator.plan import Plan, Step, refused
from remediator.replay_times import Window, iso

PROCEDURE = "C"
ROLLBACK = "C-rollback"
IMAGE_ROLLBACK = "image-rollback"
PERSON_STARTED = frozenset({PROCEDURE, ROLLBACK, IMAGE_ROLLBACK})
DEDUPLICATING = ("ReplacingMergeTree", "CollapsingMergeTree", "VersionedCollapsingMergeTree")
NO_SAVEPOINT = "no savepoint: the job is not healthy; the way back is the committed offsets"
SAVEPOINT_NOTE = (
    "a savepoint is taken first (take_savepoint, journaled): a person can restore from it "
    "with spec.job.initialSavepointPath and a savepointRedeployNonce bump; the way back the run "
    "takes is still the committed offsets"
)
_GROUP_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class TableFact:
    engine: str
    ttl_seconds: float | None  # None: no TTL (rows are never deleted by age)


@dataclass(frozen=True)
class ReplayFacts:
    """What a replay plan decides on; None where it could not be read (unknown)."""

    now: float
    steady_group: str | None  # TA_GROUP_ID in ta/configmap.yaml
    starting_offsets: str | None  # TA_KAFKA_STARTING_OFFSETS in ta/configmap.yaml
    upgrade_mode: str | None  # spec.job.upgradeMode in ta/flinkdeployment.yaml
    image: str | None  # spec.image (pinned by digest)
    input_topics: tuple[str, ...]
    earliest: dict[str, float | None]  # topic -> timestamp of its earliest retained record
    window_records: int | None = None  # input records in the window
    recent_rate: float | None = None  # records/s the job consumed recently
    steady_committed: dict[str, int] = field(default_factory=dict)  # "topic:partition" -> offset
    output_tables: dict[str, TableFact | None] = field(default_factory=dict)
    output_topics: dict[str, str] = field(default_factory=dict)  # TA_SIGNALS_TOPIC -> topic
    output_consumers: tuple[str, ...] = ()
    trading_enabled: bool | None = None
    market_open: bool | None = None
    job_state: str | None = None
    lifecycle: str | None = None  # status.lifecycleState
    active_replay: str | None = None  # an open replay or rollback run

    def digest(self) -> str:
        """The state a plan was made against: a start whose state differs must re-plan."""
        text = json.dumps(
            [self.steady_group, self.starting_offsets, self.upgrade_mode, self.image],
            sort_keys=True,
        )
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class ReplayRequest:
    window: Window
    reason: str
    who: str
    signals_known_good: bool = False
    group_id: str | None = None  # normally chosen here; given only to override (and checked)
    catch_up_timeout: float = 4 * 3600.0  # the catch-up check's deadline (remediator.replay)


def replay_group(steady: str, run_id: str, now: float) -> str:
    """Readable and unique: the steady group, `replay`, the time and the run's suffix."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
    suffix = run_id.rsplit("-", 1)[-1]
    return _GROUP_SAFE.sub("-", f"{steady}-replay-{stamp}-{suffix}")


def ms(t: float) -> int:
    return round(t * 1000)


def _feasibility(
    req: ReplayRequest, facts: ReplayFacts
) -> tuple[str | None, list[str], dict[str, str]]:
    """A refusal, the warnings, and the numbers for the plan."""
    start = req.window.start
    numbers: dict[str, str] = {}
    unknown = [t for t in facts.input_topics if facts.earliest.get(t) is None]
    if not facts.input_topics:
        return "no input topic is configured (kafka.topics): nothing to replay", [], numbers
    if unknown:
        return (
            f"the earliest retained record of {', '.join(unknown)} could not be read: retention "
            "is the hard limit of a replay and unknown is never safe",
            [],
            numbers,
        )
    limit = max(float(facts.earliest[t] or 0.0) for t in facts.input_topics)
    numbers["earliest_retained"] = iso(limit)
    if start < limit:
        worst = [t for t in facts.input_topics if float(facts.earliest[t] or 0.0) > start]
        return (
            f"--from {iso(start)} is older than the earliest retained record of "
            f"{', '.join(worst)} ({iso(limit)}, {limit - start:.0f}s later): Kafka no longer "
            "holds that data, so it cannot be replayed (restore from backups instead)",
            [],
            numbers,
        )
    warnings = []
    for table, fact in sorted(facts.output_tables.items()):
        if fact is None:
            warnings.append(f"{table}: engine and TTL could not be read from system.tables")
            continue
        if fact.ttl_seconds is not None and start < facts.now - fact.ttl_seconds:
            warnings.append(
                f"{table}: --from is older than its TTL ({fact.ttl_seconds / 86400:.0f} days): "
                "replayed rows older than that are deleted again on merge"
            )
        if not fact.engine.startswith(DEDUPLICATING) and not any(
            d in fact.engine for d in ("ReplicatedReplacing", "ReplicatedCollapsing")
        ):
            warnings.append(
                f"{table}: engine {fact.engine} does not deduplicate: a replay doubles the rows "
                "of the window"
            )
    end = req.window.end if req.window.end is not None else facts.now
    if facts.window_records is not None:
        numbers["window_records"] = str(facts.window_records)
        if facts.recent_rate:
            numbers["estimated_seconds"] = f"{facts.window_records / facts.recent_rate:.0f}"
            numbers["recent_rate_per_second"] = f"{facts.recent_rate:.1f}"
        else:
            warnings.append("the job's recent throughput is unknown: no duration estimate")
    else:
        warnings.append("the input volume of the window is unknown: no duration estimate")
    numbers["window"] = f"{iso(start)} .. {iso(end)}"
    return None, warnings, numbers


def plan_replay(req: ReplayRequest, facts: ReplayFacts, run_id: str) -> Plan:
    if facts.active_replay is not None:
        return refused(
            PROCEDURE,
            f"a replay is already in progress (run {facts.active_replay}): one at a time; "
            "wait for it to end or roll it back",
        )
    missing = [
        name
        for name, value in (
            ("TA_GROUP_ID (ta/configmap.yaml)", facts.steady_group),
            ("spec.job.upgradeMode (ta/flinkdeployment.yaml)", facts.upgrade_mode),
            ("spec.image (ta/flinkdeployment.yaml)", facts.image),
        )
        if not value
    ]
    if missing:
        return refused(
            PROCEDURE,
            f"the steady state could not be read ({', '.join(missing)}): the way back must be "
            "recorded before the way out",
        )
    steady = str(facts.steady_group)
    group = req.group_id or replay_group(steady, run_id, facts.now)
    if group == steady:
        return refused(
            PROCEDURE,
            f"TA_GROUP_ID {group!r} equals the steady-state group: a replay under it would move "
            "the steady-state group's committed offsets (ADR-21-1: a unique group per replay)",
        )
    refusal, warnings, numbers = _feasibility(req, facts)
    if refusal is not None:
        return refused(PROCEDURE, refusal)
    return Plan(
        PROCEDURE,
        "C-bounded" if req.window.end is not None else "C-to-present",
        _steps(req, facts, group),
        notes=tuple(_notes(req, facts, group, numbers) + warnings),
    )


def _steps(req: ReplayRequest, facts: ReplayFacts, group: str) -> tuple[Step, ...]:
    steady = str(facts.steady_group)
    start_ms = ms(req.window.start)
    end_ms = "" if req.window.end is None else str(ms(req.window.end))
    steps = [
        Step(
            "record_steady_state",
            "observe",
            "the way back first: the steady-state group's committed offsets, TA_GROUP_ID, "
            "upgrade mode and image digest are journaled before any change",
            {
                "group": steady,
                "upgrade_mode": str(facts.upgrade_mode),
                "image": str(facts.image),
                "starting_offsets": facts.starting_offsets or "",
            },
        )
    ]
    if healthy(facts):
        steps.append(
            Step(
                "take_savepoint",
                "reversible",
                "the job is healthy: a savepoint of the steady-state job through a "
                "spec.job.savepointTriggerNonce bump (GitOps; restarts nothing), its location "
                "journaled (a person can restore from it with initialSavepointPath + "
                "savepointRedeployNonce)",
                {"nonce_field": "spec.job.savepointTriggerNonce"},
            )
        )
    trading_on = facts.trading_enabled is not False
    if trading_on and not req.signals_known_good:
        steps.append(
            Step(
                "pause_trading",
                "reversible",
                "the output topics receive the replayed signals again: trading is paused "
                "before the replay starts (GitOps first)",
                {"env": "TRADING_ENABLED", "value": "false"},
            )
        )
    steps += [
        Step(
            "silence_replay_alerts",
            "reversible",
            "a planned replay raises lag and expiry alerts for its own group: silenced for "
            "that group only (every other alert keeps paging)",
            {"group": group},
        ),
        Step(
            "start_replay",
            "reversible",
            "one change of ta/configmap.yaml and ta/flinkdeployment.yaml: a new TA_GROUP_ID, "
            f"TA_KAFKA_STARTING_OFFSETS=timestamp:{start_ms} and upgradeMode stateless (the job "
            "must not restore its Kafka offsets from checkpoint state), a restartNonce bump",
            {
                "group": group,
                "starting_offsets": f"timestamp:{start_ms}",
                "upgrade_mode": "stateless",
            },
        ),
        Step(
            "verify_replay_caught_up",
            "verify",
            "the replay group's committed offsets reached the end of the window",
            {
                "group": group,
                "from_ms": str(start_ms),
                "to_ms": end_ms,
                "timeout": f"{req.catch_up_timeout:.0f}",
            },
        ),
        Step(
            "verify_rewritten",
            "verify",
            "the window's rows were rewritten (ingest_ts after the replay started) and "
            "SELECT ... FINAL holds each (symbol, event_ts) once",
            {"from_ms": str(start_ms), "to_ms": end_ms or "now"},
        ),
        *return_steps(facts.upgrade_mode or "last-state", steady, facts),
        Step(
            "expire_silences",
            "reversible",
            "the replay ended: its silences are removed",
            {"group": group},
        ),
    ]
    return tuple(steps)


def healthy(facts: ReplayFacts) -> bool:
    """RUNNING and STABLE: the only state in which the operator takes a savepoint for sure."""
    return facts.job_state == "RUNNING" and facts.lifecycle == "STABLE"


def return_steps(upgrade_mode: str, steady: str, facts: ReplayFacts | None) -> list[Step]:
    """Back to the steady-state group: stateless from its committed offsets, then the
    steady-state upgrade mode once the returned job has checkpointed."""
    image = "" if facts is None else str(facts.image or "")
    starting = "" if facts is None else str(facts.starting_offsets or "")
    return [
        Step(
            "return_to_steady",
            "reversible",
            f"TA_GROUP_ID back to {steady} with TA_KAFKA_STARTING_OFFSETS=committed, upgradeMode "
            "stateless and the recorded image digest: the job starts from the steady-state "
            "group's committed offsets, not from the replay job's checkpoint",
            {"group": steady, "starting_offsets": "committed", "image": image},
        ),
        Step(
            "restore_last_state",
            "reversible",
            f"upgradeMode back to {upgrade_mode} once the returned job completed a checkpoint "
            "(that checkpoint, not the replay's, is what it restores from then on)",
            {"upgrade_mode": upgrade_mode, "starting_offsets": starting},
        ),
        Step(
            "verify_steady_offsets",
            "verify",
            "the steady-state group's committed offsets never moved back and advance again",
            {"group": steady},
        ),
        Step("verify_job", "verify", "status.jobStatus.state RUNNING and lifecycle STABLE"),
        Step("verify_freshness", "verify", "max(event_ts) of the signals table advances"),
    ]


def _notes(
    req: ReplayRequest, facts: ReplayFacts, group: str, numbers: dict[str, str]
) -> list[str]:
    end = (
        f"a bounded replay: after {iso(req.window.end)} it returns to the steady-state group "
        "(the stretch from the replay's start to now is processed again; the output tables "
        "deduplicate)"
        if req.window.end is not None
        else "a replay to the present: it runs to now, then returns to the steady-state group"
    )
    outputs = ", ".join(f"{k}={v}" for k, v in sorted(facts.output_topics.items())) or "unknown"
    consumers = ", ".join(facts.output_consumers) or "none configured (remediator.replay)"
    notes = [
        end,
        f"new consumer group {group} (steady state {facts.steady_group} is never moved)",
        "starts stateless from timestamp:"
        f"{ms(req.window.start)}: a new group id alone would replay nothing, since the job "
        "restores its Kafka offsets from checkpoint state",
        f"the output topics ({outputs}) receive the replayed records again; their known "
        f"consumers: {consumers}",
        "the way back: stateless from the steady-state group's committed offsets "
        "(recorded before the replay), then the steady-state upgrade mode",
        SAVEPOINT_NOTE
        if healthy(facts)
        else f"{NO_SAVEPOINT} (job {facts.job_state or 'unknown'}, lifecycle "
        f"{facts.lifecycle or 'unknown'})",
        "resuming trading afterwards is always a person's decision",
        *(f"{k}: {v}" for k, v in sorted(numbers.items())),
    ]
    if req.signals_known_good:
        notes.append(f"trading is NOT paused: {req.who} stated the signals are known good")
    elif facts.trading_enabled is False:
        notes.append("trading is already paused")
    return notes
