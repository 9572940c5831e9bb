"""A prometheus_client Collector that renders the snapshot; no I/O happens on a scrape.

Rendering is cached per (snapshot version, set of stale probes): between two probe runs every
scrape reuses the same metric families, so a scrape costs only the text exposition.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from exporter.metrics import CATALOGUE, MetricSpec
from exporter.snapshot import Snapshot, View

PROBE_SUCCESS = "torghut_ta_probe_success"
PROBE_DURATION = "torghut_ta_probe_duration_seconds"
PROBE_LAST_SUCCESS = "torghut_ta_probe_last_success_timestamp_seconds"
_PROBE_METRICS = (PROBE_SUCCESS, PROBE_DURATION, PROBE_LAST_SUCCESS)


def _family(spec: MetricSpec) -> CounterMetricFamily | GaugeMetricFamily:
    if spec.kind == "counter":
        return CounterMetricFamily(spec.name, spec.help, labels=list(spec.labels))
    return GaugeMetricFamily(spec.name, spec.help, labels=list(spec.labels))


def render(view: View) -> list[Metric]:
    """Metric families for a view: data series of fresh probes, then every probe's health."""
    families: list[Metric] = []
    for name in view.metrics():
        spec = CATALOGUE[name]
        if name in _PROBE_METRICS:
            continue  # owned by the scheduler, rendered below
        family = _family(spec)
        add = family.add_metric
        keys = spec.labels
        for series in view.series(name):
            add([series.labels[k] for k in keys], series.value)
        families.append(family)
    success = _family(CATALOGUE[PROBE_SUCCESS])
    duration = _family(CATALOGUE[PROBE_DURATION])
    last_success = _family(CATALOGUE[PROBE_LAST_SUCCESS])
    for name, state in sorted(view.probes.items()):
        success.add_metric([name], 1.0 if state.success else 0.0)
        if state.duration is not None:
            duration.add_metric([name], state.duration)
        if state.data_at is not None:
            last_success.add_metric([name], state.data_at)
    families.extend(f for f in (success, duration, last_success) if f.samples)
    return families


class SnapshotCollector(Collector):
    """Register on a private CollectorRegistry; `collect` is called by the exposition code."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        self._lock = threading.Lock()
        self._key: tuple[int, frozenset[str]] | None = None
        self._families: list[Metric] = []

    def describe(self) -> list[Metric]:
        return []  # dynamic families: skip registry-time name checks and an eager collect

    def key(self, now: float | None = None) -> tuple[int, frozenset[str]]:
        """Changes exactly when the rendered output would: a new result or a probe going stale."""
        return self.snapshot.render_key(now)

    def families(self) -> list[Metric]:
        now = self.snapshot.clock()
        key = self.key(now)
        with self._lock:
            if key == self._key:
                return self._families
            view = self.snapshot.view(now)
            families = render(view)
            self._key, self._families = (view.version, view.stale), families
            return families

    def collect(self) -> Iterator[Metric]:
        return iter(self.families())
