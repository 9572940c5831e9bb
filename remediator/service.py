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

from exporter.clients import kube
from exporter.registry import FAMILIES
from remediator import sources
from remediator.actuators import Fence
from remediator.config import READ_ONLY_MODES, RemediatorConfig
from remediator.engine import Engine, Sources, no_lease
from remediator.execute import Actuators
from remediator.journal import Journal, Run
from remediator.lease import LeaseKeeper
from remediator.metrics import RemediatorMetrics
from remediator.server import App, Auth, create_app

log = logging.getLogger("remediator")
TRADING_FAMILY = "exporter.families.trading"


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
    # the trading switch read alone, unless the caller gave its own sources
    trading = [f for f in families if f == TRADING_FAMILY] if source is None else []
    source = source or Sources(
        facts=partial(sources.fresh_facts, cfg=cfg, families=families),
        annotation=partial(sources.annotation_switch, cfg=cfg),
    )
    if actuators is None and cfg.remediator.mode not in READ_ONLY_MODES:
        from remediator.actuate import RealActuators

        async def run_of(run_id: str) -> Run | None:
            return await asyncio.to_thread(journal.run, run_id)

        actuators = RealActuators(
            cfg,
            facts=source.facts,
            trading_facts=partial(sources.fresh_facts, cfg=cfg, families=trading)
            if trading
            else None,
            run_of=run_of,
        )
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
        keeper = await _lease(cfg, stack)
        app = build(cfg, journal, insecure=insecure, fence=keeper.fence if keeper else no_lease)
        if keeper is not None:
            keeper.bind_gauge(app.metrics.leader)
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


async def _lease(cfg: RemediatorConfig, stack: AsyncExitStack) -> LeaseKeeper | None:
    """The leader Lease's keeper, running until shutdown (then released so a successor need not
    wait). In every mode, so the leader gauge says who would act; without Kubernetes access the
    remediator still serves and plans, and never acts (the fence refuses)."""
    try:
        api = await kube.open_api(cfg.kubernetes)
    except Exception as exc:
        log.error("no leader Lease: no Kubernetes access (%s); nothing will be acted on", exc)
        return None
    stack.push_async_callback(api.close)
    try:
        keeper = LeaseKeeper.from_config(
            api, cfg.remediator.lease, request_timeout=cfg.kubernetes.request_timeout
        )
    except ValueError as exc:
        log.error("no leader Lease: %s; nothing will be acted on", exc)
        return None
    task = asyncio.create_task(keeper.run(), name="remediator-lease")

    async def stop() -> None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await keeper.release()

    stack.push_async_callback(stop)
    return keeper
