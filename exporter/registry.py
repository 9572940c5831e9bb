"""Which probe families the exporter runs. Each module exposes

    async def build(cfg: Config, *, stack: AsyncExitStack) -> list[ProbeSpec]

creating its clients (closed through `stack`) and returning its probes.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from contextlib import AsyncExitStack

from exporter.config import Config
from exporter.probes.base import ProbeSpec

FAMILIES: tuple[str, ...] = (
    "exporter.families.clickhouse",
    "exporter.families.kafka",
    "exporter.families.flink",
    "exporter.families.checkpoints",
    "exporter.families.trading",
    "exporter.families.jangar",
    "exporter.families.market",
)


async def build_probes(
    cfg: Config, *, stack: AsyncExitStack, families: Sequence[str] = FAMILIES
) -> list[ProbeSpec]:
    """Every family's probes, in `families` order (tests and tools may pass a subset)."""
    specs: list[ProbeSpec] = []
    for name in families:
        module = importlib.import_module(name)
        specs.extend(await module.build(cfg, stack=stack))
    return specs
