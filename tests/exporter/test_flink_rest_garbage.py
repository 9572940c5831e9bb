"""Flink REST answering garbage: the probe fails and says what was wrong."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from exporter.clients.http import HttpError, new_session
from exporter.families.flink import collect_rest
from exporter.probes.flink_rest import FlinkRestError


@pytest.fixture
async def fake_flink() -> AsyncIterator[dict[str, Any]]:
    answers: dict[str, Any] = {}

    async def handle(request: web.Request) -> web.Response:
        status, body = answers.get(request.path, (404, {"errors": ["Not found"]}))
        if isinstance(body, str):
            return web.Response(status=status, text=body)
        return web.json_response(body, status=status)

    app = web.Application()
    app.router.add_get("/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    answers["url"] = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield answers
    finally:
        await runner.cleanup()


async def _collect(answers: dict[str, Any]) -> Any:
    async with new_session(timeout=3) as session:
        return await collect_rest(
            session, base_url=answers["url"], deployment="torghut-ta", job_name="torghut-ta"
        )


async def test_html_instead_of_json(fake_flink: dict[str, Any]) -> None:
    fake_flink["/jobs/overview"] = (200, "<html><body>proxy login</body></html>")
    with pytest.raises(HttpError, match=r"not JSON.*proxy login"):
        await _collect(fake_flink)


async def test_json_of_the_wrong_shape(fake_flink: dict[str, Any]) -> None:
    fake_flink["/jobs/overview"] = (
        200,
        {"jobs": [{"jid": "j1", "name": "torghut-ta", "state": "RUNNING"}]},
    )
    fake_flink["/jobs/j1/checkpoints"] = (
        200,
        {"latest": {"completed": {"latest_ack_timestamp": "x"}}},
    )
    with pytest.raises(FlinkRestError, match="latest_ack_timestamp"):
        await _collect(fake_flink)


async def test_server_error_and_recovery(fake_flink: dict[str, Any]) -> None:
    fake_flink["/jobs/overview"] = (
        503,
        {"errors": ["Service temporarily unavailable due to an ongoing leader election"]},
    )
    with pytest.raises(HttpError, match=r"HTTP 503.*leader election"):
        await _collect(fake_flink)
    fake_flink["/jobs/overview"] = (
        200,
        {"jobs": [{"jid": "j1", "name": "torghut-ta", "state": "RUNNING", "start-time": 1}]},
    )
    fake_flink["/jobs/j1/checkpoints"] = (
        200,
        {"latest": {"completed": {"id": 4, "latest_ack_timestamp": 1_800_000_000_000}}},
    )
    fake_flink["/jobs/j1/metrics"] = (200, [{"id": "numRestarts", "value": "1"}])
    data = await _collect(fake_flink)
    assert (data.last_checkpoint_ts, data.last_checkpoint_id, data.restarts) == (
        1_800_000_000.0,
        4,
        1,
    )
    # no checkpoint settings for the job (404): the interval is unknown, the rest still read
    assert data.checkpoint_interval is None


def _running_job(answers: dict[str, Any]) -> None:
    answers["/jobs/overview"] = (
        200,
        {"jobs": [{"jid": "j1", "name": "torghut-ta", "state": "RUNNING", "start-time": 1}]},
    )
    answers["/jobs/j1/checkpoints"] = (200, {"latest": {"completed": None}})
    answers["/jobs/j1/metrics"] = (200, [{"id": "numRestarts", "value": "0"}])


async def test_checkpoint_config_is_read_and_its_garbage_refused(
    fake_flink: dict[str, Any],
) -> None:
    _running_job(fake_flink)
    fake_flink["/jobs/j1/checkpoints/config"] = (200, {"interval": 60_000, "mode": "exactly_once"})
    data = await _collect(fake_flink)
    assert data.checkpoint_interval == 60.0 and data.last_checkpoint_ts is None
    fake_flink["/jobs/j1/checkpoints/config"] = (200, {"interval": "1m"})
    with pytest.raises(FlinkRestError, match=r"`interval` is '1m'"):
        await _collect(fake_flink)
    fake_flink["/jobs/j1/checkpoints/config"] = (500, {"errors": ["Internal server error."]})
    with pytest.raises(HttpError, match=r"checkpoints/config: HTTP 500"):
        await _collect(fake_flink)
