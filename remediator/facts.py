"""What a fresh probe cycle says about the install, in the terms the procedures decide on.

Pure: built from the exporter's view and report. Every fact that could not be read is None
(unknown), and the procedures treat unknown as "not safe to act", never as healthy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from exporter.evidence import series_of
from exporter.probes.clickhouse import Partition, partition_start
from exporter.report import Report
from exporter.snapshot import View
from exporter.verdict import Verdict
from remediator.config import RemediatorConfig

DAY = 86400.0


@dataclass(frozen=True)
class PartitionFact:
    replica: str
    table: str
    partition: str
    bytes: int
    rows: int
    start: float | None  # the day the partition holds, from its min_time or its id

    @property
    def end(self) -> float | None:
        return None if self.start is None else self.start + DAY


@dataclass(frozen=True)
class Facts:
    now: float
    deployment: str
    market_open: bool | None
    trading_enabled: bool | None
    job_state: str | None  # status.jobStatus.state
    lifecycle: str | None  # status.lifecycleState
    desired_running: bool | None  # spec.job.state == running
    verdicts: dict[str, Verdict]
    partitions: tuple[PartitionFact, ...] = ()
    replay_window_start: float | None = None  # oldest record still retained on every input
    readonly: tuple[tuple[str, str], ...] = ()  # (replica, table)
    # (replica, table) whose Keeper metadata is gone: what SYSTEM RESTORE REPLICA is for
    metadata_lost: tuple[tuple[str, str], ...] = ()
    unreadable: tuple[str, ...] = field(default=())  # probes that failed this cycle

    def status(self, component: str) -> str:
        verdict = self.verdicts.get(component)
        return "unknown" if verdict is None else verdict.status

    def summary(self) -> dict[str, Any]:
        """For the journal: the facts a person needs to follow the decision."""
        return {
            "market_open": self.market_open,
            "trading_enabled": self.trading_enabled,
            "job_state": self.job_state,
            "lifecycle": self.lifecycle,
            "desired_running": self.desired_running,
            "components": {
                name: {"status": v.status, "summary": v.summary, "procedure": v.procedure}
                for name, v in sorted(self.verdicts.items())
            },
            "replay_window_start": self.replay_window_start,
            "readonly": [list(r) for r in self.readonly],
            "metadata_lost": [list(r) for r in self.metadata_lost],
            "unreadable": list(self.unreadable),
        }


def _flag(view: View, name: str) -> bool | None:
    values = [s.value for s in series_of(view, name)]
    return None if not values else any(v >= 1 for v in values)


def _state(view: View, name: str, deployment: str) -> str | None:
    for s in series_of(view, name):
        if s.labels.get("deployment") == deployment and s.value >= 1:
            return s.labels.get("state")
    return None


def _partitions(view: View) -> tuple[PartitionFact, ...]:
    out = []
    for probe, state in sorted(view.probes.items()):
        if not probe.startswith("clickhouse_storage/") or probe in view.stale:
            continue
        for p in getattr(state.data, "partitions", None) or ():
            if isinstance(p, Partition):
                replica = probe.split("/", 1)[1]
                out.append(
                    PartitionFact(
                        replica, p.table, p.partition, p.bytes, p.rows, partition_start(p)
                    )
                )
    return tuple(out)


def _replay_window_start(view: View, cfg: RemediatorConfig) -> float | None:
    """The newest of the input topics' earliest retained records; None if any is unknown."""
    earliest = {
        s.labels.get("topic"): s.value
        for s in series_of(view, "kafka_earliest_record_timestamp_seconds")
    }
    if not cfg.kafka.topics or any(t not in earliest for t in cfg.kafka.topics):
        return None
    return max(earliest[t] for t in cfg.kafka.topics)


def _replica_tables(view: View, name: str) -> tuple[tuple[str, str], ...]:
    """(replica, table) of the samples of `name` that are set (>= 1)."""
    return tuple(
        sorted(
            (s.labels["replica"], s.labels["table"]) for s in series_of(view, name) if s.value >= 1
        )
    )


def gather(view: View, report: Report, cfg: RemediatorConfig) -> Facts:
    deployment = cfg.flink.deployment
    readonly = _replica_tables(view, "clickhouse_replica_readonly")
    desired = [
        s.value
        for s in series_of(view, "flink_job_desired_running")
        if s.labels.get("deployment") == deployment
    ]
    return Facts(
        now=view.now,
        deployment=deployment,
        market_open=_flag(view, "market_open"),
        trading_enabled=_flag(view, "trading_enabled"),
        job_state=_state(view, "flink_job_state", deployment),
        lifecycle=_state(view, "flink_lifecycle_state", deployment),
        desired_running=None if not desired else desired[0] >= 1,
        verdicts={v.component: v for v in report.components},
        partitions=_partitions(view),
        replay_window_start=_replay_window_start(view, cfg),
        readonly=readonly,
        metadata_lost=_replica_tables(view, "clickhouse_replica_metadata_lost"),
        unreadable=tuple(sorted(p.name for p in report.probes if not p.success)),
    )
