"""End to end on real services: Prometheus evaluates the rule file, Alertmanager runs the example
config, and the remediator webhook receives procedure alerts (bearer token, resolves) while
procedure=none alerts only reach people.

Only the `for:` durations and the notification timers are shortened; expressions, labels,
annotations and routes are the real ones.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from am_lib import local_config as am_config

from sandbox import prometheus
from sandbox.util import apoll_until, free_port

ALERTS_DIR = Path(__file__).resolve().parents[2] / "alerts"
EXPORTER_JOB = "torghut-ta-exporter"
TOKEN = "alert-delivery-test-token"

pytestmark = pytest.mark.slow


class FakeExporter:
    """Serves a mutable set of samples in the Prometheus text format on a loopback port."""

    def __init__(self) -> None:
        self.samples: dict[str, float] = {}
        self.address = ""
        self._runner: web.AppRunner | None = None

    async def _metrics(self, _: web.Request) -> web.Response:
        body = "".join(f"{series} {value}\n" for series, value in self.samples.items())
        return web.Response(text=body, content_type="text/plain")

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        port = free_port()
        await web.TCPSite(self._runner, "127.0.0.1", port).start()
        self.address = f"127.0.0.1:{port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


@pytest.fixture
async def fake_exporter() -> AsyncIterator[FakeExporter]:
    exporter = FakeExporter()
    await exporter.start()
    try:
        yield exporter
    finally:
        await exporter.stop()


def fast_rules(tmp_path: Path) -> Path:
    """The rule file with every `for:` cut to 1 s."""
    src = next((ALERTS_DIR / "rules").glob("*.yml"))
    text, n = re.subn(r"(?m)^(\s+for: )\d+[smh]$", r"\g<1>1s", src.read_text(encoding="utf-8"))
    assert n > 0, "no `for:` found to shorten"
    dst = tmp_path / src.name
    dst.write_text(text, encoding="utf-8")
    return dst


def resolved(alertname: str) -> Callable[[prometheus.Delivery], bool]:
    def match(d: prometheus.Delivery) -> bool:
        return any(
            a.get("status") == "resolved" and a["labels"].get("alertname") == alertname
            for a in d.payload.get("alerts", [])
        )

    return match


def names(deliveries: list[prometheus.Delivery]) -> set[str]:
    return {a["labels"]["alertname"] for d in deliveries for a in d.payload["alerts"]}


async def test_procedure_alert_reaches_remediator_and_people_none_only_people(
    tmp_path: Path,
    fake_exporter: FakeExporter,
    alertmanager_factory: Callable[..., Any],
    prometheus_factory: Callable[..., Any],
) -> None:
    fake_exporter.samples = {
        'torghut_ta_clickhouse_replica_readonly{replica="chi-0",table="ta_signals"}': 1,
        # Keeper answers "No node": lost metadata, the case Procedure B restores
        'torghut_ta_clickhouse_replica_metadata_lost{replica="chi-0",table="ta_signals"}': 1,
        # another install's lag: in this install a read-only replica inhibits its lag alert
        # (alertmanager.yml), and this test is about routing, not inhibition
        'torghut_ta_kafka_consumer_lag_seconds{group="torghut-ta",topic="TA_TRADES",namespace="other"}': 900,
    }
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN)
    token_file.chmod(0o600)

    async with (
        prometheus.WebhookReceiver(bearer=TOKEN, path="/webhook/alertmanager") as remediator,
        prometheus.WebhookReceiver(path="/people") as people,
    ):
        config = am_config(remediator.url, people.url, token_file)
        am = await asyncio.to_thread(alertmanager_factory, config=config)
        prom = await asyncio.to_thread(
            prometheus_factory,
            scrape_targets=[(EXPORTER_JOB, fake_exporter.address)],
            rule_files=[fast_rules(tmp_path)],
            alertmanager_url=am.endpoints["alertmanager"],
        )
        await prometheus.wait_targets_up(prom.endpoints["prometheus"], [EXPORTER_JOB])

        got = await remediator.wait_for(prometheus.firing("TAClickHouseReplicaReadOnly"))
        assert got.authorization == f"Bearer {TOKEN}"
        (alert,) = [a for a in got.payload["alerts"] if a["status"] == "firing"]
        assert alert["labels"]["procedure"] == "B"
        assert alert["labels"]["remediation"] == "approval"
        assert alert["labels"]["replica"] == "chi-0"
        assert alert["annotations"]["runbook_url"].endswith("/TAClickHouseReplicaReadOnly.md")
        assert "read-only on replica chi-0" in alert["annotations"]["description"]

        # continue: true -> the pager still gets it; the lag alert (procedure none) only pages.
        await people.wait_for(prometheus.firing("TAClickHouseReplicaReadOnly"))
        await people.wait_for(prometheus.firing("TAKafkaConsumerLagHigh"))

        fake_exporter.samples[
            'torghut_ta_clickhouse_replica_readonly{replica="chi-0",table="ta_signals"}'
        ] = 0
        await remediator.wait_for(resolved("TAClickHouseReplicaReadOnly"))

        assert "TAKafkaConsumerLagHigh" not in names(remediator.deliveries)
        assert remediator.rejected == [], "Alertmanager sent a request without the bearer token"


async def test_exporter_down_in_market_hours_pauses_trading_from_prometheus_own_view(
    tmp_path: Path,
    fake_exporter: FakeExporter,
    alertmanager_factory: Callable[..., Any],
    prometheus_factory: Callable[..., Any],
) -> None:
    """The trading gate must act without the exporter: once its scrapes fail, the series go
    stale, and the market session and trading switch come from the last hour's samples."""
    import time

    probe = 'probe="clickhouse_freshness"'

    def fresh() -> None:
        now = time.time()
        fake_exporter.samples.update(
            {
                "torghut_ta_market_open": 1,
                "torghut_ta_trading_enabled": 1,
                f"torghut_ta_probe_success{{{probe}}}": 1,
                f"torghut_ta_probe_last_success_timestamp_seconds{{{probe}}}": now,
                'torghut_ta_table_last_event_timestamp_seconds{table="ta_signals"}': now - 5,
            }
        )

    async def keep_fresh() -> None:
        while True:
            fresh()
            await asyncio.sleep(0.5)  # a live exporter's values, not synchronisation

    fresh()
    refresher = asyncio.create_task(keep_fresh())
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN)
    token_file.chmod(0o600)
    try:
        async with (
            prometheus.WebhookReceiver(bearer=TOKEN, path="/webhook/alertmanager") as remediator,
            prometheus.WebhookReceiver(path="/people") as people,
        ):
            config = am_config(remediator.url, people.url, token_file)
            am = await asyncio.to_thread(alertmanager_factory, config=config)
            prom = await asyncio.to_thread(
                prometheus_factory,
                scrape_targets=[(EXPORTER_JOB, fake_exporter.address)],
                rule_files=[fast_rules(tmp_path)],
                alertmanager_url=am.endpoints["alertmanager"],
            )
            url = prom.endpoints["prometheus"]
            await prometheus.wait_targets_up(url, [EXPORTER_JOB])

            async def scraped_a_while() -> bool:
                got = await prometheus.query(url, "count_over_time(torghut_ta_trading_enabled[1m])")
                return bool(got) and float(got[0]["value"][1]) >= 5

            await apoll_until(scraped_a_while, timeout=60, what="5 scrapes with the exporter up")
            active = {a["labels"]["alertname"] for a in await prometheus.alerts(url)}
            assert not active & {"TATradingOnStaleSignals", "TASignalsUnknown"}, active
            seen_while_up = names(remediator.deliveries) | names(people.deliveries)

            refresher.cancel()
            await fake_exporter.stop()  # the exporter dies during market hours, trading on

            got = await remediator.wait_for(
                prometheus.firing("TATradingOnStaleSignals"), timeout=60
            )
            (alert,) = [
                a
                for a in got.payload["alerts"]
                if a["status"] == "firing" and a["labels"]["alertname"] == "TATradingOnStaleSignals"
            ]
            assert alert["labels"]["signals"] == "unknown"
            assert "no healthy scrape" in alert["annotations"]["description"]
            # People get the root cause; TASignalsUnknown, its follow-on in the same install,
            # fires in Prometheus but Alertmanager inhibits it (alertmanager.yml).
            await people.wait_for(prometheus.firing("TAExporterDown"), timeout=60)
            am_url = am.endpoints["alertmanager"]

            async def unknown_inhibited() -> bool:
                return any(
                    a["labels"]["alertname"] == "TASignalsUnknown" and a["status"]["inhibitedBy"]
                    for a in await prometheus.alertmanager_alerts(am_url)
                )

            await apoll_until(unknown_inhibited, timeout=60, what="TASignalsUnknown inhibited")
            assert "TATradingOnStaleSignals" not in seen_while_up
            assert "TASignalsUnknown" not in seen_while_up
    finally:
        refresher.cancel()
