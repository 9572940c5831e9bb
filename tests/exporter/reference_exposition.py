"""The snapshot rendered by prometheus_client itself: the reference the served /metrics must equal.

Kept in the tests (the product serves its own per-probe text cache, `exporter.server.Exposition`).
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from exporter.component_status import component_samples
from exporter.config import Config
from exporter.metrics import (
    CATALOGUE,
    COMPONENT_STATUS,
    PROBE_DURATION,
    PROBE_LAST_SUCCESS,
    PROBE_METRICS,
    PROBE_SUCCESS,
    MetricSpec,
)
from exporter.report import build_report
from exporter.snapshot import Snapshot


def _family(spec: MetricSpec) -> Metric:
    if spec.kind == "counter":
        return CounterMetricFamily(spec.name, spec.help, labels=list(spec.labels))
    return GaugeMetricFamily(spec.name, spec.help, labels=list(spec.labels))


class _SnapshotFamilies:
    def __init__(self, snapshot: Snapshot, cfg: Config | None) -> None:
        self.snapshot = snapshot
        self.cfg = cfg

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
        if self.cfg is not None:
            spec = CATALOGUE[COMPONENT_STATUS]
            family = _family(spec)
            for s in component_samples(build_report(view, self.cfg)):
                family.add_metric([s.labels[k] for k in spec.labels], s.value)
            yield family


def reference_exposition(snapshot: Snapshot, cfg: Config | None = None) -> str:
    """With `cfg`, also the component status the server derives from the report."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_SnapshotFamilies(snapshot, cfg))  # type: ignore[arg-type]
    return generate_latest(registry).decode()


__all__ = ["PROBE_DURATION", "PROBE_LAST_SUCCESS", "PROBE_SUCCESS", "reference_exposition"]
