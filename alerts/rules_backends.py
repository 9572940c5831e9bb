"""ClickHouse (disk, read-only replicas, Keeper) and Kafka (lag, retention) alerts."""

from __future__ import annotations

from alerts.common import DISK_FREE_RATIO, alert, labels
from alerts.model import Group
from alerts.rules_recording import disk as recorded
from alerts.scope import Scope
from alerts.thresholds import Thresholds, human


def _disk_text(s: Scope, t: Thresholds) -> str:
    """The shared middle of both disk descriptions: free bytes, free ratio, time to full."""
    free = "torghut_ta_clickhouse_disk_free_bytes{SEL}"
    ratio = f"{DISK_FREE_RATIO}{{SEL}}"
    window = t.disk_trend_window
    return f"""
Disk {{{{ $labels.disk }}}} of replica {{{{ $labels.replica }}}} has
{{{{ with {s.tmpl_query(free, "replica", "disk")} }}}}{{{{ . | first | value | humanize1024 }}}}B{{{{ end }}}}
free
({{{{ with {s.tmpl_query(ratio, "replica", "disk")} }}}}{{{{ . | first | value | humanizePercentage }}}}{{{{ end }}}});
at the last hour's rate it is full in
{{{{ with {s.tmpl_query(f"{free} / -deriv({free}[{window}]) > 0", "replica", "disk")} }}}}{{{{ . | first | value | humanizeDuration }}}}{{{{ else }}}}never (not shrinking){{{{ end }}}}.
"""


def clickhouse(s: Scope, t: Thresholds) -> Group:
    ratio, pct = t.disk_free_ratio_min, f"{t.disk_free_ratio_min:.0%}"
    horizon = human(t.disk_full_horizon_seconds)
    readonly = s.x("torghut_ta_clickhouse_replica_readonly")
    lost = s.x("torghut_ta_clickhouse_replica_metadata_lost")
    keeper = s.x("torghut_ta_clickhouse_replica_keeper_unreachable")
    return Group(
        name="torghut-ta-clickhouse",
        rules=(
            *recorded(s),
            alert(
                "TAClickHouseDiskPressure",
                f"{s.x(DISK_FREE_RATIO)} < {ratio}",
                for_="5m",
                labels=labels("critical", "clickhouse", "A", "auto"),
                summary="ClickHouse {{ $labels.replica }} disk {{ $labels.disk }} is running out of space",
                description=_disk_text(s, t) + f"Threshold: under {pct} free.",
                comment=(
                    "Only the disks that hold the TA tables are exported (a full backup disk is not this\n"
                    f"alert's business), with free space net of reservations. Under {pct} free is Procedure A,\n"
                    "run automatically; a disk merely predicted full is the warning rule below."
                ),
            ),
            alert(
                "TAClickHouseDiskPressure",
                f"""
predict_linear({s.x("torghut_ta_clickhouse_disk_free_bytes")}[{t.disk_trend_window}], {t.disk_full_horizon_seconds}) < 0
unless
({s.x(DISK_FREE_RATIO)} < {ratio})
""",
                for_="5m",
                labels=labels("warning", "clickhouse", "A", "approval"),
                summary=f"ClickHouse {{{{ $labels.replica }}}} disk {{{{ $labels.disk }}}} is predicted full within {horizon}",
                description=_disk_text(s, t)
                + """
A prediction only: Procedure A (dropping old partitions) is proposed and needs an
approval; it never runs by itself.
""",
                comment=(
                    "A prediction never runs the destructive path by itself: it proposes Procedure A and waits\n"
                    f"for a person's approval. Once the disk is really under {pct} the rule above takes over."
                ),
            ),
            alert(
                "TAClickHouseReplicaReadOnly",
                f"""
{readonly} == 1
and {s.on("replica", "table")}
({lost} == 1)
unless {s.on()}
(max {s.by()} ({keeper}) == 1)
""",
                for_="2m",
                labels=labels("critical", "clickhouse", "B", "approval"),
                summary="ClickHouse table {{ $labels.table }} is read-only on {{ $labels.replica }}: Keeper metadata lost",
                description="""
system.replicas reports {{ $labels.table }} read-only on replica
{{ $labels.replica }} for at least 2 minutes, and Keeper answers that the table's
znodes do not exist (No node): lost Keeper metadata. Inserts from torghut-ta fail.
Procedure B (SYSTEM RESTORE REPLICA) after an approval.
""",
                comment=(
                    "Procedure B (SYSTEM RESTORE REPLICA) only when Keeper answers and says the table's znodes\n"
                    "are gone, and never while any replica of the same install cannot reach Keeper (that is\n"
                    "TAClickHouseKeeperUnavailable). Any other read-only table needs a person."
                ),
            ),
            alert(
                "TAClickHouseReplicaReadOnly",
                f"""
{readonly} == 1
unless {s.on("replica", "table")}
({lost} == 1)
unless {s.on("replica")}
(max {s.by("replica")} ({keeper}) == 1)
""",
                for_="2m",
                labels=labels("critical", "clickhouse", "none", "manual"),
                summary="ClickHouse table {{ $labels.table }} is read-only on {{ $labels.replica }}",
                description="""
system.replicas reports {{ $labels.table }} read-only on replica
{{ $labels.replica }} for at least 2 minutes; inserts from torghut-ta fail. Keeper is
reachable and no lost metadata is reported (or the exporter does not say), so
SYSTEM RESTORE REPLICA has nothing to restore: a person must find the cause.
""",
            ),
            alert(
                "TAClickHouseKeeperUnavailable",
                f"max {s.by('replica')} ({keeper}) == 1",
                for_="2m",
                labels=labels("critical", "clickhouse", "none", "manual"),
                summary="ClickHouse replica {{ $labels.replica }} cannot reach Keeper",
                description=f"""
Replica {{{{ $labels.replica }}}} has had no Keeper session (expired, or connection lost)
for at least 2 minutes on
{{{{ with {s.tmpl_query("count(torghut_ta_clickhouse_replica_keeper_unreachable{SEL} == 1)", "replica")} }}}}{{{{ . | first | value }}}}{{{{ end }}}}
replicated table(s); they are read-only and TA inserts fail. This is a Keeper outage,
not lost metadata: do NOT run Procedure B (SYSTEM RESTORE REPLICA); bring Keeper
(ZooKeeper / ClickHouse Keeper) back and the replicas recover by themselves.
""",
            ),
        ),
    )


def kafka(s: Scope, t: Thresholds) -> Group:
    lag, left = t.kafka_lag_seconds, t.retention_left_seconds
    return Group(
        name="torghut-ta-kafka",
        rules=(
            alert(
                "TAKafkaConsumerLagHigh",
                f"{s.x('torghut_ta_kafka_consumer_lag_seconds')} > {lag}",
                for_="10m",
                labels=labels("warning", "kafka", "none", "manual"),
                summary="Consumer group {{ $labels.group }} is {{ $value | humanizeDuration }} behind on {{ $labels.topic }}",
                description=f"""
Group {{{{ $labels.group }}}} has been more than {human(lag)} behind on topic
{{{{ $labels.topic }}}} for 10 minutes; it is now {{{{ $value | humanizeDuration }}}}
behind.
""",
            ),
            alert(
                "TAKafkaUnconsumedDataExpiring",
                f"""
(
    {s.x("torghut_ta_kafka_oldest_unconsumed_timestamp_seconds")}
  + {s.on("topic")} group_left ()
    max {s.by("topic")} ({s.x("torghut_ta_kafka_retention_seconds")} > 0)
)
- time()
< {left}
""",
                for_="5m",
                labels=labels("critical", "kafka", "none", "manual"),
                summary="Unconsumed data of {{ $labels.topic }} for {{ $labels.group }} is deleted by retention in {{ $value | humanizeDuration }}",
                description=f"""
The oldest record of {{{{ $labels.topic }}}} that group {{{{ $labels.group }}}} has not
consumed leaves retention in {{{{ $value | humanizeDuration }}}} (threshold {human(left)}). After
that it can never be replayed: get the consumer moving or raise the topic's
retention now.
""",
                comment=(
                    "oldest_unconsumed has {group, topic}; retention has {topic}: many groups per topic, so\n"
                    "group_left, and `max by (<install>, topic)` keeps the right side unique with several\n"
                    "exporters. retention.ms = -1 (keep forever) is exported as a negative number: never expiring."
                ),
            ),
        ),
    )
