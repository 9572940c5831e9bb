"""HTTP endpoints: /metrics, /report, /healthz, /readyz. Handlers only read the snapshot."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from exporter.collector import SnapshotCollector
from exporter.config import Config
from exporter.report import build_report
from exporter.snapshot import Snapshot

log = logging.getLogger("exporter.server")


@dataclass
class Runtime:
    """What the handlers need; `ready` is the scheduler's first-complete-cycle event."""

    cfg: Config
    snapshot: Snapshot
    ready: asyncio.Event
    registry: CollectorRegistry
    collector: SnapshotCollector
    _exposition: tuple[object, bytes] | None = None

    @classmethod
    def create(cls, cfg: Config, snapshot: Snapshot, ready: asyncio.Event) -> Runtime:
        registry = CollectorRegistry(auto_describe=False)
        collector = SnapshotCollector(snapshot)
        registry.register(collector)
        return cls(cfg=cfg, snapshot=snapshot, ready=ready, registry=registry, collector=collector)

    def exposition(self) -> bytes:
        """The text exposition, re-generated only when the collector's output would change."""
        key = self.collector.key()
        if self._exposition is None or self._exposition[0] != key:
            self._exposition = (key, generate_latest(self.registry))
        return self._exposition[1]


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
