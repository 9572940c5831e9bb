"""HTTP endpoints through aiohttp's test client."""

from __future__ import annotations

import asyncio

from aiohttp.test_utils import TestClient, TestServer

from exporter.config import parse_config
from exporter.probes.base import Sample
from exporter.server import Runtime, create_app
from exporter.snapshot import Snapshot


async def _client(runtime: Runtime) -> TestClient:
    client = TestClient(TestServer(create_app(runtime)))
    await client.start_server()
    return client


async def test_endpoints(clock, config_data) -> None:
    cfg = parse_config(config_data())
    snap = Snapshot(clock=clock)
    snap.register("p", staleness=60)
    ready = asyncio.Event()
    client = await _client(Runtime.create(cfg, snap, ready))
    try:
        assert (await client.get("/healthz")).status == 200
        resp = await client.get("/readyz")
        assert resp.status == 503 and "first cycle" in await resp.text()

        snap.record_success("p", (Sample("torghut_ta_market_open", 1, {}),), duration=0.01)
        ready.set()
        assert (await client.get("/readyz")).status == 200

        resp = await client.get("/metrics")
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain; version=")
        body = await resp.text()
        assert "torghut_ta_market_open 1.0" in body
        assert 'torghut_ta_probe_success{probe="p"} 1.0' in body

        resp = await client.get("/report")
        data = await resp.json()
        assert resp.status == 200
        assert data["overall"] in {"healthy", "degraded", "down", "unknown"}
        assert [p["name"] for p in data["probes"]] == ["p"]
        freshness = next(c for c in data["components"] if c["component"] == "freshness")
        assert freshness["status"] == "unknown"  # market open, but no table data
    finally:
        await client.close()
