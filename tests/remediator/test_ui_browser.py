"""The approvals page in a real headless Chromium, against a remediator served over TCP with its
real journal (facts and actuators are the recording fakes of the unit tests; the sandbox-backed
version with the real actuators is test_e2e_ui.py): log in, a forged POST without the CSRF token
is refused, approve the pending step, see the run continue; the screenshot is saved."""

from __future__ import annotations

import asyncio
import json
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from remediator_kit import (
    A_UNREPLAYABLE,
    ALICE_TOKEN,
    WEBHOOK_TOKEN,
    FakeActuators,
    body,
    remediator_data,
)
from server_kit import DISK
from ui_browser_kit import approve_in_the_page, chromium

from remediator import config
from remediator.actuators import no_fence
from remediator.config import parse_remediator_config
from remediator.engine import Sources
from remediator.facts import Facts
from remediator.journal import Journal
from remediator.policy import KillSwitch
from remediator.server import create_app
from remediator.service import build
from sandbox.util import free_port, poll_until

pytestmark = pytest.mark.timeout(600)


class Served:
    """`build` + `create_app` on 127.0.0.1 in a thread of its own (its own event loop)."""

    def __init__(self, tmp: Path) -> None:
        self.port = free_port()
        data = remediator_data(tmp, mode="auto", listen={"host": "127.0.0.1", "port": self.port})
        self.cfg = parse_remediator_config(data)
        self.url = f"http://127.0.0.1:{self.port}"
        self.fake = FakeActuators()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    async def _main(self) -> None:
        journal = Journal(self.cfg.remediator.journal_path)

        async def read_facts() -> Facts:
            return A_UNREPLAYABLE

        async def read_annotation() -> KillSwitch:
            return KillSwitch("annotation", False, "not set")

        app = build(
            self.cfg,
            journal,
            source=Sources(read_facts, read_annotation),
            actuators=self.fake,
            fence=no_fence,
        )
        runner = web.AppRunner(create_app(app))
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", self.port).start()
        app.engine.start()
        self._stop = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        try:
            await self._stop.wait()
        finally:
            await app.engine.stop()
            await runner.cleanup()
            journal.close()

    def start(self) -> None:
        self._thread.start()

        def ready() -> bool:
            with urllib.request.urlopen(f"{self.url}/readyz", timeout=2) as resp:
                return resp.status == 200

        poll_until(ready, timeout=60, interval=0.1, what="remediator ready")

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=60)
        assert not self._thread.is_alive(), "the server thread did not stop"

    def call(self, method: str, path: str, token: str, data: bytes | None = None) -> Any:
        req = urllib.request.Request(
            self.url + path,
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read())


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Served]:
    monkeypatch.setattr(config, "ACTING_NEEDS", {})  # the actuators are faked here
    s = Served(tmp_path)
    s.start()
    try:
        yield s
    finally:
        s.stop()


def test_a_person_approves_in_chromium_and_the_run_continues(
    served: Served, tmp_path: Path
) -> None:
    [run_id] = served.call("POST", "/webhook/alertmanager", WEBHOOK_TOKEN, body(DISK))["runs"]

    def run() -> dict[str, Any]:
        return dict(served.call("GET", f"/runs/{run_id}", ALICE_TOKEN))

    poll_until(
        lambda: run()["state"] == "awaiting_approval", timeout=60, what="the run waits for a person"
    )
    with chromium(tmp_path / "chromium") as driver:

        def continued() -> str | None:
            state = driver.find_element("css selector", f"[id='{run_id}'] .state").text
            return state if state == "ended: succeeded" else None

        approve_in_the_page(
            driver,
            served.url,
            ALICE_TOKEN,
            run_id,
            waiting=lambda: run()["state"] == "awaiting_approval",
            continued=continued,
        )
    shown = run()
    assert shown["outcome"] == "succeeded"
    assert shown["approvals"][0]["decided_by"] == "alice"
    assert shown["approvals"][0]["reason"] == "checked: approve"
    assert served.fake.acts()[0] == "pause_trading"
    assert ("alice", "approve") in [(a["who"], a["action"]) for a in shown["audit"]]
