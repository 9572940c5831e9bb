"""The report's vocabulary: statuses, procedures, evidence, verdicts and the report itself."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from exporter.exitcodes import VERDICT

# `suspended`: the Flink job is stopped on purpose (spec.job.state: suspended). Neutral like
# `healthy` for `overall`, which is never `suspended`; the stale signals it causes still count.
Status = Literal["healthy", "suspended", "unknown", "degraded", "down"]
Procedure = Literal["A", "B", "C", "none"]
STATUS_RANK: dict[str, int] = {"healthy": 0, "suspended": 0, "unknown": 1, "degraded": 2, "down": 3}
EXIT_CODES: dict[str, int] = VERDICT  # the project's one table: exporter/exitcodes.py
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
