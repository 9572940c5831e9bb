"""The market probe: whether a trading session is open now."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AsyncExitStack

from exporter.config import Config
from exporter.probes.base import ProbeSpec
from exporter.probes.market import MarketSession, market_state, render


async def build(
    cfg: Config, *, stack: AsyncExitStack, clock: Callable[[], float] = time.time
) -> list[ProbeSpec]:
    t = cfg.probes.timing("market")
    market = cfg.market

    async def run() -> MarketSession:
        return market_state(market, clock())

    return [ProbeSpec("market", run, render, t.interval, t.timeout, t.staleness)]
