"""I/O a replay plan reads: the steady state from git, Kafka retention, volumes and committed
offsets, the output tables from ClickHouse, trading and the job from a probe cycle.

Every read that fails leaves its fact unknown (None) and is listed in `unreadable`; the planner
refuses on unknowns that matter (retention, the steady state) and warns on the others.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from remediator.actuators import ActuationError, kafka_offsets
from remediator.actuators import clickhouse_replay as ch_replay
from remediator.actuators import gitops as gitops_actuator
from remediator.actuators import replay_edits as edits
from remediator.config import RemediatorConfig
from remediator.facts import Facts
from remediator.replay_plan import ReplayFacts, TableFact, ms
from remediator.replay_times import Window

log = logging.getLogger(__name__)
OUTPUT_TOPIC_KEYS = ("TA_SIGNALS_TOPIC", "TA_MICROBARS_TOPIC")
GROUP_KEY = "TA_GROUP_ID"
START_KEY = "TA_KAFKA_STARTING_OFFSETS"


@dataclass
class Gathered:
    facts: ReplayFacts
    unreadable: list[str] = field(default_factory=list)


async def steady_state(cfg: RemediatorConfig) -> tuple[dict[str, str], str | None, str | None]:
    """(ConfigMap data, upgradeMode, image) at the tip of the tracked branch."""
    if cfg.remediator.gitops is None:
        raise ActuationError("remediator.gitops is not configured", escalate=True, code="config")
    files = await gitops_actuator.read_tracked(
        cfg=cfg.remediator.gitops, paths=[edits.CONFIGMAP_FILE, edits.JOB_FILE]
    )
    cm, job = files[edits.CONFIGMAP_FILE], files[edits.JOB_FILE]
    if cm is None or job is None:
        missing = [p for p, t in files.items() if t is None]
        raise ActuationError(f"not in the GitOps repository: {', '.join(missing)}", code="git")
    mode, image = edits.job_settings(job)
    return edits.configmap_data(cm), mode, image


async def gather(
    cfg: RemediatorConfig,
    window: Window,
    *,
    now: float,
    facts: Callable[[], Awaitable[Facts]],
    active_replay: str | None,
) -> Gathered:
    unreadable: list[str] = []
    data: dict[str, str] = {}
    mode = image = None
    try:
        data, mode, image = await steady_state(cfg)
    except (ActuationError, ValueError) as exc:
        unreadable.append(f"git: {exc}")
    steady = data.get(GROUP_KEY)
    topics = list(cfg.kafka.topics)
    rate_from = now - cfg.remediator.replay.rate_window
    times = {"start": ms(window.start), "rate_from": ms(rate_from)}
    if window.end is not None:
        times["end"] = ms(window.end)
    earliest: dict[str, float | None] = dict.fromkeys(topics)
    window_records = rate = None
    committed: dict[str, int] = {}
    try:
        view = await kafka_offsets.read(
            cfg=cfg, topics=topics, times_ms=times, groups=[steady] if steady else []
        )
        earliest = {t: view.earliest_of(t) for t in topics}
        end_at = view.at.get("end", view.end)
        window_records = sum(max(0, end_at[k] - view.at["start"][k]) for k in view.partitions)
        recent = sum(max(0, view.end[k] - view.at["rate_from"][k]) for k in view.partitions)
        rate = recent / cfg.remediator.replay.rate_window if recent else None
        if steady:
            committed = {k: o for k, o in view.committed[steady].items() if o >= 0}
    except ActuationError as exc:
        unreadable.append(f"kafka: {exc}")
    tables: dict[str, TableFact | None] = dict.fromkeys(cfg.clickhouse.tables)
    try:
        for name, info in (await ch_replay.tables(cfg=cfg)).items():
            tables[name] = TableFact(info.engine, info.ttl_seconds)
    except ActuationError as exc:
        unreadable.append(f"clickhouse: {exc}")
    trading = market = job_state = lifecycle = None
    try:
        current = await facts()
        trading, market, job_state = current.trading_enabled, current.market_open, current.job_state
        lifecycle = current.lifecycle
    except Exception as exc:  # the probes could not be built or run: unknown
        unreadable.append(f"probes: {type(exc).__name__}: {exc}")
    return Gathered(
        ReplayFacts(
            now=now,
            steady_group=steady,
            starting_offsets=data.get(START_KEY),
            upgrade_mode=mode,
            image=image,
            input_topics=tuple(topics),
            earliest=earliest,
            window_records=window_records,
            recent_rate=rate,
            steady_committed=committed,
            output_tables=tables,
            output_topics={k: data[k] for k in OUTPUT_TOPIC_KEYS if k in data},
            output_consumers=tuple(cfg.remediator.replay.output_consumers),
            trading_enabled=trading,
            market_open=market,
            job_state=job_state,
            lifecycle=lifecycle,
            active_replay=active_replay,
        ),
        unreadable,
    )
