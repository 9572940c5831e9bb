"""The jangar probe: the API's latest event time per watched symbol."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack

import aiohttp

from exporter.clients.http import DEFAULT_MAX_BODY, get_json, new_session
from exporter.config import Config
from exporter.probes.base import ProbeSpec
from exporter.probes.jangar import JangarFreshness, parse_latest, render


async def collect(
    session: aiohttp.ClientSession,
    *,
    url: str,
    path: str,
    symbols: list[str],
    max_body: int = DEFAULT_MAX_BODY,
) -> JangarFreshness:
    async def one(symbol: str) -> float | None:
        status, body = await get_json(
            session,
            f"{url}{path}",
            params={"symbol": symbol},
            allow_status=(404,),
            max_body=max_body,
        )
        return None if status == 404 else parse_latest(body, symbol=symbol)

    results = await asyncio.gather(*(one(s) for s in symbols))
    latest = {s: ts for s, ts in zip(symbols, results, strict=True) if ts is not None}
    missing = tuple(s for s, ts in zip(symbols, results, strict=True) if ts is None)
    return JangarFreshness(latest, missing)


async def build(cfg: Config, *, stack: AsyncExitStack) -> list[ProbeSpec]:
    if cfg.jangar is None:
        return []
    jangar = cfg.jangar
    t = cfg.probes.timing("jangar")
    session = new_session(timeout=t.timeout)
    stack.push_async_callback(session.close)

    async def run() -> JangarFreshness:
        return await collect(
            session,
            url=jangar.url,
            path=jangar.path,
            symbols=list(jangar.symbols),
            max_body=cfg.probes.max_body_bytes,
        )

    return [ProbeSpec("jangar", run, render, t.interval, t.timeout, t.staleness)]
