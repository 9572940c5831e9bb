"""`ta-remediator serve`: the journal, the engine and the HTTP server, until SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Sequence
from contextlib import AsyncExitStack
from functools import partial

from aiohttp import web

from exporter.registry import FAMILIES
from remediator import sources
from remediator.actuators import Fence
from remediator.config import READ_ONLY_MODES, RemediatorConfig
from remediator.engine import Engine, Sources, no_lease
from remediator.execute import Actuators
from remediator.journal import Journal
from remediator.metrics import RemediatorMetrics
from remediator.server import App, Auth, create_app

log = logging.getLogger("remediator")


def build(
    cfg: RemediatorConfig,
    journal: Journal,
    *,
    insecure: bool = False,
    families: Sequence[str] = FAMILIES,
    source: Sources | None = None,
    actuators: Actuators | None = None,
    fence: Fence = no_lease,
) -> App:
    """The app; in propose/auto mode without `actuators` given, the real ones (`actuate`).
    `fence` is the leader Lease's: without it the remediator plans but never acts."""
    metrics = RemediatorMetrics()
    source = source or Sources(
        facts=partial(sources.fresh_facts, cfg=cfg, families=families),
        annotation=partial(sources.annotation_switch, cfg=cfg),
    )
    if actuators is None and cfg.remediator.mode not in READ_ONLY_MODES:
        from remediator.actuate import RealActuators

        actuators = RealActuators(cfg, facts=source.facts)
    engine = Engine(cfg, journal, source, metrics, actuators=actuators, fence=fence)
    return App(cfg, journal, engine, metrics, Auth.from_config(cfg, insecure=insecure))


async def serve(
    cfg: RemediatorConfig,
    *,
    host: str,
    port: int,
    insecure: bool = False,
    stop: asyncio.Event | None = None,
) -> None:
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    journal = Journal(cfg.remediator.journal_path)
    async with AsyncExitStack() as stack:
        stack.callback(journal.close)
        app = build(cfg, journal, insecure=insecure)
        runner = web.AppRunner(create_app(app))
        await runner.setup()
        stack.push_async_callback(runner.cleanup)
        await web.TCPSite(runner, host, port).start()
        app.engine.start()
        stack.push_async_callback(app.engine.stop)
        log.info(
            "serving",
            extra={"host": host, "port": port, "mode": cfg.remediator.mode, "insecure": insecure},
        )
        await stop.wait()
        log.info("stopping")
