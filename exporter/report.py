"""The single "TA pipeline health" verdict: a pure function of a snapshot view and the config.

It reads samples by name and labels only (exporter/metrics.py's catalogue), so it judges whatever
probes produced them. Facts no metric carries (the FlinkDeployment's status.error, why checkpoint
storage is down, missing Kafka topics, a failing probe's error) come from the probes' data kept in
the snapshot, read by attribute name, and land in a verdict's `details`. Statuses rank
healthy = suspended < unknown < degraded < down; `overall` is the worst component (`healthy`
when that is a suspended job), and `unknown` only when nothing at all could be judged. An
unknown market session is judged as open: unknown is never healthy. Every configured secret is
masked in the report's text.
"""

from __future__ import annotations

from exporter.config import Config
from exporter.evidence import (
    active_states,
    evidence_of,
    mask,
    masked,
    metric,
    probe_data,
    series_of,
    with_facts,
)
from exporter.report_replicas import judge_replicas
from exporter.snapshot import Series, View
from exporter.verdict import (
    COMPONENT_PROBES,
    COMPONENTS,
    EXIT_CODES,
    STATUS_RANK,
    Evidence,
    ProbeHealth,
    Procedure,
    Report,
    Status,
    Verdict,
)

__all__ = [
    "COMPONENTS", "COMPONENT_PROBES", "EXIT_CODES", "Evidence", "ProbeHealth", "Procedure",
    "Report", "Status", "Verdict", "build_report",
]  # fmt: skip


def _disk(view: View, cfg: Config) -> Verdict:
    free = {
        (s.labels["replica"], s.labels["disk"]): s
        for s in series_of(view, "clickhouse_disk_free_bytes")
    }
    total = {
        (s.labels["replica"], s.labels["disk"]): s
        for s in series_of(view, "clickhouse_disk_total_bytes")
    }
    keys = sorted(free.keys() & total.keys())
    if not keys:
        return Verdict("clickhouse-disk", "unknown", "no disk data")
    limit = cfg.report.disk_free_ratio
    ratios = {k: free[k].value / total[k].value if total[k].value > 0 else 0.0 for k in keys}
    worst = min(keys, key=lambda k: ratios[k])
    ratio = ratios[worst]
    evidence = (
        evidence_of(view, metric("clickhouse_disk_free_bytes"), free[worst]),
        evidence_of(view, metric("clickhouse_disk_total_bytes"), total[worst]),
    )
    where = f"replica {worst[0]} disk {worst[1]}: {ratio:.1%} free"
    if ratio < limit / 3:
        return Verdict("clickhouse-disk", "down", f"{where} (nearly full)", "A", evidence)
    if ratio < limit:
        return Verdict("clickhouse-disk", "degraded", f"{where} (< {limit:.0%})", "A", evidence)
    return Verdict("clickhouse-disk", "healthy", where, "none", evidence)


def _flink(view: View, cfg: Config, disk: Verdict) -> Verdict:
    jobs = active_states(view, "flink_job_state")
    lifecycle = active_states(view, "flink_lifecycle_state")
    if not jobs and not lifecycle:
        return Verdict("flink", "unknown", "no FlinkDeployment data")
    desired = {s.labels["deployment"]: s for s in series_of(view, "flink_job_desired_running")}
    ev: list[Evidence] = []
    failed: list[str] = []
    not_running: list[str] = []
    suspended: list[str] = []
    for dep in sorted(jobs.keys() | lifecycle.keys()):
        current = jobs.get(dep, []) + lifecycle.get(dep, [])
        ev.extend(evidence_of(view, metric("flink_job_state"), s) for s in jobs.get(dep, []))
        ev.extend(
            evidence_of(view, metric("flink_lifecycle_state"), s) for s in lifecycle.get(dep, [])
        )
        if any(s.labels["state"].upper() == "FAILED" for s in current):
            failed.append(dep)
        elif not any(s.labels["state"].upper() == "RUNNING" for s in jobs.get(dep, [])):
            wanted_off = dep in desired and desired[dep].value < 1
            (suspended if wanted_off else not_running).append(dep)
        if dep in desired:
            ev.append(evidence_of(view, metric("flink_job_desired_running"), desired[dep]))
    if failed:
        cause = disk.status in ("degraded", "down")
        summary = f"job FAILED: {', '.join(failed)}" + (
            " with ClickHouse disk pressure" if cause else ""
        )
        return Verdict("flink", "down", summary, "A" if cause else "none", tuple(ev))
    if not_running:
        return Verdict(
            "flink", "degraded", f"job not RUNNING: {', '.join(not_running)}", "none", tuple(ev)
        )
    if suspended:
        summary = f"suspended (desired): {', '.join(suspended)}; no new signals until resumed"
        return Verdict("flink", "suspended", summary, "none", tuple(ev))
    return Verdict("flink", "healthy", "job RUNNING", "none", tuple(ev))


def _kafka(view: View, cfg: Config) -> Verdict:
    lag = series_of(view, "kafka_consumer_lag_seconds")
    unconsumed = series_of(view, "kafka_oldest_unconsumed_timestamp_seconds")
    retention = {s.labels["topic"]: s for s in series_of(view, "kafka_retention_seconds")}
    if not lag and not unconsumed:
        return Verdict("kafka", "unknown", "no consumer-group data")
    expiring = []
    for s in unconsumed:
        r = retention.get(s.labels["topic"])
        if r is not None and s.value + r.value - view.now < cfg.report.expiry_margin:
            expiring.append((s, r))
    if expiring:
        oldest = metric("kafka_oldest_unconsumed_timestamp_seconds")
        ev = tuple(
            e
            for s, r in expiring
            for e in (
                evidence_of(view, oldest, s, timestamp=True),
                evidence_of(view, metric("kafka_retention_seconds"), r),
            )
        )
        topics = ", ".join(sorted({s.labels["topic"] for s, _ in expiring}))
        return Verdict(
            "kafka",
            "down",
            f"unconsumed data expires within the margin ({topics}); replay impossible after",
            "none",
            ev,
        )
    behind = [s for s in lag if s.value > cfg.report.kafka_lag]
    if behind:
        ev = tuple(evidence_of(view, metric("kafka_consumer_lag_seconds"), s) for s in behind)
        return Verdict("kafka", "degraded", "consumer lag above threshold", "none", ev)
    unknown = [s for s in series_of(view, "kafka_partitions_unknown") if s.value > 0]
    if unknown:
        # lag seconds left these partitions out: "within threshold" would be a guess
        ev = tuple(evidence_of(view, metric("kafka_partitions_unknown"), s) for s in unknown)
        topics = ", ".join(sorted({s.labels["topic"] for s in unknown}))
        return Verdict(
            "kafka", "unknown", f"lag of some partitions could not be read ({topics})", "none", ev
        )
    ev = tuple(evidence_of(view, metric("kafka_consumer_lag_seconds"), s) for s in lag)
    return Verdict("kafka", "healthy", "consumer lag within threshold", "none", ev)


def _checkpoints(view: View, cfg: Config, flink: Verdict) -> Verdict:
    up = series_of(view, "checkpoint_storage_up")
    last = series_of(view, "flink_last_checkpoint_timestamp_seconds")
    if not up and not last:
        return Verdict("checkpoints", "unknown", "no checkpoint data")
    down = [s for s in up if s.value < 1]
    if down:
        ev = tuple(evidence_of(view, metric("checkpoint_storage_up"), s) for s in down)
        return Verdict("checkpoints", "down", "checkpoint storage does not answer", "none", ev)
    ev = tuple(
        evidence_of(view, metric("flink_last_checkpoint_timestamp_seconds"), s, timestamp=True)
        for s in last
    )
    # A job that never completed a checkpoint has no last-checkpoint series: age from its start.
    done = {s.labels.get("deployment") for s in last}
    never = tuple(
        evidence_of(view, metric("flink_job_start_timestamp_seconds"), s, timestamp=True)
        for s in series_of(view, "flink_job_start_timestamp_seconds")
        if s.labels.get("deployment") not in done
    )
    old = [
        e
        for e in ev + never
        if e.data_age_seconds is not None and e.data_age_seconds > cfg.report.checkpoint_age
    ]
    if old and flink.status == "healthy":  # a stopped job legitimately stops checkpointing
        summary = (
            "no recent completed checkpoint"
            if any(e.metric.endswith("last_checkpoint_timestamp_seconds") for e in old)
            else "no checkpoint completed since the job started"
        )
        return Verdict("checkpoints", "degraded", summary, "none", tuple(old))
    if not up:  # checkpoint_storage.enabled: false
        return Verdict(
            "checkpoints", "healthy", "Flink reports checkpoints (storage not probed)", "none", ev
        )
    return Verdict("checkpoints", "healthy", "checkpoint storage answers", "none", ev)


def _market_open(view: View) -> bool | None:
    s = series_of(view, "market_open")
    return None if not s else s[0].value >= 1


def _not_judged(view: View) -> str | None:
    """Why freshness is not judged now (market closed, or the grace after the open), or None.
    An unknown session is judged as open: a failed market probe must not hide stale data."""
    market = _market_open(view)
    if market is False:
        return "market closed"
    if market and any(s.value >= 1 for s in series_of(view, "market_open_grace")):
        return "market just opened (open_grace)"
    return None


def _freshness_read(view: View, tables: tuple[Series, ...]) -> tuple[bool, str]:
    """Whether the probes behind the freshness series read their source on their last run, and
    how old their last successful read is."""
    states = [view.probes.get(n) for n in {s.probe for s in tables} or {"clickhouse_freshness"}]
    if not states or any(p is None or p.data_at is None for p in states):
        return False, "never read"
    known = [p for p in states if p is not None and p.data_at is not None]
    age = f"last read {view.now - min(p.data_at or 0.0 for p in known):.0f}s ago"
    return all(p.success and p.name not in view.stale for p in known), age


def _freshness(view: View, cfg: Config, cause: Verdict | None, flink: Verdict) -> Verdict:
    tables = series_of(view, "table_last_event_timestamp_seconds")
    symbols = series_of(view, "symbol_last_event_timestamp_seconds")
    ev = tuple(
        evidence_of(view, metric("table_last_event_timestamp_seconds"), s, timestamp=True)
        for s in tables
    )
    ev += tuple(
        evidence_of(view, metric("symbol_last_event_timestamp_seconds"), s, timestamp=True)
        for s in symbols
    )
    skip = _not_judged(view)
    if skip is not None:
        return Verdict("freshness", "healthy", f"{skip}: freshness not judged", "none", ev)
    procedure: Procedure = cause.procedure if cause else "none"
    why = ""
    if _market_open(view) is None:
        why += " (market session unknown: judged as open)"
    if flink.status == "suspended":
        why += " (Flink job suspended on purpose)"
    readable, last_read = _freshness_read(view, tables)
    details = {} if readable else {"freshness_source": f"unreadable, {last_read}"}
    if not tables:
        if readable:
            # the tables answered and hold no event at all while the market is open
            empty = f"no events in {cfg.clickhouse.signals_table}{why}"
            return Verdict("freshness", "down", empty, procedure, ev)
        return Verdict(
            "freshness", "unknown", f"no table freshness data ({last_read})", "none", ev, details
        )
    limit = cfg.report.freshness
    stale = [e for e in ev if e.data_age_seconds is not None and e.data_age_seconds > limit]
    main_stale = [
        e
        for e in stale
        if e.labels.get("table") == cfg.clickhouse.signals_table and "symbol" not in e.labels
    ]
    signals_seen = any(e.labels.get("table") == cfg.clickhouse.signals_table for e in ev)
    if main_stale or not signals_seen:
        what = (
            f"{cfg.clickhouse.signals_table} older than {limit:g}s"
            if signals_seen
            else f"no events in {cfg.clickhouse.signals_table}"
        )
        if not readable:
            what += f" as of the last read ({last_read}; ClickHouse unreadable now)"
        return Verdict("freshness", "down", what + why, procedure, tuple(stale) or ev, details)
    if not readable:  # the last known values are recent, but they may be stale by now
        return Verdict(
            "freshness",
            "unknown",
            f"freshness source unreadable ({last_read}); signals may be stale{why}",
            "none",
            ev,
            details,
        )
    data = probe_data(view, "clickhouse_freshness")
    absent = [f"{t}/{s}" for t, s in getattr(data, "missing_symbols", None) or ()]
    future = {t: n for t, n in (getattr(data, "future_rows", None) or {}).items() if n}
    details = {f"future_rows {t}": f"{n} ignored" for t, n in sorted(future.items())}
    if stale or absent:
        names = sorted({e.labels.get("symbol", e.labels["table"]) for e in stale})
        parts = [f"stale: {', '.join(names)}"] if names else []
        parts += [f"no rows in the scan window: {', '.join(absent)}"] if absent else []
        return Verdict(
            "freshness", "degraded", "; ".join(parts) + why, procedure, tuple(stale) or ev, details
        )
    return Verdict("freshness", "healthy", f"all events newer than {limit:g}s", "none", ev, details)


def _api(view: View, cfg: Config) -> Verdict:
    if cfg.jangar is None:
        return Verdict("api", "healthy", "Jangar API not configured: not checked")
    series = series_of(view, "api_last_event_timestamp_seconds")
    ev = tuple(
        evidence_of(view, metric("api_last_event_timestamp_seconds"), s, timestamp=True)
        for s in series
    )
    if not series:
        return Verdict("api", "unknown", "no API data", "none", ev)
    skip = _not_judged(view)
    if skip is not None:
        return Verdict("api", "healthy", f"{skip}: API freshness not judged", "none", ev)
    stale = [e for e in ev if (e.data_age_seconds or 0) > cfg.report.freshness]
    if stale:
        return Verdict("api", "degraded", "API serves stale events", "none", tuple(stale))
    return Verdict("api", "healthy", "API serves fresh events", "none", ev)


def _trading(view: View, freshness: Verdict) -> Verdict:
    series = series_of(view, "trading_enabled")
    if not series:
        return Verdict("trading", "unknown", "trading switch unknown")
    ev = tuple(evidence_of(view, metric("trading_enabled"), s) for s in series)
    enabled = any(s.value >= 1 for s in series)
    if enabled and freshness.status in ("degraded", "down"):
        return Verdict(
            "trading",
            "down",
            "trading enabled on stale signals: pause trading (TRADING_ENABLED=false); "
            f"freshness: {freshness.summary}",
            "none",
            ev,
        )
    if enabled and freshness.status == "unknown":
        # the runbook: "If signals are stale or uncertain, disable trading"; an unknown market
        # session is judged as open (a closed market never leaves freshness unknown)
        unsure = " (market session unknown: judged as open)" if _market_open(view) is None else ""
        return Verdict(
            "trading",
            "down",
            f"trading enabled while signal freshness is unknown{unsure}: "
            "pause trading (TRADING_ENABLED=false)",
            "none",
            ev,
        )
    return Verdict(
        "trading", "healthy", "trading enabled" if enabled else "trading paused", "none", ev
    )


def _overall(verdicts: tuple[Verdict, ...]) -> Status:
    if all(v.status == "unknown" for v in verdicts):
        return "unknown"
    worst = max(verdicts, key=lambda v: STATUS_RANK[v.status])
    return "healthy" if worst.status == "suspended" else worst.status


def build_report(view: View, cfg: Config) -> Report:
    """Judge every component from the view; thresholds come from `cfg.report`."""
    disk = _disk(view, cfg)
    replicas = judge_replicas(view, cfg)
    flink = _flink(view, cfg, disk)
    cause = (
        flink if flink.procedure != "none" else replicas if replicas.procedure != "none" else None
    )
    freshness = _freshness(view, cfg, cause, flink)
    verdicts: tuple[Verdict, ...] = (
        flink,
        disk,
        replicas,
        _kafka(view, cfg),
        _checkpoints(view, cfg, flink),
        freshness,
        _api(view, cfg),
        _trading(view, freshness),
    )
    secrets = [v.get() for v in cfg._secrets.values()]
    verdicts = tuple(masked(with_facts(view, v), secrets) for v in verdicts)
    probes = tuple(
        ProbeHealth(
            name=name,
            success=state.success,
            error=None if state.error is None else mask(state.error, secrets),
            data_age_seconds=None if state.data_at is None else round(view.now - state.data_at, 3),
            stale=name in view.stale,
        )
        for name, state in sorted(view.probes.items())
    )
    return Report(_overall(verdicts), view.now, verdicts, probes)
