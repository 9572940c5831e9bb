"""One incident, one page, on a real Alertmanager running the shipped config (the example with
the remediator snippet merged in): while root causes fire in install x, x's follow-on alerts are
inhibited (amtool shows them inhibited, no receiver gets them); the same follow-on in install y
reaches people; TATradingOnStaleSignals reaches people and the remediator whatever fires.

Only the notification timers are shortened; routes, grouping and inhibitions are the shipped ones.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from am_lib import local_config

from sandbox import prometheus
from sandbox.util import apoll_until

TOKEN = "inhibition-test-token"
Run = Callable[..., Any]
pytestmark = pytest.mark.slow


def _rule_labels(alert_rules: list[Any], name: str, **want: str) -> dict[str, str]:
    """The labels the real rule puts on `name` (the one whose labels include `want`)."""
    (rule,) = [r for r in alert_rules if r.name == name and want.items() <= r.labels.items()]
    return {"alertname": name, **rule.labels}


def _alert(labels: dict[str, str], namespace: str, **extra: str) -> dict[str, Any]:
    return {
        "labels": {**labels, "namespace": namespace, **extra},
        "annotations": {"summary": f"{labels['alertname']} in {namespace}"},
    }


def _by_install(deliveries: list[prometheus.Delivery]) -> dict[str, set[str]]:
    got: dict[str, set[str]] = {}
    for d in deliveries:
        for a in d.payload["alerts"]:
            if a["status"] == "firing":
                got.setdefault(a["labels"].get("namespace", ""), set()).add(
                    a["labels"]["alertname"]
                )
    return got


async def _post(am_url: str, alerts: list[dict[str, Any]]) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{am_url}/api/v2/alerts", json=alerts) as resp,
    ):
        assert resp.status == 200, await resp.text()


async def _amtool(run_tool: Run, url: str, *args: str) -> Any:
    result = await asyncio.to_thread(run_tool, "amtool", *args, f"--alertmanager.url={url}")
    assert result.returncode == 0, result.output
    return result


async def test_root_cause_inhibits_only_its_installs_follow_ons(
    tmp_path: Path,
    alert_rules: list[Any],
    run_tool: Run,
    alertmanager_factory: Callable[..., Any],
) -> None:
    disk = _rule_labels(alert_rules, "TAClickHouseDiskPressure", severity="critical")
    failed = _rule_labels(alert_rules, "TAFlinkJobFailed", procedure="A")
    readonly = _rule_labels(alert_rules, "TAClickHouseReplicaReadOnly", procedure="B")
    stale = _rule_labels(alert_rules, "TASignalsStale")
    lag = _rule_labels(alert_rules, "TAKafkaConsumerLagHigh")
    trading = _rule_labels(alert_rules, "TATradingOnStaleSignals", signals="stale")
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN)
    token_file.chmod(0o600)

    async with (
        prometheus.WebhookReceiver(bearer=TOKEN, path="/webhook/alertmanager") as remediator,
        prometheus.WebhookReceiver(path="/people") as people,
    ):
        config = local_config(remediator.url, people.url, token_file)
        am = await asyncio.to_thread(alertmanager_factory, config=config)
        url = am.endpoints["alertmanager"]

        # The root causes of install x, posted with amtool, one at a time.
        roots = [
            (disk, {"replica": "chi-0", "disk": "default"}),
            (failed, {"deployment": "torghut-ta"}),
            (readonly, {"replica": "chi-0", "table": "ta_signals"}),
        ]
        for labels, extra in roots:
            pairs = [f"{k}={v}" for k, v in {**labels, "namespace": "x", **extra}.items()]
            await _amtool(run_tool, url, "alert", "add", *pairs, "--annotation=summary=root")

        async def roots_active() -> bool:
            out = await _amtool(run_tool, url, "-o", "json", "alert", "query", "namespace=x")
            return len(json.loads(out.stdout)) == len(roots)

        await apoll_until(roots_active, timeout=60, what="the root causes active in Alertmanager")

        # The follow-ons of x and y, and the trading gate of x, in one post.
        await _post(
            url,
            [
                _alert(stale, "x", table="ta_signals"),
                _alert(lag, "x", group="torghut-ta", topic="TA_TRADES"),
                _alert(trading, "x"),
                _alert(stale, "y", table="ta_signals"),
            ],
        )

        async def inhibited() -> set[tuple[str, str]] | None:
            out = await _amtool(run_tool, url, "-o", "json", "alert", "query", "--inhibited")
            got = {
                (a["labels"]["alertname"], a["labels"]["namespace"])
                for a in json.loads(out.stdout)
                if a["status"]["inhibitedBy"]
            }
            return got or None

        assert await apoll_until(inhibited, timeout=60, what="inhibited alerts") == {
            ("TASignalsStale", "x"),
            ("TAKafkaConsumerLagHigh", "x"),
        }
        active = await _amtool(run_tool, url, "-o", "json", "alert", "query", "--active")
        assert ("TATradingOnStaleSignals", "x") in {
            (a["labels"]["alertname"], a["labels"]["namespace"]) for a in json.loads(active.stdout)
        }

        # x's group notification carrying the trading alert was flushed with x's follow-ons
        # already in the group: once it arrived, what it left out was left out by inhibition.
        await people.wait_for(prometheus.firing("TATradingOnStaleSignals"), timeout=60)
        await people.wait_for(prometheus.firing("TASignalsStale"), timeout=60)
        for name in ("TATradingOnStaleSignals", "TAClickHouseDiskPressure", "TAFlinkJobFailed",
                     "TAClickHouseReplicaReadOnly"):  # fmt: skip
            await remediator.wait_for(prometheus.firing(name), timeout=60)

        paged = _by_install(people.deliveries)
        assert paged["x"] == {
            "TAClickHouseDiskPressure",
            "TAFlinkJobFailed",
            "TAClickHouseReplicaReadOnly",
            "TATradingOnStaleSignals",
        }, paged
        assert paged["y"] == {"TASignalsStale"}, paged
        # one page per install: x's alerts travel in x's group, y's in y's
        for d in people.deliveries:
            assert d.payload["groupLabels"] in ({"namespace": "x"}, {"namespace": "y"}), d.payload
            installs = {a["labels"]["namespace"] for a in d.payload["alerts"]}
            assert installs == {d.payload["groupLabels"]["namespace"]}, d.payload
        remediated = _by_install(remediator.deliveries)
        assert remediated == {
            "x": {
                "TAClickHouseDiskPressure",
                "TAFlinkJobFailed",
                "TAClickHouseReplicaReadOnly",
                "TATradingOnStaleSignals",
            }
        }, remediated
        assert remediator.rejected == []
