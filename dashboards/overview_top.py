"""Overview: the top row ("is the pipeline healthy, and if not, which stage"), the panels an
oncall asks for first, and the event annotations (restarts, suspend/resume, trading switch,
consumer group, remediation runs)."""

from __future__ import annotations

from dashboards.grafana import (
    UNKNOWN,
    UNKNOWN_COLOUR,
    Grid,
    Json,
    annotation,
    instant,
    panel,
    q,
    stat,
    steps,
    value_map,
)
from dashboards.scope import SCOPE, sel

# (stage label value, tile title, alerts the tile explains), pipeline order
STAGES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("kafka", "Kafka", ("TAKafkaConsumerLagHigh", "TAKafkaUnconsumedDataExpiring")),
    ("flink", "Flink", ("TAFlinkJobFailed", "TAFlinkJobNotRunning", "TAFlinkCheckpointStale")),
    ("clickhouse", "ClickHouse", ("TAClickHouseDiskPressure", "TASignalsStale")),
    ("api", "API", ("TASignalsStale",)),
    ("trading", "Trading", ("TATradingOnStaleSignals",)),
)
# a stage's worst component status; code = position in the exporter's ranking (suspended is
# neutral like healthy for the verdict, but shown as what it is)
STATUS_CODES: dict[str, tuple[int, str, str]] = {
    "healthy": (0, "OK", "green"),
    "suspended": (1, "SUSPENDED", "blue"),
    "unknown": (2, "UNKNOWN", UNKNOWN_COLOUR),
    "degraded": (3, "DEGRADED", "orange"),
    "down": (4, "DOWN", "red"),
}
MARKET_CLOSED = -1  # the value a market-aware age takes outside trading sessions
CLOSED_MAP = value_map({MARKET_CLOSED: ("market closed", "blue")})


def stage_status(stage: str) -> str:
    """The worst status over the stage's components, as a code; UNKNOWN when no component
    series exists (exporter gone or not scraped), never the last good value."""
    metric = "torghut_ta_component_status"
    parts = [
        "(" + sel(metric, f'stage="{stage}"', f'status="{status}"') + f" == 1) * {code}"
        for status, (code, _, _) in STATUS_CODES.items()
    ]
    unknown = STATUS_CODES["unknown"][0]
    return "max(\n    " + "\n  or\n    ".join(parts) + f"\n)\nor vector({unknown})"


def market_aware_age(timestamp: str, *, by: str) -> str:
    """now - `timestamp` while a session is open (or the session is unknown: judged as open,
    as the report does); outside sessions one series of value MARKET_CLOSED per install."""
    market = sel("torghut_ta_market_open")
    return (
        f"(\n    time() - {timestamp}\n  unless on (cluster, namespace) ({market} == 0)\n)\n"
        f"or on (cluster, namespace)\n"
        f"  label_replace(max by (cluster, namespace) ({market} == 0) * 0 + {MARKET_CLOSED}, "
        f'"{by}", "market closed", "", "")'
    )


def _stat_options(text: str, *, colour: str = "none", **extra: str) -> Json:
    """A stat's options: the last value, no sparkline; `text`, `colour`: textMode, colorMode."""
    return {
        "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
        "colorMode": colour,
        "graphMode": "none",
        "textMode": text,
        **extra,
    }


def _age_stat(
    title: str,
    timestamp: str,
    *,
    by: str,
    legend: str,
    stale_s: float,
    description: str,
    runbooks: list[str],
) -> Json:
    """A stat of market-aware ages of `timestamp` (market_aware_age), red past `stale_s`."""
    return stat(
        title,
        [q(market_aware_age(timestamp, by=by), legend)],
        unit="s",
        description=description,
        runbooks=runbooks,
        thresholds=steps(("green", None), ("red", stale_s)),
        mappings=CLOSED_MAP,
    )


def _tile(stage: str, title: str, runbooks: tuple[str, ...]) -> Json:
    return stat(
        title,
        [q(stage_status(stage), title)],
        unit="none",
        description=(
            f"Worst /report verdict of the {title} stage's components "
            "(torghut_ta_component_status: kafka; flink + checkpoints; ClickHouse disk, "
            "replicas and signal freshness; Jangar API; trading). UNKNOWN when the exporter "
            "cannot judge it or is not scraped: never green without data."
        ),
        runbooks=runbooks,
        mappings=value_map({code: (text, colour) for code, text, colour in STATUS_CODES.values()}),
        options=_stat_options("value", colour="background", justifyMode="center"),
    )


def _alert_list() -> Json:
    return panel(
        "table",
        "Firing TA alerts",
        instant(
            [
                q(
                    sel("ALERTS", 'alertstate="firing"', 'alertname=~"TA.*"'),
                    table=True,
                )
            ]
        ),
        unit="none",
        description="TA alerts firing now for this install, with severity and runbook procedure (Prometheus ALERTS).",
        runbooks=["TASignalsStale", "TAExporterDown"],
        no_value="no TA alert firing",
        options={"showHeader": True, "sortBy": [{"displayName": "severity", "desc": False}]},
        transformations=[
            {
                "id": "organize",
                "options": {
                    "excludeByName": {
                        "Time": True,
                        "Value": True,
                        "__name__": True,
                        "alertstate": True,
                        "job": True,
                        "instance": True,
                    },
                    "indexByName": {"alertname": 0, "severity": 1, "procedure": 2},
                },
            }
        ],
    )


def top_row(g: Grid) -> None:
    g.row("Pipeline: Kafka -> Flink -> ClickHouse -> API -> trading")
    for stage, title, runbooks in STAGES:
        g.add(_tile(stage, title, runbooks), w=3, h=4)
    g.add(_alert_list(), w=9, h=4)


def oncall(g: Grid, stale_s: float) -> None:
    """`stale_s`: the signal staleness threshold (red past it)."""
    g.row("First questions")
    g.add(
        _age_stat(
            "Input freshness (newest record per topic)",
            sel("torghut_ta_kafka_latest_record_timestamp_seconds"),
            by="topic",
            legend="{{topic}}",
            stale_s=stale_s,
            description="Age of the newest record of each input topic: whether torghut-ws still writes. A lag of 0 with no input is not healthy. Outside trading sessions: market closed. Unknown: the topic is empty or its last records could not be read.",
            runbooks=["TAKafkaConsumerLagHigh", "TASignalsStale"],
        ),
        w=8,
        h=5,
    )
    g.add(
        stat(
            "Consumer group (TA_GROUP_ID)",
            [q(f"max by (group) ({sel('torghut_ta_kafka_consumer_group_info')})", "{{group}}")],
            unit="none",
            description="The consumer group the exporter measures: TA_GROUP_ID of the live TA ConfigMap. A new value (annotated) means a replay started (Procedure C) or ended; partitions without commit are the replay group's start.",
            runbooks=["TAKafkaConsumerLagHigh"],
            options=_stat_options("name"),
        ),
        w=4,
        h=5,
    )
    g.add(
        _age_stat(
            "Signal age per replica",
            sel(
                "torghut_ta_replica_table_last_event_timestamp_seconds",
                'replica=~"$replica"',
                'table=~"$table"',
            ),
            by="replica",
            legend="{{replica}} {{table}}",
            stale_s=stale_s,
            description="Now minus the newest event_ts of each table as each replica answers it (a replica that did not answer has no value: unknown). Outside trading sessions: market closed.",
            runbooks=["TASignalsStale", "TASignalsUnknown"],
        ),
        w=12,
        h=5,
    )
    g.add(
        stat(
            "Retention: ClickHouse TTL vs Kafka replay window",
            [
                q(
                    "max by (table) ("
                    + sel("torghut_ta_clickhouse_table_ttl_seconds", 'table=~"$table"')
                    + ")",
                    "TTL {{table}}",
                ),
                q(
                    f"time() - max by (topic) ({sel('torghut_ta_kafka_earliest_record_timestamp_seconds')})",
                    "replay window {{topic}}",
                ),
                q(
                    f"max by (topic) ({sel('torghut_ta_kafka_retention_seconds')})",
                    "retention {{topic}}",
                ),
            ],
            unit="s",
            description="How long ClickHouse keeps TA rows (the table's TTL) next to how far back Kafka still holds input (age of the oldest retained record, and retention.ms): a replay (Procedure C) can rebuild only what Kafka still holds; rows past the TTL are merged away again.",
            runbooks=["TAKafkaUnconsumedDataExpiring"],
            options=_stat_options("value_and_name"),
        ),
        w=24,
        h=4,
    )


def annotations() -> list[Json]:
    """Events: consecutive 1-min steps of each merge into one region (2m windows: each event is
    seen by at least one step)."""
    deploy = 'deployment=~"$deployment"'
    group = sel("torghut_ta_kafka_consumer_group_info")
    return [
        annotation(
            "Restart nonce bumped",
            f"changes({sel('torghut_ta_flink_restart_nonce', deploy)}[2m]) > 0",
            "restartNonce bumped: {{deployment}}",
            "orange",
            tags="deployment",
        ),
        annotation(
            "Suspend / resume",
            f"changes({sel('torghut_ta_flink_job_desired_running', deploy)}[2m]) > 0",
            "spec.job.state changed: {{deployment}}",
            "blue",
            tags="deployment",
        ),
        annotation(
            "TRADING_ENABLED changed",
            f"changes({sel('torghut_ta_trading_enabled')}[2m]) > 0",
            "TRADING_ENABLED changed",
            "purple",
        ),
        annotation(
            "Consumer group changed",
            f"({group} unless {group} offset 2m)\n"
            f"and on (cluster, namespace) count by (cluster, namespace) ({group} offset 2m)",
            "TA_GROUP_ID now {{group}}",
            "yellow",
            tags="group",
        ),
        annotation(
            "Remediation runs",
            "sum by (procedure, outcome) "
            f"(increase({sel('torghut_ta_remediation_runs_total')}[2m])) > 0\n"
            f"or sum by (cluster, namespace) ({sel('torghut_ta_remediation_in_progress')}) > 0",
            "remediation run {{procedure}} {{outcome}}",
            "green",
            tags="procedure,outcome",
        ),
    ]


__all__ = ["SCOPE", "STATUS_CODES", "UNKNOWN", "annotations", "oncall", "top_row"]
