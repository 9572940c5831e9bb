"""Overview sections for the stores and the exporter itself: Kafka, ClickHouse, probes."""

from __future__ import annotations

from dashboards.grafana import (
    Grid,
    Json,
    bargauge,
    by_ref,
    panel,
    q,
    stat,
    state_timeline,
    steps,
    timeseries,
    value_map,
)
from dashboards.scope import SCOPE, sel

LAG_S = 300  # TAKafkaConsumerLagHigh
EXPIRY_S = 6 * 3600  # TAKafkaUnconsumedDataExpiring
SEL_REPLICA = f'{SCOPE},replica=~"$replica"'


def kafka(g: Grid) -> None:
    g.row("Kafka")
    g.add(
        timeseries(
            "Consumer lag (messages)",
            [
                q(
                    "sum by (group, topic) (\n"
                    "  max by (cluster, namespace, group, topic, partition) "
                    f"({sel('torghut_ta_kafka_consumer_lag_messages')})\n)",
                    "{{group}} {{topic}}",
                )
            ],
            unit="short",
            description="End offset minus committed offset, summed over partitions (each partition counted once, however many exporter replicas report it).",
            runbooks=["TAKafkaConsumerLagHigh"],
        ),
        w=12,
    )
    g.add(
        timeseries(
            "Consumer lag (seconds)",
            [
                q(
                    f"max by (group, topic) ({sel('torghut_ta_kafka_consumer_lag_seconds')})",
                    "{{group}} {{topic}}",
                )
            ],
            unit="s",
            description="Now minus the timestamp of the oldest unconsumed record (worst partition; a partition without a commit counts from the earliest retained record). A lower bound while partitions are unknown. Alert at 5 min for 10 min.",
            runbooks=["TAKafkaConsumerLagHigh"],
            thresholds=steps(("green", None), ("red", LAG_S)),
            custom={"thresholdsStyle": {"mode": "line"}},
        ),
        w=12,
    )
    g.add(
        timeseries(
            "Partitions without commit / of unknown lag",
            [
                q(
                    f"max by (group, topic) ({sel('torghut_ta_kafka_partitions_without_commit')})",
                    "no commit {{group}} {{topic}}",
                ),
                q(
                    f"max by (group, topic) ({sel('torghut_ta_kafka_partitions_unknown')})",
                    "unknown {{group}} {{topic}}",
                ),
            ],
            unit="short",
            description="No commit: a new (replay) group or expired offsets, measured from the earliest retained record. Unknown: lag could not be read, so lag seconds leaves them out.",
            runbooks=["TAKafkaConsumerLagHigh"],
        ),
        w=12,
    )
    g.add(
        timeseries(
            "Replay window (oldest retained record)",
            [
                q(
                    "time() - max by (topic) "
                    f"({sel('torghut_ta_kafka_earliest_record_timestamp_seconds')})",
                    "{{topic}}",
                )
            ],
            unit="s",
            description="How far back a replay (Procedure C) can start: age of the oldest record Kafka still retains.",
            runbooks=["TAKafkaUnconsumedDataExpiring"],
        ),
        w=12,
    )
    g.add(
        bargauge(
            "Time left before unconsumed data expires",
            [
                q(
                    "(\n    max by (cluster, namespace, group, topic) "
                    f"({sel('torghut_ta_kafka_oldest_unconsumed_timestamp_seconds')})\n"
                    "  + on (cluster, namespace, topic) group_left ()\n"
                    "    max by (cluster, namespace, topic) "
                    f"({sel('torghut_ta_kafka_retention_seconds')} > 0)\n)\n- time()",
                    "{{group}} {{topic}}",
                )
            ],
            unit="s",
            description="Oldest unconsumed record + retention - now: after this the data can never be replayed. Topics kept forever have no series. Alert under 6 h.",
            runbooks=["TAKafkaUnconsumedDataExpiring"],
            thresholds=steps(("red", None), ("orange", EXPIRY_S), ("green", 2 * EXPIRY_S)),
            minimum=0,
        ),
        w=12,
    )


def clickhouse(g: Grid) -> None:
    g.row("ClickHouse")
    free = f"torghut_ta_clickhouse_disk_free_bytes{{{SEL_REPLICA}}}"
    total = f"torghut_ta_clickhouse_disk_total_bytes{{{SEL_REPLICA}}}"
    g.add(
        bargauge(
            "Disk free per replica",
            [q(f"{free} / {total}", "{{replica}} {{disk}}")],
            unit="percentunit",
            description="Free (net of reservations) / total per ClickHouse disk holding the TA tables. Procedure A starts under 15% free.",
            runbooks=["TAClickHouseDiskPressure"],
            thresholds=steps(("red", None), ("orange", 0.15), ("green", 0.3)),
            minimum=0,
            maximum=1,
        ),
        w=8,
    )
    g.add(
        stat(
            "Disk forecast",
            [
                q(f"predict_linear({free}[1h], 4 * 3600)", "{{replica}} {{disk}} free in 4h"),
                q(f"{free} / -deriv({free}[1h]) > 0", "{{replica}} {{disk}} full in"),
            ],
            unit="bytes",
            description="Free space predicted in 4 h at the last hour's rate (negative: full within 4 h, which alerts) and the time until full (no value when the disk is not filling).",
            runbooks=["TAClickHouseDiskPressure"],
            thresholds=steps(("red", None), ("green", 0)),
            overrides=[by_ref("B", unit="s", thresholds=steps(("red", None), ("green", 4 * 3600)))],
        ),
        w=8,
    )
    g.add(
        timeseries(
            "Table bytes",
            [
                q(
                    f'torghut_ta_clickhouse_table_bytes{{{SEL_REPLICA},table=~"$table"}}',
                    "{{replica}} {{table}}",
                )
            ],
            unit="bytes",
            description="Bytes on disk of each table's active parts.",
            runbooks=["TAClickHouseDiskPressure"],
        ),
        w=8,
    )
    g.add(
        _partition_table(),
        w=16,
        h=9,
    )
    g.add(
        bargauge(
            "Oldest partition age",
            [
                q(
                    "time() - "
                    + sel(
                        "torghut_ta_clickhouse_oldest_partition_timestamp_seconds",
                        'table=~"$table"',
                    ),
                    "{{table}}",
                )
            ],
            unit="s",
            description="Age of each table's oldest active partition (what TTL or Procedure A would drop first).",
            runbooks=["TAClickHouseDiskPressure"],
        ),
        w=8,
        h=9,
    )
    g.add(
        state_timeline(
            "Replica read-only / session expired",
            [
                q(
                    f"torghut_ta_clickhouse_replica_readonly{{{SEL_REPLICA}}}",
                    "{{replica}} {{table}} read-only",
                ),
                q(
                    f"torghut_ta_clickhouse_replica_session_expired{{{SEL_REPLICA}}}",
                    "{{replica}} {{table}} session expired",
                ),
                q(
                    f"torghut_ta_clickhouse_replica_keeper_unreachable{{{SEL_REPLICA}}}",
                    "{{replica}} {{table}} Keeper unreachable",
                ),
                q(
                    f"torghut_ta_clickhouse_replica_metadata_lost{{{SEL_REPLICA}}}",
                    "{{replica}} {{table}} metadata lost",
                ),
            ],
            unit="bool_yes_no",
            description="system.replicas is_readonly and is_session_expired per replicated table, whether Keeper is unreachable (an outage: not Procedure B) and whether Keeper reports the table's metadata lost (Procedure B restores that).",
            runbooks=["TAClickHouseReplicaReadOnly", "TAClickHouseKeeperUnavailable"],
            mappings=value_map({0: ("ok", "green"), 1: ("yes", "red")}),
        ),
        w=12,
    )
    g.add(
        timeseries(
            "Replica delay and queue",
            [
                q(
                    f"torghut_ta_clickhouse_replica_delay_seconds{{{SEL_REPLICA}}}",
                    "{{replica}} {{table}} delay",
                ),
                q(
                    f"torghut_ta_clickhouse_replica_queue_size{{{SEL_REPLICA}}}",
                    "{{replica}} {{table}} queue",
                ),
            ],
            unit="s",
            description="system.replicas absolute_delay (seconds) and queue_size (entries, right axis).",
            runbooks=["TAClickHouseReplicaReadOnly"],
            overrides=[by_ref("B", unit="short", **{"custom.axisPlacement": "right"})],
        ),
        w=12,
    )


def _partition_table() -> Json:
    return panel(
        "table",
        "Largest and oldest partitions",
        [q(f'torghut_ta_clickhouse_partition_bytes{{{SEL_REPLICA},table=~"$table"}}', table=True)],
        unit="bytes",
        description="The exporter reports only the top-N largest and the oldest partitions per table (bounded cardinality).",
        runbooks=["TAClickHouseDiskPressure"],
        options={"showHeader": True, "sortBy": [{"displayName": "bytes", "desc": True}]},
        transformations=[
            {
                "id": "organize",
                "options": {
                    "excludeByName": {
                        "Time": True,
                        "__name__": True,
                        "job": True,
                        "instance": True,
                    },
                    "indexByName": {"replica": 0, "table": 1, "partition": 2, "Value": 3},
                    "renameByName": {"Value": "bytes"},
                },
            }
        ],
    )


def probes(g: Grid) -> None:
    g.row("Exporter probes")
    g.add(
        stat(
            "Exporter targets up",
            [q("sum(" + sel("up", 'job="torghut-ta-exporter"') + ") or vector(0)", "targets up")],
            unit="short",
            description='Scrape targets with job="torghut-ta-exporter" that answer. 0 means every TA alert is blind.',
            runbooks=["TAExporterDown"],
            thresholds=steps(("red", None), ("green", 1)),
        ),
        w=4,
    )
    g.add(
        state_timeline(
            "Probe success",
            [q(f"min by (probe) ({sel('torghut_ta_probe_success')})", "{{probe}}")],
            unit="bool_yes_no",
            description="Last run of each exporter probe. A failing probe makes the alerts on its metrics blind.",
            runbooks=["TAExporterProbeFailing"],
            mappings=value_map({1: ("ok", "green"), 0: ("failing", "red")}),
        ),
        w=20,
    )
    g.add(
        timeseries(
            "Probe duration",
            [q(f"max by (probe) ({sel('torghut_ta_probe_duration_seconds')})", "{{probe}}")],
            unit="s",
            description="Duration of each probe's last run.",
            runbooks=["TAExporterProbeFailing"],
        ),
        w=12,
    )
    g.add(
        timeseries(
            "Time since probe last succeeded",
            [
                q(
                    "time() - max by (probe) "
                    f"({sel('torghut_ta_probe_last_success_timestamp_seconds')})",
                    "{{probe}}",
                )
            ],
            unit="s",
            description="Age of each probe's data; a probe's data series disappear once it passes the probe's staleness bound.",
            runbooks=["TAExporterProbeFailing"],
        ),
        w=12,
    )
