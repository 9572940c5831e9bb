"""sandbox.prometheus: real Prometheus and Alertmanager, a scraped target, a fired alert."""

from __future__ import annotations

import secrets
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry, Gauge, generate_latest, start_http_server

from sandbox import prometheus
from sandbox.util import apoll_until, free_port

RULES = """\
groups:
  - name: sandbox-test
    rules:
      - alert: SandboxValueHigh
        expr: sandbox_test_value > 10
        for: 2s
        labels:
          severity: warning
          component: test
        annotations:
          summary: "value is {{ $value }}"
"""


@pytest.fixture
def target() -> tuple[Gauge, str]:
    """A prometheus_client exporter on a free port serving one gauge."""
    registry = CollectorRegistry()
    gauge = Gauge("sandbox_test_value", "a value the test moves", registry=registry)
    port = free_port()
    server, thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    try:
        yield gauge, f"127.0.0.1:{port}"
    finally:
        server.shutdown()
        thread.join(5)


def test_bad_targets_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="host:port"):
        prometheus.launch_prometheus(tmp_path, scrape_targets=[("job", "http://x:1/metrics")])
    with pytest.raises(ValueError, match="scrape target"):
        prometheus.launch_prometheus(tmp_path, scrape_targets=[("only-job",)])  # type: ignore[list-item]
    with pytest.raises(FileNotFoundError):
        prometheus.launch_prometheus(tmp_path, rule_files=[tmp_path / "missing.yml"])
    with pytest.raises(ValueError, match="alertmanager_url"):
        prometheus.launch_prometheus(tmp_path, alertmanager_url="127.0.0.1:9093")


def test_metric_relabel_configs_reach_the_scrape_config(tmp_path: Path) -> None:
    keep = {"source_labels": ["__name__"], "regex": "a_.*", "action": "keep"}
    doc = prometheus.prometheus_config(
        tmp_path,
        [
            prometheus.ScrapeTarget("relabelled", "127.0.0.1:1", metric_relabel=(keep,)),
            prometheus.ScrapeTarget("plain", "127.0.0.1:2"),
        ],
        [],
        None,
        "1s",
        "1s",
    )
    by_job = {j["job_name"]: j for j in doc["scrape_configs"]}
    assert by_job["relabelled"]["metric_relabel_configs"] == [keep]
    assert "metric_relabel_configs" not in by_job["plain"]


async def test_query_errors_are_clear(prometheus_factory) -> None:
    url = prometheus_factory().endpoints["prometheus"]
    with pytest.raises(prometheus.PrometheusError, match="bad_data"):
        await prometheus.query(url, "sum(")
    [sample] = await prometheus.query(url, "vector(42)")
    assert sample["value"][1] == "42"


@pytest.mark.slow
async def test_scrape_with_bearer(prometheus_factory) -> None:
    registry = CollectorRegistry()
    Gauge("sandbox_test_value", "a value", registry=registry).set(3.5)

    async def metrics(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != "Bearer scrape-token":
            return web.Response(status=401)
        return web.Response(body=generate_latest(registry), content_type="text/plain")

    app = web.Application()
    app.router.add_get("/custom/metrics", metrics)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    address = f"127.0.0.1:{port}"
    try:
        url = prometheus_factory(
            scrape_targets=[
                prometheus.ScrapeTarget("good", address, "scrape-token", "/custom/metrics"),
                ("bad", address, "wrong-token", "/custom/metrics"),
            ]
        ).endpoints["prometheus"]
        [up] = await prometheus.wait_targets_up(url, ["good"])
        assert up["scrapeUrl"] == f"http://{address}/custom/metrics"

        async def value() -> list | None:
            return await prometheus.query(url, 'sandbox_test_value{job="good"}') or None

        [sample] = await apoll_until(value, timeout=60, interval=0.2, what="gauge scraped")
        assert float(sample["value"][1]) == 3.5

        async def bad_up() -> list | None:
            return await prometheus.query(url, 'up{job="bad"}') or None

        [bad] = await apoll_until(bad_up, timeout=60, interval=0.2, what="bad target scraped")
        assert bad["value"][1] == "0"  # the wrong bearer was refused
    finally:
        await runner.cleanup()


@pytest.mark.slow
async def test_rule_fires_and_alertmanager_delivers_with_bearer(
    tmp_path: Path, prometheus_factory, alertmanager_factory, target
) -> None:
    gauge, address = target
    token = secrets.token_hex(16)
    token_file = tmp_path / "webhook.token"
    token_file.write_text(token)
    rules = tmp_path / "rules.yml"
    rules.write_text(RULES)

    async with prometheus.WebhookReceiver(bearer=token) as hook:
        am = alertmanager_factory(
            config=prometheus.webhook_config(hook.url, bearer_file=token_file)
        )
        am_url = am.endpoints["alertmanager"]
        prom_url = prometheus_factory(
            scrape_targets=[("sandbox", address)], rule_files=[rules], alertmanager_url=am_url
        ).endpoints["prometheus"]
        await prometheus.wait_targets_up(prom_url, ["sandbox"])
        assert await prometheus.wait_alertmanagers(prom_url) == [f"{am_url}/api/v2/alerts"]
        assert await prometheus.alerts(prom_url) == []

        gauge.set(50)
        delivery = await hook.wait_for(prometheus.firing("SandboxValueHigh"), timeout=90)

        assert delivery.authorization == f"Bearer {token}"
        assert hook.rejected == []
        payload = delivery.payload
        assert payload["version"] == "4"
        assert payload["status"] == "firing"
        assert payload["receiver"] == "webhook"
        assert payload["externalURL"] == am_url
        [alert] = payload["alerts"]
        assert alert["labels"]["alertname"] == "SandboxValueHigh"
        assert alert["labels"]["severity"] == "warning"
        assert alert["labels"]["job"] == "sandbox"
        assert alert["annotations"]["summary"] == "value is 50"
        assert alert["fingerprint"]

        [prom_alert] = await prometheus.alerts(prom_url)
        assert prom_alert["state"] == "firing"
        [am_alert] = await prometheus.alertmanager_alerts(am_url)
        assert am_alert["labels"]["alertname"] == "SandboxValueHigh"
        assert am_alert["status"]["state"] == "active"

        gauge.set(1)
        resolved = await hook.wait_for(lambda d: d.payload["status"] == "resolved", timeout=30)
        assert resolved.payload["alerts"][0]["labels"]["alertname"] == "SandboxValueHigh"


async def test_webhook_receiver_refuses_wrong_bearer() -> None:
    async with prometheus.WebhookReceiver(bearer="right") as hook:
        async with aiohttp.ClientSession() as session:
            for auth, expected in (("Bearer wrong", 401), (None, 401), ("Bearer right", 200)):
                headers = {"Authorization": auth} if auth else {}
                async with session.post(hook.url, json={"n": 1}, headers=headers) as resp:
                    assert resp.status == expected
        assert [d.authorization for d in hook.rejected] == ["Bearer wrong", None]
        assert [d.payload for d in hook.deliveries] == [{"n": 1}]


async def test_alertmanager_accepts_yaml_text(alertmanager_factory) -> None:
    yaml_text = "route:\n  receiver: blackhole\nreceivers:\n  - name: blackhole\n"
    url = alertmanager_factory(config=yaml_text).endpoints["alertmanager"]
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{url}/api/v2/status") as resp:
            status = await resp.json()
    assert "blackhole" in status["config"]["original"]
    assert status["cluster"]["status"] == "disabled"


async def test_alertmanager_bad_config_fails_fast(alertmanager_factory) -> None:
    with pytest.raises(RuntimeError, match="exited"):
        alertmanager_factory(config="route: [not, a, route]\n")
