"""Backends failing under a running exporter: each probe fails and says why, /metrics keeps
answering with everything else, and each probe recovers by itself when its backend returns.

Faults: the Kubernetes API answering 500 then hanging (fake API), Flink REST answering HTML
(fake Flink), S3 denying the listing (moto with auth on), Kafka stopped (Apache Kafka). The per-client
behaviour is tested elsewhere; this runs them together through the scheduler and the HTTP server.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from exporter.config import parse_config
from exporter.registry import build_probes
from exporter.scheduler import Scheduler
from exporter.server import Runtime, create_app
from exporter.snapshot import Snapshot
from sandbox import s3 as sandbox_s3
from sandbox.kafka import TopicSpec, create_topics, generate_trades, produce_trades
from sandbox.kube.launcher import write_kubeconfig
from sandbox.util import Service, apoll_until, free_port

pytestmark = pytest.mark.slow

FAMILIES = (
    "exporter.families.flink",
    "exporter.families.checkpoints",
    "exporter.families.kafka",
    "exporter.families.market",
)
NS, FD, TOPIC, BUCKET = "torghut", "torghut-ta", "trades", "ckpt"
CKPT_DIR = f"s3://{BUCKET}/checkpoints/torghut-ta"


@dataclass
class Fakes:
    """Switchable Kubernetes API and Flink REST: `kube` is ok | 500 | hang, `flink` ok | html."""

    kube: str = "ok"
    flink: str = "ok"
    release: asyncio.Event = field(default_factory=asyncio.Event)

    async def kube_api(self, request: web.Request) -> web.Response:
        if self.kube == "500":
            body = {"kind": "Status", "status": "Failure", "code": 500, "reason": "InternalError"}
            return web.json_response(body | {"message": "etcdserver: leader changed"}, status=500)
        if self.kube == "hang":
            await self.release.wait()
        return web.json_response(
            {
                "apiVersion": "flink.apache.org/v1beta1",
                "kind": "FlinkDeployment",
                "metadata": {"name": FD, "namespace": NS},
                "spec": {
                    "job": {"state": "running"},
                    "flinkConfiguration": {"state.checkpoints.dir": CKPT_DIR},
                },
                "status": {"jobStatus": {"state": "RUNNING"}, "lifecycleState": "STABLE"},
            }
        )

    async def flink_rest(self, request: web.Request) -> web.Response:
        if self.flink == "html":
            return web.Response(text="<html>502 Bad Gateway</html>", content_type="text/html")
        answers: dict[str, Any] = {
            "/jobs/overview": {
                "jobs": [{"jid": "j1", "name": FD, "state": "RUNNING", "start-time": 1}]
            },
            "/jobs/j1/checkpoints": {
                "latest": {"completed": {"id": 3, "latest_ack_timestamp": int(time.time() * 1000)}}
            },
            "/jobs/j1/metrics": [{"id": "numRestarts", "value": "0"}],
        }
        if request.path not in answers:
            return web.json_response({"errors": ["Not found"]}, status=404)
        return web.json_response(answers[request.path])


async def _serve(app: web.Application, stack: AsyncExitStack) -> str:
    runner = web.AppRunner(app)
    await runner.setup()
    stack.push_async_callback(runner.cleanup)
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return f"http://127.0.0.1:{runner.addresses[0][1]}"


def _catch_all(handler: Callable[..., Any]) -> web.Application:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    return app


@pytest.fixture
async def stack() -> AsyncIterator[AsyncExitStack]:
    async with AsyncExitStack() as s:
        yield s


async def _kafka_topic(bootstrap: str) -> None:
    await create_topics(bootstrap, {TOPIC: TopicSpec(partitions=1, retention_ms=86_400_000)})
    await produce_trades(bootstrap, TOPIC, generate_trades(2, start=datetime.now(UTC)))


async def test_each_probe_fails_with_its_reason_metrics_keep_serving_and_all_recover(
    stack: AsyncExitStack,
    tmp_path: Path,
    s3_factory: Callable[[], Service],
    kafka_factory: Callable[..., Service],
) -> None:
    fakes = Fakes()
    stack.callback(fakes.release.set)  # ends hanging requests before the fake servers close
    kube_url = await _serve(_catch_all(fakes.kube_api), stack)
    flink_url = await _serve(_catch_all(fakes.flink_rest), stack)
    s3 = s3_factory().endpoints["s3"]
    sandbox_s3.put_checkpoints(s3, CKPT_DIR, "a" * 32, [1])
    reader = sandbox_s3.create_user(s3, "no-list", actions=("s3:GetObject",))
    kafka_port = free_port()
    broker = kafka_factory(port=kafka_port)
    bootstrap = broker.endpoints["kafka_bootstrap"]
    await _kafka_topic(bootstrap)
    (tmp_path / "key").write_text(reader.access_key_id)
    (tmp_path / "secret").write_text(reader.secret_access_key)
    cfg = parse_config(
        {
            "clickhouse": {"replicas": [{"name": "r1", "url": "http://127.0.0.1:9"}]},
            "kafka": {
                "bootstrap_servers": [bootstrap],
                "topics": [TOPIC],
                "group_id": {"value": "ta"},
                "request_timeout": "1s",
            },
            "kubernetes": {
                "kubeconfig": str(write_kubeconfig(tmp_path / "kubeconfig", kube_url, "t0ken")),
                "request_timeout": "1s",
            },
            "flink": {"rest_url": flink_url},
            "checkpoint_storage": {
                "endpoint_url": s3,
                "access_key_id": {"file": str(tmp_path / "key")},
                "secret_access_key": {"file": str(tmp_path / "secret")},
            },
            "probes": {"default": {"interval": "0.3s", "timeout": "2s", "staleness": "60s"}},
        }
    )
    snap = Snapshot()
    sched = Scheduler(await build_probes(cfg, stack=stack, families=FAMILIES), snap)
    runtime = Runtime.create(cfg, snap, sched.ready)
    metrics_url = await _serve(create_app(runtime), stack) + "/metrics"
    http = await stack.enter_async_context(aiohttp.ClientSession())
    sched.start()
    stack.push_async_callback(sched.stop)

    async def scrape() -> str:
        # a failing or hanging backend never blocks a scrape: the body comes from the cache
        # (how fast is measured in bench/exporter.py, not asserted here)
        async with http.get(metrics_url) as resp:
            assert resp.status == 200
            return await resp.text()

    async def until(probe: str, pred: Callable[[Any], bool], what: str) -> Any:
        async def check() -> Any:
            await scrape()
            state = snap.states()[probe]
            return state if pred(state) else None

        return await apoll_until(check, timeout=30, interval=0.1, what=what)

    await until("kafka_lag", lambda s: s.success, "kafka up")

    # 1. S3 denies, Flink REST answers HTML, Kafka stops; the Kubernetes API still answers
    sandbox_s3.enable_auth(s3)
    fakes.flink = "html"
    broker.stop()
    denied = await until(
        "checkpoint_storage",
        lambda s: s.success and s.data is not None and not s.data.up,
        "storage denied",
    )
    assert "AccessDenied" in (denied.data.reason or "")
    rest = await until("flink_rest", lambda s: s.error is not None, "flink rest garbage")
    assert "not JSON" in rest.error
    lag = await until("kafka_lag", lambda s: s.error is not None, "kafka down")
    assert "Kafka" in lag.error or "timeout" in lag.error
    body = await scrape()
    assert 'torghut_ta_checkpoint_storage_up{deployment="torghut-ta"} 0.0' in body
    assert 'torghut_ta_probe_success{probe="flink_rest"} 0.0' in body
    assert 'torghut_ta_probe_success{probe="kafka_lag"} 0.0' in body
    assert 'torghut_ta_flink_job_state{deployment="torghut-ta",state="RUNNING"} 1.0' in body

    # 2. the Kubernetes API answers 500, then hangs
    fakes.kube = "500"
    k500 = await until("flink_deployment", lambda s: s.error is not None, "kube 500")
    assert "HTTP 500" in k500.error and "leader changed" in k500.error
    fakes.kube = "hang"
    hung = await until(
        "flink_deployment", lambda s: "time" in (s.error or "") and "500" not in s.error, "hang"
    )
    assert "timed out" in hung.error or "timeout" in hung.error
    body = await scrape()
    assert 'torghut_ta_probe_success{probe="flink_deployment"} 0.0' in body
    assert "torghut_ta_market_open" in body  # probes of healthy backends still export

    # 3. every backend returns: every probe recovers without a restart
    fakes.kube, fakes.flink = "ok", "ok"
    fakes.release.set()  # the hung requests end too
    sandbox_s3.disable_auth(s3)
    kafka_factory(port=kafka_port)  # the memory engine comes back empty
    await _kafka_topic(bootstrap)
    for probe in ("flink_deployment", "flink_rest", "kafka_lag", "kafka_retention"):
        await until(probe, lambda s: s.success, f"{probe} recovers")
    await until("checkpoint_storage", lambda s: s.data is not None and s.data.up, "storage back")
    body = await scrape()
    assert 'torghut_ta_probe_success{probe="flink_rest"} 1.0' in body
    assert 'torghut_ta_checkpoint_storage_up{deployment="torghut-ta"} 1.0' in body
