"""Every HTTP body a probe reads is bounded: a larger one is a clear error naming the limit.

A real aiohttp server sends the bodies, with a Content-Length and chunked without one.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web

from exporter.clients.http import DEFAULT_MAX_BODY, HttpError, get_json, new_session
from exporter.families.flink import collect_rest
from sandbox.util import apoll_until

CHUNK = 64 * 1024


@dataclass
class Server:
    url: str = ""
    streamed: int = 0  # bytes of the chunked body written before the client went away
    stream_ended: asyncio.Event = field(default_factory=asyncio.Event)


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    state = Server()

    async def declared(request: web.Request) -> web.Response:
        size = int(request.query["size"])
        return web.Response(
            body=b"[" + b"0," * (size // 2) + b"0]", content_type="application/json"
        )

    async def chunked(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        try:
            await resp.write(b"[")
            for _ in range(int(request.query["chunks"])):
                await resp.write(b"0," * (CHUNK // 2))
                state.streamed += CHUNK
            await resp.write(b"0]")
            await resp.write_eof()
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            state.stream_ended.set()
        return resp

    app = web.Application()
    app.router.add_get("/declared", declared)
    app.router.add_get("/chunked", chunked)

    async def overview(request: web.Request) -> web.Response:
        jobs = b'{"jobs": [' + b'{"jid": "x", "name": "other"},' * 200_000 + b"{}]}"  # ~6 MiB
        return web.Response(body=jobs, content_type="application/json")

    app.router.add_get("/jobs/overview", overview)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    state.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield state
    finally:
        await runner.cleanup()


async def test_a_body_within_the_limit_is_read(server: Server) -> None:
    async with new_session(timeout=10) as session:
        status, body = await get_json(
            session, f"{server.url}/chunked", params={"chunks": "2"}, max_body=4 * CHUNK
        )
    assert status == 200 and len(body) == CHUNK + 1


async def test_a_declared_length_over_the_limit_fails_before_reading(server: Server) -> None:
    async with new_session(timeout=10) as session:
        with pytest.raises(HttpError) as info:
            await get_json(
                session, f"{server.url}/declared", params={"size": str(2 * CHUNK)}, max_body=CHUNK
            )
    assert "body of 131075 bytes exceeds the 64 KiB limit (probes.max_body_bytes)" in str(
        info.value
    )
    assert info.value.status == 200


async def test_a_chunked_body_without_length_is_cut_off_at_the_limit(server: Server) -> None:
    async with new_session(timeout=30) as session:
        with pytest.raises(HttpError, match=r"exceeds the 1 MiB limit .*stopped reading"):
            await get_json(
                session,
                f"{server.url}/chunked",
                params={"chunks": "4096"},  # 256 MiB if read to the end
                max_body=1024 * 1024,
            )

    async def ended() -> bool:
        return server.stream_ended.is_set()

    await apoll_until(ended, timeout=30, what="the server saw the client leave")
    assert server.streamed < 64 * 1024 * 1024


async def test_the_default_limit_is_4_mib_and_applies_to_probes(server: Server) -> None:
    assert DEFAULT_MAX_BODY == 4 * 1024 * 1024
    async with new_session(timeout=30) as session:
        with pytest.raises(HttpError, match=r"GET .*/jobs/overview: .*exceeds the 4 MiB limit"):
            await collect_rest(
                session,
                base_url=server.url,
                deployment="torghut-ta",
                job_name="torghut-ta",
                max_body=DEFAULT_MAX_BODY,
            )
