"""The served remediator the server tests drive: `harness`, observe mode over fake facts and
kill-switch annotation; `acting`, auto mode with a recording FakeActuators and a Lease it holds
(both fixtures, registered in conftest.py); the alerts they post."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from remediator_kit import (
    A_FULL,
    A_UNREPLAYABLE,
    ALICE_TOKEN,
    WEBHOOK_TOKEN,
    FakeActuators,
    alert,
    served,
)

from remediator import config
from remediator.actuators import no_fence
from remediator.config import RemediatorConfig
from remediator.engine import Sources
from remediator.facts import Facts
from remediator.journal import Journal
from remediator.policy import KillSwitch
from sandbox.util import apoll_until

WEBHOOK = "/webhook/alertmanager"
DISK = alert("TAClickHouseDiskPressure", procedure="A", replica="r1", disk="default")
DISK2 = alert("TAClickHouseDiskPressure", procedure="A", replica="r2", disk="default")
FAILED = alert("TAFlinkJobFailed", procedure="A", deployment="torghut-ta")


class Harness:
    def __init__(self, client: TestClient, journal: Journal, app: Any) -> None:
        self.client = client
        self.journal = journal
        self.app = app
        self.facts: Facts = A_FULL
        self.annotation = KillSwitch("annotation", False, "not set")
        self.triages = 0

    async def post(self, payload: bytes, token: str | None = WEBHOOK_TOKEN, **kw: Any) -> Any:
        headers = {"Content-Type": "application/json", **kw.pop("headers", {})}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return await self.client.post(WEBHOOK, data=payload, headers=headers, **kw)

    async def api(self, method: str, path: str, token: str | None = ALICE_TOKEN, **kw: Any) -> Any:
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        return await self.client.request(method, path, headers=headers, **kw)

    async def settled(self) -> None:
        await apoll_until(
            lambda: asyncio.sleep(0, self.app.engine.idle.is_set()), timeout=30, what="engine idle"
        )


@pytest.fixture
async def harness(make_config: Callable[..., RemediatorConfig]) -> AsyncIterator[Harness]:
    cfg = make_config()
    journal = Journal(cfg.remediator.journal_path)
    holder: dict[str, Harness] = {}

    async def read_facts() -> Facts:
        holder["h"].triages += 1
        return holder["h"].facts

    async def read_annotation() -> KillSwitch:
        return holder["h"].annotation

    async with served(cfg, journal, Sources(read_facts, read_annotation)) as (app, client):
        holder["h"] = Harness(client, journal, app)
        yield holder["h"]


class Acting(Harness):
    fake: FakeActuators


@pytest.fixture
async def acting(
    make_config: Callable[..., RemediatorConfig], monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Acting]:
    """An auto-mode server with a recording fake Actuators and a Lease it holds."""
    monkeypatch.setattr(config, "ACTING_NEEDS", {})
    cfg = make_config(mode="auto")
    journal = Journal(cfg.remediator.journal_path)
    holder: dict[str, Acting] = {}
    fake = FakeActuators()

    async def read_facts() -> Facts:
        return holder["h"].facts

    async def read_annotation() -> KillSwitch:
        return holder["h"].annotation

    sources = Sources(read_facts, read_annotation)
    async with served(cfg, journal, sources, actuators=fake, fence=no_fence) as (app, client):
        h = Acting(client, journal, app)
        h.fake = fake
        h.facts = A_UNREPLAYABLE  # dropping its oldest partition needs a person
        holder["h"] = h
        yield h
