"""HTTP endpoints: /metrics, /report, /healthz, /readyz. Handlers only read the snapshot.

/metrics is assembled from text chunks cached per (probe, metric): a new result re-renders only
the probe that produced it, so a probe failing every few seconds next to thousands of series of
other probes costs a scrape a join of cached bytes, not a re-render of everything.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from aiohttp import web
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.utils import floatToGoString

from exporter.component_status import all_unknown, component_samples
from exporter.config import Config
from exporter.metrics import CATALOGUE, COMPONENT_STATUS, PROBE_METRICS, MetricSpec
from exporter.probes.base import Sample
from exporter.report import build_report
from exporter.snapshot import ProbeState, Snapshot

log = logging.getLogger("exporter.server")


def _escape(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def _sample_name(spec: MetricSpec) -> str:
    return spec.name + "_total" if spec.kind == "counter" else spec.name


def _lines(spec: MetricSpec, rows: Iterable[tuple[dict[str, str], float]]) -> bytes:
    """Sample lines in the text format prometheus_client writes (labels sorted by name)."""
    name = _sample_name(spec)
    out = []
    for labels, value in rows:
        if labels:
            pairs = ",".join(f'{k}="{_escape(labels[k])}"' for k in sorted(labels))
            out.append(f"{name}{{{pairs}}} {floatToGoString(value)}\n")
        else:
            out.append(f"{name} {floatToGoString(value)}\n")
    return "".join(out).encode()


def _header(spec: MetricSpec) -> bytes:
    name = _sample_name(spec)
    help_text = spec.help.replace("\\", r"\\").replace("\n", r"\n")
    return f"# HELP {name} {help_text}\n# TYPE {name} {spec.kind}\n".encode()


def _chunks(samples: tuple[Sample, ...]) -> dict[str, bytes]:
    """metric -> its sample lines, for one probe's samples."""
    by_metric: dict[str, list[tuple[dict[str, str], float]]] = {}
    for s in samples:
        by_metric.setdefault(s.name, []).append((dict(s.labels), s.value))
    return {m: _lines(CATALOGUE[m], rows) for m, rows in by_metric.items()}


@dataclass
class Exposition:
    """The /metrics body from per-probe cached chunks; thread-safe enough for one event loop."""

    _probes: dict[str, tuple[tuple[Sample, ...], dict[str, bytes]]] = field(default_factory=dict)

    def _probe_chunks(self, state: ProbeState) -> dict[str, bytes]:
        cached = self._probes.get(state.name)
        if cached is None or cached[0] is not state.samples:
            cached = (state.samples, _chunks(state.samples))
            self._probes[state.name] = cached
        return cached[1]

    def render(
        self,
        probes: Mapping[str, ProbeState],
        stale: frozenset[str],
        extra: Mapping[str, bytes] | None = None,
    ) -> bytes:
        """The body for these probe states; `stale` probes export only their health and the
        metrics they declare `persist` (last known timestamps, see snapshot.py). `extra` holds
        the sample lines of metrics no probe produces (the component status)."""
        per_metric: dict[str, list[bytes]] = {}
        for name, state in sorted(probes.items()):
            if state.data_at is None or (name in stale and not state.persist):
                continue
            for metric, chunk in self._probe_chunks(state).items():
                if metric in PROBE_METRICS or (name in stale and metric not in state.persist):
                    continue
                per_metric.setdefault(metric, []).append(chunk)
        health = dict(self._health(probes)) | dict(extra or {})
        parts: list[bytes] = []
        for metric in [m for m in CATALOGUE if m in per_metric or m in health]:
            parts.append(_header(CATALOGUE[metric]))
            parts.extend(per_metric.get(metric, ()))
            if metric in health:
                parts.append(health[metric])
        return b"".join(parts)

    @staticmethod
    def _health(probes: Mapping[str, ProbeState]) -> dict[str, bytes]:
        rows: dict[str, list[tuple[dict[str, str], float]]] = {m: [] for m in PROBE_METRICS}
        success, duration, last = PROBE_METRICS
        for name, state in sorted(probes.items()):
            rows[success].append(({"probe": name}, 1.0 if state.success else 0.0))
            if state.duration is not None:
                rows[duration].append(({"probe": name}, state.duration))
            if state.data_at is not None:
                rows[last].append(({"probe": name}, state.data_at))
        return {m: _lines(CATALOGUE[m], r) for m, r in rows.items() if r}


@dataclass
class Runtime:
    """What the handlers need; `ready` is the scheduler's first-complete-cycle event."""

    cfg: Config
    snapshot: Snapshot
    ready: asyncio.Event
    _exposition: tuple[object, bytes] | None = None
    _renderer: Exposition = field(default_factory=Exposition)

    @classmethod
    def create(cls, cfg: Config, snapshot: Snapshot, ready: asyncio.Event) -> Runtime:
        return cls(cfg=cfg, snapshot=snapshot, ready=ready)

    def exposition(self) -> bytes:
        """The text exposition; between two probe results the previous body is reused whole."""
        now = self.snapshot.clock()
        key = self.snapshot.render_key(now)
        if self._exposition is None or self._exposition[0] != key:
            # states, not a View: a View builds one object per series, too slow for every change
            states = self.snapshot.states()
            extra = {COMPONENT_STATUS: self._component_status(now)}
            self._exposition = (key, self._renderer.render(states, key[1], extra))
        return self._exposition[1]

    def _component_status(self, now: float) -> bytes:
        """/report's verdict as of `now`. Every probe run changes the render key, so this
        follows the report within one probe interval; a report that cannot be built is
        exported as every component unknown (never as the last good verdict)."""
        try:
            samples = component_samples(build_report(self.snapshot.view(now), self.cfg))
        except Exception:
            log.exception("the report could not be built: every component exported as unknown")
            samples = all_unknown()
        spec = CATALOGUE[COMPONENT_STATUS]
        return _lines(spec, ((dict(s.labels), s.value) for s in samples))


RUNTIME = web.AppKey("runtime", Runtime)


async def metrics(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    body = runtime.exposition()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def report(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    result = build_report(runtime.snapshot.view(), runtime.cfg)
    return web.json_response(result.to_json())


async def healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok\n")


async def readyz(request: web.Request) -> web.Response:
    if request.app[RUNTIME].ready.is_set():
        return web.Response(text="ready\n")
    return web.Response(status=503, text="waiting for the first cycle of all probes\n")


def create_app(runtime: Runtime) -> web.Application:
    app = web.Application()
    app[RUNTIME] = runtime
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/report", report)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    return app
