"""The single "TA pipeline health" verdict: a pure function of a snapshot view and the config.

It reads samples by metric name and labels only (DESIGN.md's catalogue), so it judges whatever
probes produced them. Facts no metric carries (the FlinkDeployment's status.error, why checkpoint
storage is down, missing Kafka topics, a failing probe's error) come from the probes' data kept in
the snapshot, read by attribute name, and land in a verdict's `details`. Statuses rank
healthy < unknown < degraded < down; `overall` is the worst component, and `unknown` only when
nothing at all could be judged. Every configured secret is masked in the report's text.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

from exporter.config import Config
from exporter.snapshot import Series, View

Status = Literal["healthy", "unknown", "degraded", "down"]
Procedure = Literal["A", "B", "C", "none"]
_RANK: dict[str, int] = {"healthy": 0, "unknown": 1, "degraded": 2, "down": 3}
EXIT_CODES: dict[str, int] = {"healthy": 0, "degraded": 1, "down": 2, "unknown": 3}
COMPONENTS = (
    "flink",
    "clickhouse-disk",
    "clickhouse-replicas",
    "kafka",
    "checkpoints",
    "freshness",
    "api",
    "trading",
)
# the probes (by name or `name/<replica>` prefix) whose results each component is judged from
COMPONENT_PROBES: dict[str, tuple[str, ...]] = {
    "flink": ("flink_deployment", "flink_rest"),
    "clickhouse-disk": ("clickhouse_storage",),
    "clickhouse-replicas": ("clickhouse_replicas",),
    "kafka": ("kafka_lag", "kafka_retention"),
    "checkpoints": ("checkpoint_storage", "flink_rest"),
    "freshness": ("clickhouse_freshness", "market"),
    "api": ("jangar",),
    "trading": ("trading",),
}


@dataclass(frozen=True)
class Evidence:
    """One observed value: `age_seconds` is how old the observation is; for timestamp metrics
    `data_age_seconds` is now minus the value (how old the data it describes is)."""

    metric: str
    labels: Mapping[str, str]
    value: float
    age_seconds: float
    data_age_seconds: float | None = None


@dataclass(frozen=True)
class Verdict:
    component: str
    status: Status
    summary: str
    procedure: Procedure = "none"
    evidence: tuple[Evidence, ...] = ()
    # non-metric facts, e.g. {"error_message": ..., "probe kafka_lag": "connection refused"}
    details: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ProbeHealth:
    name: str
    success: bool
    error: str | None
    data_age_seconds: float | None
    stale: bool


@dataclass(frozen=True)
class Report:
    overall: Status
    generated_at: float
    components: tuple[Verdict, ...]
    probes: tuple[ProbeHealth, ...] = field(default_factory=tuple)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.overall]


def _m(name: str) -> str:
    return f"torghut_ta_{name}"


def _ev(view: View, metric: str, s: Series, *, timestamp: bool = False) -> Evidence:
    return Evidence(
        metric=metric,
        labels=dict(s.labels),
        value=s.value,
        age_seconds=round(view.now - s.observed_at, 3),
        data_age_seconds=round(view.now - s.value, 3) if timestamp else None,
    )


def _series(view: View, name: str) -> tuple[Series, ...]:
    return view.series(_m(name))


def _active_states(view: View, name: str) -> dict[str, list[Series]]:
    """deployment -> series whose value is 1 in a state-set metric."""
    out: dict[str, list[Series]] = {}
    for s in _series(view, name):
        out.setdefault(s.labels["deployment"], [])
        if s.value == 1:
            out[s.labels["deployment"]].append(s)
    return out


def _belongs(probe: str, prefixes: Iterable[str]) -> bool:
    return any(probe == p or probe.startswith(p + "/") for p in prefixes)


def _data(view: View, probe: str) -> Any:
    """A probe's last good data while its samples are still exported, else None."""
    state = view.probes.get(probe)
    if state is None or probe in view.stale or state.data_at is None:
        return None
    return state.data


def _text(value: Any) -> str | None:
    if value is None or value == "" or value == ():
        return None
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


def _facts(data: Any, *names: str) -> dict[str, str]:
    """Named attributes of a probe's data that are set (read by name: probes stay decoupled)."""
    out: dict[str, str] = {}
    for name in names:
        text = _text(getattr(data, name, None))
        if text is not None:
            out[name] = text
    return out


def _with_facts(view: View, verdict: Verdict) -> Verdict:
    """Add the probes' non-metric facts and the errors of its failing probes to a verdict."""
    details = dict(verdict.details)
    component = verdict.component
    if component == "flink":
        dep = _data(view, "flink_deployment")
        details |= _facts(dep, "error_type", "error_message")
        if verdict.status != "healthy":
            details |= _facts(dep, "jobmanager_status")
    elif component == "checkpoints":
        store = _data(view, "checkpoint_storage")
        details |= _facts(store, "uri", "reason")
    elif component == "kafka":
        lag = _data(view, "kafka_lag")
        details |= _facts(lag, "group", "group_source")
        missing = sorted(
            {
                t
                for name in ("kafka_lag", "kafka_retention")
                for t in getattr(_data(view, name), "missing_topics", None) or ()
            }
        )
        if missing:
            details["missing_topics"] = ", ".join(missing)
    failing = {
        f"probe {name}": state.error
        for name, state in sorted(view.probes.items())
        if state.error and _belongs(name, COMPONENT_PROBES[component])
    }
    details |= failing
    summary, status = verdict.summary, verdict.status
    if component == "kafka" and "missing_topics" in details and status == "healthy":
        status, summary = "degraded", f"topics missing: {details['missing_topics']}"
    if status == "unknown" and failing:
        summary = f"{summary}; " + "; ".join(f"{k}: {v}" for k, v in failing.items())
    return replace(verdict, status=status, summary=summary, details=details)


def _mask(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def _masked(verdict: Verdict, secrets: list[str]) -> Verdict:
    return replace(
        verdict,
        summary=_mask(verdict.summary, secrets),
        details={k: _mask(v, secrets) for k, v in verdict.details.items()},
    )


def _disk(view: View, cfg: Config) -> Verdict:
    free = {
        (s.labels["replica"], s.labels["disk"]): s
        for s in _series(view, "clickhouse_disk_free_bytes")
    }
    total = {
        (s.labels["replica"], s.labels["disk"]): s
        for s in _series(view, "clickhouse_disk_total_bytes")
    }
    keys = sorted(free.keys() & total.keys())
    if not keys:
        return Verdict("clickhouse-disk", "unknown", "no disk data")
    limit = cfg.report.disk_free_ratio
    ratios = {k: free[k].value / total[k].value if total[k].value > 0 else 0.0 for k in keys}
    worst = min(keys, key=lambda k: ratios[k])
    ratio = ratios[worst]
    evidence = (
        _ev(view, _m("clickhouse_disk_free_bytes"), free[worst]),
        _ev(view, _m("clickhouse_disk_total_bytes"), total[worst]),
    )
    where = f"replica {worst[0]} disk {worst[1]}: {ratio:.1%} free"
    if ratio < limit / 3:
        return Verdict("clickhouse-disk", "down", f"{where} (nearly full)", "A", evidence)
    if ratio < limit:
        return Verdict("clickhouse-disk", "degraded", f"{where} (< {limit:.0%})", "A", evidence)
    return Verdict("clickhouse-disk", "healthy", where, "none", evidence)


def _replicas(view: View, cfg: Config) -> Verdict:
    readonly = [s for s in _series(view, "clickhouse_replica_readonly") if s.value >= 1]
    expired = [s for s in _series(view, "clickhouse_replica_session_expired") if s.value >= 1]
    delays = _series(view, "clickhouse_replica_delay_seconds")
    if readonly or expired:
        bad = sorted({f"{s.labels['replica']}/{s.labels['table']}" for s in readonly + expired})
        ev = tuple(_ev(view, _m("clickhouse_replica_readonly"), s) for s in readonly) + tuple(
            _ev(view, _m("clickhouse_replica_session_expired"), s) for s in expired
        )
        return Verdict(
            "clickhouse-replicas", "down", f"read-only replicas: {', '.join(bad)}", "B", ev
        )
    lagging = [s for s in delays if s.value > cfg.report.freshness]
    if lagging:
        ev = tuple(_ev(view, _m("clickhouse_replica_delay_seconds"), s) for s in lagging)
        return Verdict(
            "clickhouse-replicas", "degraded", "replication delay above threshold", "none", ev
        )
    if _series(view, "clickhouse_replica_readonly"):
        return Verdict("clickhouse-replicas", "healthy", "all replicas writable")
    answered = [
        p for n, p in view.probes.items() if n.startswith("clickhouse_replicas") and p.success
    ]
    if answered and not any(
        n.startswith("clickhouse_replicas") and n in view.stale for n in view.probes
    ):
        return Verdict("clickhouse-replicas", "healthy", "no replicated tables configured")
    return Verdict("clickhouse-replicas", "unknown", "no replica data")


def _flink(view: View, cfg: Config, disk: Verdict) -> Verdict:
    jobs = _active_states(view, "flink_job_state")
    lifecycle = _active_states(view, "flink_lifecycle_state")
    if not jobs and not lifecycle:
        return Verdict("flink", "unknown", "no FlinkDeployment data")
    desired = {s.labels["deployment"]: s for s in _series(view, "flink_job_desired_running")}
    ev: list[Evidence] = []
    failed: list[str] = []
    not_running: list[str] = []
    for dep in sorted(jobs.keys() | lifecycle.keys()):
        current = jobs.get(dep, []) + lifecycle.get(dep, [])
        ev.extend(_ev(view, _m("flink_job_state"), s) for s in jobs.get(dep, []))
        ev.extend(_ev(view, _m("flink_lifecycle_state"), s) for s in lifecycle.get(dep, []))
        if any(s.labels["state"].upper() == "FAILED" for s in current):
            failed.append(dep)
        elif not any(s.labels["state"].upper() == "RUNNING" for s in jobs.get(dep, [])):
            not_running.append(dep)
        if dep in desired:
            ev.append(_ev(view, _m("flink_job_desired_running"), desired[dep]))
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
    return Verdict("flink", "healthy", "job RUNNING", "none", tuple(ev))


def _kafka(view: View, cfg: Config) -> Verdict:
    lag = _series(view, "kafka_consumer_lag_seconds")
    unconsumed = _series(view, "kafka_oldest_unconsumed_timestamp_seconds")
    retention = {s.labels["topic"]: s for s in _series(view, "kafka_retention_seconds")}
    if not lag and not unconsumed:
        return Verdict("kafka", "unknown", "no consumer-group data")
    expiring = []
    for s in unconsumed:
        r = retention.get(s.labels["topic"])
        if r is not None and s.value + r.value - view.now < cfg.report.expiry_margin:
            expiring.append((s, r))
    if expiring:
        oldest = _m("kafka_oldest_unconsumed_timestamp_seconds")
        ev = tuple(
            e
            for s, r in expiring
            for e in (
                _ev(view, oldest, s, timestamp=True),
                _ev(view, _m("kafka_retention_seconds"), r),
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
        ev = tuple(_ev(view, _m("kafka_consumer_lag_seconds"), s) for s in behind)
        return Verdict("kafka", "degraded", "consumer lag above threshold", "none", ev)
    ev = tuple(_ev(view, _m("kafka_consumer_lag_seconds"), s) for s in lag)
    return Verdict("kafka", "healthy", "consumer lag within threshold", "none", ev)


def _checkpoints(view: View, cfg: Config, flink: Verdict) -> Verdict:
    up = _series(view, "checkpoint_storage_up")
    last = _series(view, "flink_last_checkpoint_timestamp_seconds")
    if not up and not last:
        return Verdict("checkpoints", "unknown", "no checkpoint data")
    down = [s for s in up if s.value < 1]
    if down:
        ev = tuple(_ev(view, _m("checkpoint_storage_up"), s) for s in down)
        return Verdict("checkpoints", "down", "checkpoint storage does not answer", "none", ev)
    ev = tuple(
        _ev(view, _m("flink_last_checkpoint_timestamp_seconds"), s, timestamp=True) for s in last
    )
    old = [
        e
        for e in ev
        if e.data_age_seconds is not None and e.data_age_seconds > cfg.report.checkpoint_age
    ]
    if old and flink.status == "healthy":  # a stopped job legitimately stops checkpointing
        return Verdict(
            "checkpoints", "degraded", "no recent completed checkpoint", "none", tuple(old)
        )
    return Verdict("checkpoints", "healthy", "checkpoint storage answers", "none", ev)


def _market_open(view: View) -> bool | None:
    s = _series(view, "market_open")
    return None if not s else s[0].value >= 1


def _freshness(view: View, cfg: Config, cause: Verdict | None) -> Verdict:
    tables = _series(view, "table_last_event_timestamp_seconds")
    symbols = _series(view, "symbol_last_event_timestamp_seconds")
    ev = tuple(
        _ev(view, _m("table_last_event_timestamp_seconds"), s, timestamp=True) for s in tables
    )
    ev += tuple(
        _ev(view, _m("symbol_last_event_timestamp_seconds"), s, timestamp=True) for s in symbols
    )
    market = _market_open(view)
    if market is None:
        return Verdict("freshness", "unknown", "market session unknown", "none", ev)
    if not market:
        return Verdict("freshness", "healthy", "market closed: freshness not judged", "none", ev)
    procedure: Procedure = cause.procedure if cause else "none"
    if not tables:
        probe = view.probes.get("clickhouse_freshness")
        if probe is not None and probe.success and "clickhouse_freshness" not in view.stale:
            # the tables answered and hold no event at all while the market is open
            empty = f"no events in {cfg.clickhouse.signals_table}"
            return Verdict("freshness", "down", empty, procedure, ev)
        return Verdict("freshness", "unknown", "no table freshness data", "none", ev)
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
        return Verdict("freshness", "down", what, procedure, tuple(stale) or ev)
    if stale:
        names = ", ".join(sorted({e.labels.get("symbol", e.labels["table"]) for e in stale}))
        return Verdict("freshness", "degraded", f"stale: {names}", procedure, tuple(stale))
    return Verdict("freshness", "healthy", f"all events newer than {limit:g}s", "none", ev)


def _api(view: View, cfg: Config) -> Verdict:
    if cfg.jangar is None:
        return Verdict("api", "healthy", "Jangar API not configured: not checked")
    series = _series(view, "api_last_event_timestamp_seconds")
    ev = tuple(_ev(view, _m("api_last_event_timestamp_seconds"), s, timestamp=True) for s in series)
    if not series:
        return Verdict("api", "unknown", "no API data", "none", ev)
    if not _market_open(view):
        return Verdict("api", "healthy", "market closed: API freshness not judged", "none", ev)
    stale = [e for e in ev if (e.data_age_seconds or 0) > cfg.report.freshness]
    if stale:
        return Verdict("api", "degraded", "API serves stale events", "none", tuple(stale))
    return Verdict("api", "healthy", "API serves fresh events", "none", ev)


def _trading(view: View, freshness: Verdict) -> Verdict:
    series = _series(view, "trading_enabled")
    if not series:
        return Verdict("trading", "unknown", "trading switch unknown")
    ev = tuple(_ev(view, _m("trading_enabled"), s) for s in series)
    enabled = any(s.value >= 1 for s in series)
    if enabled and freshness.status in ("degraded", "down"):
        return Verdict(
            "trading",
            "down",
            "trading enabled on stale signals: pause trading (TRADING_ENABLED=false)",
            "none",
            ev,
        )
    return Verdict(
        "trading", "healthy", "trading enabled" if enabled else "trading paused", "none", ev
    )


def _overall(verdicts: tuple[Verdict, ...]) -> Status:
    if all(v.status == "unknown" for v in verdicts):
        return "unknown"
    worst = max(verdicts, key=lambda v: _RANK[v.status])
    return worst.status


def build_report(view: View, cfg: Config) -> Report:
    """Judge every component from the view; thresholds come from `cfg.report`."""
    disk = _disk(view, cfg)
    replicas = _replicas(view, cfg)
    flink = _flink(view, cfg, disk)
    cause = (
        flink if flink.procedure != "none" else replicas if replicas.procedure != "none" else None
    )
    freshness = _freshness(view, cfg, cause)
    verdicts = (
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
    verdicts = tuple(_masked(_with_facts(view, v), secrets) for v in verdicts)
    probes = tuple(
        ProbeHealth(
            name=name,
            success=state.success,
            error=None if state.error is None else _mask(state.error, secrets),
            data_age_seconds=None if state.data_at is None else round(view.now - state.data_at, 3),
            stale=name in view.stale,
        )
        for name, state in sorted(view.probes.items())
    )
    return Report(_overall(verdicts), view.now, verdicts, probes)
