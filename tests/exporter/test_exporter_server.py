"""HTTP endpoints through aiohttp's test client."""

from __future__ import annotations

import asyncio

from aiohttp.test_utils import TestClient, TestServer
from reference_exposition import reference_exposition

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
        assert data["overall"] == "unknown"  # nothing but the market session could be read
        assert [p["name"] for p in data["probes"]] == ["p"]
        freshness = next(c for c in data["components"] if c["component"] == "freshness")
        assert freshness["status"] == "unknown"  # market open, but no table data
    finally:
        await client.close()


def _parsed(text: str) -> set[tuple[str, tuple[tuple[str, str], ...], float]]:
    from prometheus_client.parser import text_string_to_metric_families

    return {
        (s.name, tuple(sorted(s.labels.items())), s.value)
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_per_probe_exposition_equals_prometheus_client_and_reuses_unchanged_probes(
    clock, config_data
) -> None:
    from exporter.server import Exposition

    cfg = parse_config(config_data())
    snap = Snapshot(clock=clock)
    for name in ("storage/r1", "storage/r2", "old", "never"):
        snap.register(name, staleness=60)
    snap.record_success("old", (Sample("torghut_ta_market_open", 1, {}),), duration=0.01)
    ts, fut = "torghut_ta_table_last_event_timestamp_seconds", "torghut_ta_table_future_rows"
    snap.register("fresh", staleness=60, persist=frozenset({ts}))
    snap.record_success(
        "fresh",
        (Sample(ts, 1000.0, {"table": "ta_signals"}), Sample(fut, 0.0, {"table": "ta_signals"})),
        duration=0.01,
    )
    clock.advance(61)  # `old` and `fresh` go stale: series vanish but persisted ones, health stays
    part = "torghut_ta_clickhouse_partition_bytes"
    for replica in ("r1", "r2"):
        samples = tuple(
            Sample(part, i * 1.5, {"replica": replica, "table": "t", "partition": f'p"{i}\\\n'})
            for i in range(50)
        )
        snap.record_success(f"storage/{replica}", samples, duration=0.01)
    snap.record_success("storage/r2", snap.states()["storage/r2"].samples[:10], duration=0.02)
    snap.record_failure("never", "connection refused", duration=0.5)
    runtime = Runtime.create(cfg, snap, asyncio.Event())
    ours = runtime.exposition().decode()
    reference = reference_exposition(snap, cfg)  # prometheus_client renders the same samples
    assert _parsed(ours) == _parsed(reference)
    assert sum(1 for name, _, _ in _parsed(ours) if name == part) == 60  # r1's 50 + r2's 10
    assert 'torghut_ta_probe_success{probe="never"} 0.0' in ours
    assert "torghut_ta_market_open" not in ours.replace("# ", "")  # stale data is gone
    assert f'{ts}{{table="ta_signals"}} 1000.0' in ours  # a persisted timestamp stays
    assert fut not in ours.replace("# ", "")  # the rest of a stale persisting probe is gone

    renderer = Exposition()
    renderer.render(snap.states(), snap.stale_probes())
    r1 = renderer._probes["storage/r1"]
    snap.record_failure("storage/r2", "timeout after 1s", duration=1.0)
    renderer.render(snap.states(), snap.stale_probes())
    assert renderer._probes["storage/r1"] is r1  # an unchanged probe is not re-rendered
