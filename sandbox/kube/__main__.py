"""`python -m sandbox.kube --config <file>`: the API stand-in with its simulated controllers."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from aiohttp import web

from sandbox.kube.argocd import ArgoCD
from sandbox.kube.faults import FAULTS_KEY
from sandbox.kube.knative import KnativeController
from sandbox.kube.operator import FlinkOperator
from sandbox.kube.routes import ARGOCD_KEY, OPERATOR_KEY, add_routes
from sandbox.kube.seed import seed
from sandbox.kube.server import AUDIT_KEY, make_app
from sandbox.kube.store import Store
from sandbox.kube.timings import resolve
from sandbox.kube.validation import admit


def build(config: dict[str, Any]) -> web.Application:
    workdir = Path(config["workdir"])
    workdir.mkdir(parents=True, exist_ok=True)
    timings = resolve(config.get("timings", "normal"))
    store = Store(workdir / "kube-state.json" if config.get("persist", True) else None)
    operator = FlinkOperator(store, timings)
    argocd = ArgoCD(store, workdir, timings)
    knative = KnativeController(store, timings)
    store.validators.append(admit)
    app = make_app(store, config["token"], config.get("argocd_token"))
    app[OPERATOR_KEY] = operator
    app[ARGOCD_KEY] = argocd
    add_routes(app)

    async def reset(request: web.Request) -> web.Response:
        """Test isolation: drop every object and seed again (optionally from another repo)."""
        body = await request.json() if request.can_read_body else {}
        for key in ("gitops", "argocd", "clickhouse_auth", "rbac"):
            if key in body:
                config[key] = body[key]
        argocd.reset()
        app[AUDIT_KEY].clear()
        app[FAULTS_KEY].clear()
        operator.since.clear()
        store.reset()
        await seed(store, argocd, config)
        return web.json_response({"resourceVersion": str(store.rv)})

    app.router.add_post("/sandbox/reset", reset)

    async def controllers(_: web.Application) -> AsyncIterator[None]:
        if config.get("seed", True):
            await seed(store, argocd, config)
        tasks = [asyncio.create_task(c.run()) for c in (operator, knative, argocd)]
        yield
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    app.cleanup_ctx.append(controllers)
    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sandbox.kube", description=__doc__)
    parser.add_argument("--config", type=Path, required=True, help="JSON written by launch()")
    args = parser.parse_args(argv)
    config = json.loads(args.config.read_text())
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    web.run_app(
        build(config),
        host="127.0.0.1",
        port=int(config["port"]),
        print=None,
        shutdown_timeout=1,
        access_log=None,
    )


if __name__ == "__main__":
    main()
