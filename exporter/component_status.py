"""`torghut_ta_component_status`: the /report verdict of every component as a state-set gauge.

One series per (component, status), 1 for the component's current status and 0 for the others,
with the pipeline stage (Kafka -> Flink -> ClickHouse -> API -> trading) the component belongs
to, so a dashboard tile per stage can take the worst of its components. `unknown` is a status of
its own: a component that cannot be judged is never reported healthy. Pure: the server renders it
from the snapshot, as /report does.
"""

from __future__ import annotations

from collections.abc import Iterable

from exporter.metrics import COMPONENT_STATUS
from exporter.probes.base import Sample
from exporter.verdict import COMPONENTS, STATUS_RANK, Report

STATUSES: tuple[str, ...] = tuple(STATUS_RANK)
# the stage of the pipeline each /report component describes
STAGES: dict[str, str] = {
    "kafka": "kafka",
    "flink": "flink",
    "checkpoints": "flink",
    "clickhouse-disk": "clickhouse",
    "clickhouse-replicas": "clickhouse",
    "freshness": "clickhouse",
    "api": "api",
    "trading": "trading",
}
assert set(STAGES) == set(COMPONENTS), "every /report component belongs to a stage"


def _state_set(component: str, current: str) -> Iterable[Sample]:
    for status in STATUSES:
        labels = {"component": component, "stage": STAGES[component], "status": status}
        yield Sample(COMPONENT_STATUS, 1.0 if status == current else 0.0, labels)


def component_samples(report: Report) -> tuple[Sample, ...]:
    """The state set of every component of `report`, in the report's order."""
    return tuple(s for v in report.components for s in _state_set(v.component, v.status))


def all_unknown() -> tuple[Sample, ...]:
    """Every component unknown: what the server exports when no report could be built."""
    return tuple(s for c in COMPONENTS for s in _state_set(c, "unknown"))
