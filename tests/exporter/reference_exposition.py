"""The snapshot rendered by prometheus_client itself: the reference the served /metrics must equal.

Kept in the tests (the product serves its own per-probe text cache, `exporter.server.Exposition`).
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from exporter.metrics import (
    CATALOGUE,
    PROBE_DURATION,
    PROBE_LAST_SUCCESS,
    PROBE_METRICS,
    PROBE_SUCCESS,
    MetricSpec,
)
from exporter.snapshot import Snapshot


def _family(spec: MetricSpec) -> Metric:
    if spec.kind == "counter":
        return CounterMetricFamily(spec.name, spec.help, labels=list(spec.labels))
    return GaugeMetricFamily(spec.name, spec.help, labels=list(spec.labels))


class _SnapshotFamilies:
    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        view = self.snapshot.view(self.snapshot.clock())
        for name in view.metrics():
            spec = CATALOGUE[name]
            if name in PROBE_METRICS:
                continue
            family = _family(spec)
            for series in view.series(name):
                family.add_metric([series.labels[k] for k in spec.labels], series.value)
            yield family
        success, duration, last = (_family(CATALOGUE[m]) for m in PROBE_METRICS)
        for name, state in sorted(view.probes.items()):
            success.add_metric([name], 1.0 if state.success else 0.0)
            if state.duration is not None:
                duration.add_metric([name], state.duration)
            if state.data_at is not None:
                last.add_metric([name], state.data_at)
        yield from (f for f in (success, duration, last) if f.samples)


def reference_exposition(snapshot: Snapshot) -> str:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_SnapshotFamilies(snapshot))  # type: ignore[arg-type]
    return generate_latest(registry).decode()


__all__ = ["PROBE_DURATION", "PROBE_LAST_SUCCESS", "PROBE_SUCCESS", "reference_exposition"]
