"""The executor tests' world: one remediator process with a journal, the engine with fake
sources (remediator_kit's A_FULL facts to start with) and actuators (FakeActuators), and a fake
clock; and the order Procedure A acts in. `world` is a fixture (conftest.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from remediator_kit import (
    A_FULL,
    NOW,
    FakeActuators,
    remediator_data,
)

from remediator import config
from remediator.actuators import NotLeader
from remediator.config import RemediatorConfig, parse_remediator_config
from remediator.engine import Engine, Sources
from remediator.facts import Facts
from remediator.intake import Target, Trigger
from remediator.journal import Journal, Run
from remediator.metrics import RemediatorMetrics
from remediator.policy import KillSwitch

A_FULL_ORDER = [
    "pause_trading",
    "suspend_job",
    "drop_partition",
    "drop_partition",
    "resume_job",
]


class World:
    """One remediator process: journal, engine with fake sources and actuators, a fake clock
    that the executor's sleeps advance (no real waiting)."""

    def __init__(self, cfg: RemediatorConfig, path: Path, clock: list[float]) -> None:
        self.cfg = cfg
        self.clock = clock
        self.journal = Journal(path, clock=lambda: clock[0])
        self.facts: Facts = A_FULL
        self.annotation = KillSwitch("annotation", False, "not set")
        self.fake = FakeActuators()
        self.leader = True
        self.metrics = RemediatorMetrics()

        async def read_facts() -> Facts:
            return self.facts

        async def read_annotation() -> KillSwitch:
            return self.annotation

        async def sleep(seconds: float) -> None:
            self.clock[0] += seconds
            await asyncio.sleep(0)

        def fence() -> None:
            if not self.leader:
                raise NotLeader("the Lease is held by remediator-2")

        self.engine = Engine(
            cfg,
            self.journal,
            Sources(read_facts, read_annotation),
            self.metrics,
            actuators=self.fake,
            fence=fence,
            sleep=sleep,
            monotonic=lambda: self.clock[0],
        )

    def fire(self, fingerprint: str = "f1", status: str = "firing", procedure: str = "A") -> str:
        trig = Trigger(procedure, Target("torghut", "torghut-ta"), "TAX", fingerprint, status, {})  # type: ignore[arg-type]
        attached = self.journal.attach(trig, mode=self.cfg.remediator.mode)
        assert attached is not None
        return attached.run_id

    async def step(self, run_id: str) -> Run:
        await self.engine.step(run_id)
        await self.engine.settle()
        run = self.journal.run(run_id)
        assert run is not None
        return run

    def metric(self, name: str, **labels: str) -> float:
        return self.metrics.registry.get_sample_value(name, labels) or 0.0


@pytest.fixture
async def world(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Callable[..., World]]:
    monkeypatch.setattr(config, "ACTING_NEEDS", {})  # the actuators' sections are faked here
    clock = [NOW]
    made: list[World] = []

    def make(mode: str = "auto", **section: Any) -> World:
        cfg = parse_remediator_config(remediator_data(tmp_path, mode=mode, **section))
        w = World(cfg, tmp_path / "journal.sqlite3", clock)
        made.append(w)
        return w

    yield make
    for w in made:
        await w.engine.stop()
        w.journal.close()
