"""The "TA pipeline overview" dashboard (uid torghut-ta-overview, the alerts' dashboard_url)."""

from __future__ import annotations

from alerts.thresholds import current as thresholds
from dashboards import overview_backends, overview_top
from dashboards.grafana import (
    Grid,
    Json,
    annotation,
    by_ref,
    dashboard,
    q,
    query_var,
    stat,
    state_code,
    state_timeline,
    steps,
    timeseries,
    value_map,
)
from dashboards.scope import SCOPE, scope_vars, sel
from exporter.probes.flink_deployment import JOB_STATES, LIFECYCLE_STATES

UID = "torghut-ta-overview"
# The alerts' own thresholds (alerts/thresholds.yaml).
STALE_S = thresholds().signals_stale_seconds  # TASignalsStale / TATradingOnStaleSignals
UNREAD_S = thresholds().freshness_unread_seconds  # TASignalsUnknown: freshness not read
# TAFlinkCheckpointStale when the job's checkpoint interval is unknown
CHECKPOINT_S = thresholds().checkpoint_unknown_interval_seconds

JOB_COLOURS = {
    "RUNNING": "green",
    "FAILED": "red",
    "FAILING": "red",
    "RESTARTING": "orange",
    "CANCELLING": "orange",
    "SUSPENDED": "blue",
    "CANCELED": "purple",
    "FINISHED": "purple",
}
LIFECYCLE_COLOURS = {
    "STABLE": "green",
    "DEPLOYED": "light-green",
    "FAILED": "red",
    "ROLLING_BACK": "orange",
    "ROLLED_BACK": "orange",
    "SUSPENDED": "blue",
    "DELETING": "purple",
    "DELETED": "purple",
}
SEL_DEPLOY = f'{SCOPE},deployment=~"$deployment"'


def _state_map(states: tuple[str, ...], colours: dict[str, str]) -> list[Json]:
    entries = {i: (s, colours.get(s, "yellow")) for i, s in enumerate(states, start=1)}
    entries[len(states) + 1] = ("OTHER", "text")
    return value_map(entries)


def _freshness(g: Grid) -> None:
    g.row("Freshness and trading")
    g.add(
        stat(
            "Signal age per table",
            [
                q(
                    overview_top.market_aware_age(
                        sel("torghut_ta_table_last_event_timestamp_seconds", 'table=~"$table"'),
                        by="table",
                    ),
                    "{{table}}",
                ),
                q(
                    overview_top.market_aware_age(
                        f"max by (cluster, namespace) ({sel('torghut_ta_signals_last_event_timestamp_seconds')})",
                        by="table",
                    ),
                    "signals table (trading reads)",
                ),
            ],
            unit="s",
            description="Now minus the newest event_ts of each TA table, and of the signals table trading reads (clickhouse.signals_table). Red past the 5 min staleness threshold; market closed outside trading sessions (not judged); unknown without data.",
            runbooks=["TASignalsStale", "TATradingOnStaleSignals"],
            thresholds=steps(("green", None), ("red", STALE_S)),
            mappings=overview_top.CLOSED_MAP,
        ),
        w=6,
        h=5,
    )
    g.add(
        state_timeline(
            "Trading session and trading switch",
            [
                q(f"max({sel('torghut_ta_market_open')})", "trading session"),
                q(f"max({sel('torghut_ta_trading_enabled')})", "TRADING_ENABLED"),
                q(f"max({sel('torghut_ta_market_open_grace')})", "open grace"),
            ],
            unit="bool_on_off",
            description="Whether a configured trading session is open (staleness alerts only fire then, after the open grace) and whether TRADING_ENABLED is on.",
            runbooks=["TATradingOnStaleSignals"],
            overrides=[
                by_ref("A", mappings=value_map({1: ("open", "blue"), 0: ("closed", "text")})),
                by_ref("B", mappings=value_map({1: ("enabled", "green"), 0: ("paused", "orange")})),
                by_ref("C", mappings=value_map({1: ("grace", "yellow"), 0: ("judged", "text")})),
            ],
        ),
        w=18,
        h=5,
    )
    g.add(
        timeseries(
            "Table freshness (age of newest event)",
            [
                q(
                    "time() - "
                    + sel("torghut_ta_table_last_event_timestamp_seconds", 'table=~"$table"'),
                    "{{table}}",
                )
            ],
            unit="s",
            description="Age of the newest event per TA table. Shaded regions: trading session open.",
            runbooks=["TASignalsStale"],
            thresholds=steps(("green", None), ("red", STALE_S)),
            custom={"thresholdsStyle": {"mode": "line"}},
        ),
        w=12,
    )
    g.add(
        timeseries(
            "Symbol freshness",
            [
                q(
                    "time() - "
                    + sel(
                        "torghut_ta_symbol_last_event_timestamp_seconds",
                        'table=~"$table"',
                        'symbol=~"$symbol"',
                    ),
                    "{{table}} {{symbol}}",
                )
            ],
            unit="s",
            description="Age of the newest event per watched symbol (bounded scan window: a symbol older than the window has no series).",
            runbooks=["TASignalsStale"],
            thresholds=steps(("green", None), ("red", STALE_S)),
            custom={"thresholdsStyle": {"mode": "line"}},
        ),
        w=12,
    )
    g.add(
        timeseries(
            "Freshness source: age of the last read",
            [
                q(
                    "time() - "
                    + sel(
                        "torghut_ta_probe_last_success_timestamp_seconds",
                        'probe="clickhouse_freshness"',
                    ),
                    "last freshness read",
                ),
                q(
                    "time() - "
                    + sel(
                        "torghut_ta_replica_table_last_event_timestamp_seconds",
                        'replica=~"$replica"',
                        'table=~"$table"',
                    ),
                    "{{replica}} {{table}} newest event",
                ),
            ],
            unit="s",
            description="How old the exporter's knowledge is: the last successful freshness read (over 2 min in market hours: signals unknown) and each replica's own newest event (a replica that did not answer has no series).",
            runbooks=["TASignalsUnknown", "TATradingOnStaleSignals"],
            thresholds=steps(("green", None), ("red", UNREAD_S)),
            custom={"thresholdsStyle": {"mode": "line"}},
        ),
        w=12,
    )
    g.add(
        stat(
            "Freshness anomalies",
            [
                q(
                    sel("torghut_ta_replica_freshness_success", 'replica=~"$replica"'),
                    "{{replica}} answered",
                ),
                q(
                    sel("torghut_ta_symbol_missing", 'table=~"$table"', 'symbol=~"$symbol"'),
                    "{{table}} {{symbol}} missing",
                ),
                q(sel("torghut_ta_table_future_rows", 'table=~"$table"'), "{{table}} future rows"),
            ],
            unit="short",
            description="Whether each replica answered the last freshness read (red: no), watched symbols without rows in the scan window (red: 1), and rows dated beyond the future tolerance, ignored by freshness (orange: any).",
            runbooks=["TASignalsUnknown", "TASignalsStale"],
            thresholds=steps(("red", None), ("green", 1)),
            overrides=[
                by_ref("B", thresholds=steps(("green", None), ("red", 1))),
                by_ref("C", thresholds=steps(("green", None), ("orange", 1))),
            ],
        ),
        w=12,
    )
    g.add(
        timeseries(
            "Jangar API freshness",
            [
                q(
                    "time() - "
                    + sel("torghut_ta_api_last_event_timestamp_seconds", 'symbol=~"$symbol"'),
                    "{{symbol}}",
                )
            ],
            unit="s",
            description="Age of the newest event the Jangar API serves per symbol (what trading reads).",
            runbooks=["TASignalsStale", "TATradingOnStaleSignals"],
            thresholds=steps(("green", None), ("red", STALE_S)),
            custom={"thresholdsStyle": {"mode": "line"}},
        ),
        w=24,
        h=6,
    )


def _flink(g: Grid) -> None:
    g.row("Flink job torghut-ta")
    g.add(
        state_timeline(
            "Job state",
            [
                q(
                    state_code("torghut_ta_flink_job_state", SEL_DEPLOY, JOB_STATES, "deployment"),
                    "{{deployment}}",
                )
            ],
            unit="none",
            description="status.jobStatus.state of each FlinkDeployment (state-set gauge, value = current state).",
            runbooks=["TAFlinkJobFailed", "TAFlinkJobNotRunning"],
            mappings=_state_map(JOB_STATES, JOB_COLOURS),
        ),
        w=12,
        h=5,
    )
    g.add(
        state_timeline(
            "Lifecycle state",
            [
                q(
                    state_code(
                        "torghut_ta_flink_lifecycle_state",
                        SEL_DEPLOY,
                        LIFECYCLE_STATES,
                        "deployment",
                    ),
                    "{{deployment}}",
                )
            ],
            unit="none",
            description="status.lifecycleState of each FlinkDeployment as the operator reports it.",
            runbooks=["TAFlinkJobFailed", "TAFlinkJobNotRunning"],
            mappings=_state_map(LIFECYCLE_STATES, LIFECYCLE_COLOURS),
        ),
        w=12,
        h=5,
    )
    g.add(
        timeseries(
            "Checkpoint age",
            [
                q(
                    f"time() - torghut_ta_flink_last_checkpoint_timestamp_seconds{{{SEL_DEPLOY}}}",
                    "{{deployment}} last completed checkpoint",
                ),
                q(
                    f"time() - torghut_ta_checkpoint_storage_last_write_timestamp_seconds{{{SEL_DEPLOY}}}",
                    "{{deployment}} newest object in storage",
                ),
                q(
                    f"time() - torghut_ta_flink_job_start_timestamp_seconds{{{SEL_DEPLOY}}}"
                    " unless on (cluster, namespace, deployment) "
                    f"torghut_ta_flink_last_checkpoint_timestamp_seconds{{{SEL_DEPLOY}}}",
                    "{{deployment}} since job start, no checkpoint yet",
                ),
                q(
                    f"clamp_min(10 * torghut_ta_flink_checkpoint_interval_seconds{{{SEL_DEPLOY}}}, 300)",
                    "{{deployment}} alert threshold (10 intervals)",
                ),
            ],
            unit="s",
            description="Age of the latest completed checkpoint (Flink REST) and of the newest checkpoint object in storage; while no checkpoint ever completed, the time since the job started. TAFlinkCheckpointStale fires above 10 checkpoint intervals of the job (at least 5 min, the threshold series); the red line is its 10 min fallback for an unknown interval.",
            runbooks=["TAFlinkCheckpointStale"],
            thresholds=steps(("green", None), ("red", CHECKPOINT_S)),
            custom={"thresholdsStyle": {"mode": "line"}},
        ),
        w=10,
    )
    g.add(
        timeseries(
            "Job restarts and restart nonce",
            [
                q(f"torghut_ta_flink_job_restarts{{{SEL_DEPLOY}}}", "{{deployment}} numRestarts"),
                q(f"torghut_ta_flink_restart_nonce{{{SEL_DEPLOY}}}", "{{deployment}} restartNonce"),
            ],
            unit="short",
            description="numRestarts of the job (Flink REST) and spec.restartNonce (a step means someone or the remediator restarted it).",
            runbooks=["TAFlinkJobFailed"],
        ),
        w=8,
    )
    g.add(
        stat(
            "Checkpoint storage / desired running",
            [
                q(f"torghut_ta_checkpoint_storage_up{{{SEL_DEPLOY}}}", "{{deployment}} storage"),
                q(
                    f"1 - torghut_ta_checkpoint_storage_walk_truncated{{{SEL_DEPLOY}}}",
                    "{{deployment}} storage walk complete",
                ),
                q(
                    f"torghut_ta_flink_job_desired_running{{{SEL_DEPLOY}}}",
                    "{{deployment}} spec running",
                ),
            ],
            unit="bool_yes_no",
            description="Whether the checkpoint bucket/prefix answers, whether its walk ended within the request budget (no: the newest write is a lower bound), and whether spec.job.state is running.",
            runbooks=["TACheckpointStorageDown", "TAFlinkCheckpointStale", "TAFlinkJobNotRunning"],
            mappings=value_map({1: ("yes", "green"), 0: ("no", "red")}),
        ),
        w=6,
    )


def build() -> Json:
    g = Grid()
    overview_top.top_row(g)
    overview_top.oncall(g, STALE_S)
    _freshness(g)
    _flink(g)
    overview_backends.kafka(g)
    overview_backends.clickhouse(g)
    overview_backends.probes(g)
    variables = [
        *scope_vars(),
        query_var(
            "table",
            "Table",
            f"label_values({sel('torghut_ta_table_last_event_timestamp_seconds')}, table)",
        ),
        query_var(
            "symbol",
            "Symbol",
            "label_values("
            + sel("torghut_ta_symbol_last_event_timestamp_seconds", 'table=~"$table"')
            + ", symbol)",
        ),
        query_var(
            "deployment",
            "Deployment",
            f"label_values({sel('torghut_ta_flink_job_state')}, deployment)",
        ),
        query_var(
            "replica",
            "Replica",
            f"label_values({sel('torghut_ta_clickhouse_disk_total_bytes')}, replica)",
        ),
    ]
    annotations = [
        annotation(
            "Trading session",
            f"max({sel('torghut_ta_market_open')}) == 1",
            "Trading session open",
            "rgba(31, 120, 193, 0.2)",
        ),
        annotation(
            "Firing TA alerts",
            sel("ALERTS", 'alertstate="firing"', 'alertname=~"TA.*"'),
            "{{alertname}}",
            "red",
            tags="alertname,severity,procedure",
        ),
        *overview_top.annotations(),
    ]
    return dashboard(
        UID,
        "Torghut TA pipeline overview",
        "Kafka -> Flink torghut-ta -> ClickHouse -> Jangar API -> trading: the verdict per stage and firing alerts, input freshness, consumer group, freshness, job state, lag, replay window, disk and replicas, probe health.",
        g,
        variables,
        annotations,
    )
